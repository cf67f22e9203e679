"""The regularization assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/regularization/solution.ipynb, applies one small edit (a
typical student mistake, or a correct alternative), grades the result for real and checks that
a bug loses points on exactly the tests it should, each message naming the wrong quantity, and
that a correct alternative scores full marks. One grading run per case (a few seconds each: the
notebook imports torch and trains its CNN).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_variants import (
    Case,
    catalogue,
    check_alternative,
    check_bug,
    check_edits_apply,
    check_within_limits,
    describe,
    write_variant,
)

from grader.judge.pipeline import grade_notebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ROOT / "assignments" / "regularization"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"

pytestmark = pytest.mark.slow

CATALOGUE = catalogue("regularization")
BUGS, ALTERNATIVES = list(CATALOGUE.bugs), list(CATALOGUE.alternatives)


@pytest.fixture(scope="module")
def solution_result():
    return grade_notebook(SOLUTION, mode="submit")


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.max_score == 44, describe(result)
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)
    assert {t.suite for t in result.tests} == {"public", "hidden"}


def test_solution_notebook_runs_fast(solution_result):
    """The notebook trains its CNN well within the judge's limits."""
    check_within_limits(solution_result, "regularization")


def test_starter_scores_zero_with_readable_messages():
    result = grade_notebook(STARTER, mode="submit")
    assert result.score == 0, describe(result)
    for t in result.tests:
        assert t.status in ("failed", "error"), f"{t.name}: {t.status}"
        assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"


@pytest.mark.parametrize("case", BUGS, ids=[c.id for c in BUGS])
def test_bug_is_caught(case: Case, tmp_path: Path, solution_result):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path), mode="submit")
    check_bug(case, result, {t.name for t in solution_result.tests})


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c.id for c in ALTERNATIVES])
def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path), mode="submit")
    check_alternative(case, result)


def test_variant_edits_apply_once():
    """Every edit above still matches the solution exactly once (cheap; no grading)."""
    check_edits_apply(SOLUTION, BUGS + ALTERNATIVES)
