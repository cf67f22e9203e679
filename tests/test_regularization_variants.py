"""The regularization assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/regularization/solution.ipynb, applies one small edit (a
typical student mistake, or a correct alternative), grades the result for real (its public verdicts equal to its
kit's: notebook_variants.VariantSuite) and checks that
a bug loses points on exactly the tests it should, each message naming the wrong quantity, and
that a correct alternative scores full marks. One grading run per case (a few seconds each: the
notebook imports torch and trains its CNN).
"""

from __future__ import annotations

import pytest
from notebook_variants import VariantSuite, check_within_limits, describe

pytestmark = pytest.mark.slow

SUITE = VariantSuite("regularization")
(variant_kit, solution_result, test_bug_is_caught, test_correct_alternative_scores_full_marks,
 test_variant_edits_apply_once) = SUITE.tests()


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.max_score == 44, describe(result)
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)
    assert {t.suite for t in result.tests} == {"public", "hidden"}


def test_solution_notebook_runs_fast(solution_result):
    """The notebook trains its CNN well within the judge's limits."""
    check_within_limits(solution_result, "regularization")


def test_starter_scores_zero_with_readable_messages(variant_kit):
    result = SUITE.grade(SUITE.starter, variant_kit)
    assert result.score == 0, describe(result)
    for t in result.tests:
        assert t.status in ("failed", "error"), f"{t.name}: {t.status}"
        assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"
