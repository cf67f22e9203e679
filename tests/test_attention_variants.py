"""The attention assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/attention/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative implementation), grades the result for real with
`grade_notebook(..., mode="submit")` and checks that a bug loses points on exactly the tests
it should, each message naming the wrong quantity, and that a correct alternative scores full
marks. Every variant (and the baseline) is graded without the notebook's check cell (it only
prints comparisons with PyTorch and costs a second per grading).
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
    describe,
    write_variant,
)

from grader.judge.pipeline import grade_notebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ROOT / "assignments" / "attention"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"

pytestmark = pytest.mark.slow

CATALOGUE = catalogue("attention")
CHECK_CELL_MARK = CATALOGUE.drop_marker  # the cell left out of every graded variant
BUGS, ALTERNATIVES = list(CATALOGUE.bugs), list(CATALOGUE.alternatives)
BUG_RUNS = CATALOGUE.module.BUG_RUNS
ALTERNATIVE_RUNS = CATALOGUE.module.ALTERNATIVE_RUNS


@pytest.fixture(scope="module")
def solution_result(tmp_path_factory):
    path = write_variant(SOLUTION, Case("solution", ()), tmp_path_factory.mktemp("solution"), CHECK_CELL_MARK)
    return grade_notebook(path, mode="submit", files_from_notebook=True)


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)


def test_starter_scores_zero_on_hidden_tests():
    result = grade_notebook(STARTER, mode="submit")
    for t in result.tests:
        if t.suite == "hidden":
            assert t.score == 0 and t.status in ("failed", "error"), f"{t.name}: {t.status}"
            assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"


@pytest.mark.parametrize("case", BUG_RUNS, ids=[c.id for c in BUG_RUNS])
def test_bug_is_caught(case: Case, tmp_path: Path, solution_result):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit", files_from_notebook=True)
    check_bug(case, result, {t.name for t in solution_result.tests})


@pytest.mark.parametrize("case", ALTERNATIVE_RUNS, ids=[c.id for c in ALTERNATIVE_RUNS])
def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit", files_from_notebook=True)
    check_alternative(case, result)
    assert all(c.status == "ok" for c in result.cells), f"{case.id}\n{describe(result)}"


def test_variant_edits_apply_once():
    check_edits_apply(SOLUTION, BUGS + ALTERNATIVES, CHECK_CELL_MARK)
