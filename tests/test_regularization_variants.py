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
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives
# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=44))


def test_solution_notebook_runs_fast(solution_result):
    """The notebook trains its CNN well within the judge's limits."""
    check_within_limits(solution_result, "regularization")


def test_starter_scores_zero_with_readable_messages(variant_kit):
    result = SUITE.grade(SUITE.starter, variant_kit)
    assert result.score == 0, describe(result)
    for t in result.tests:
        assert t.status in ("failed", "error"), f"{t.name}: {t.status}"
        assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"
