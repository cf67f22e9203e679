"""The attention assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/attention/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative implementation), grades the result for real with
`grade submit` (its public verdicts equal to its kit's: notebook_variants.VariantSuite) and checks that a bug loses points on exactly the tests
it should, each message naming the wrong quantity, and that a correct alternative scores full
marks. Every variant (and the baseline) is graded without the notebook's check cell (it only
prints comparisons with PyTorch and costs a second per grading).
"""

from __future__ import annotations

import pytest
from notebook_variants import VariantSuite, describe

pytestmark = pytest.mark.slow

SUITE = VariantSuite("attention")


def _cells_ok(case, result) -> None:
    assert all(c.status == "ok" for c in result.cells), f"{case.id}\n{describe(result)}"


(variant_kit, solution_result, test_bug_is_caught, test_correct_alternative_scores_full_marks,
 test_variant_edits_apply_once) = SUITE.tests(check_alternative_also=_cells_ok)


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)


def test_starter_scores_zero_on_hidden_tests(variant_kit):
    result = SUITE.grade(SUITE.starter, variant_kit)
    for t in result.tests:
        if t.suite == "hidden":
            assert t.score == 0 and t.status in ("failed", "error"), f"{t.name}: {t.status}"
            assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"
