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
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives


def _cells_ok(case, result) -> None:
    assert all(c.status == "ok" for c in result.cells), f"{case.id}\n{describe(result)}"


# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=None, suites=None, check_alternative_also=_cells_ok))


def test_starter_scores_zero_on_hidden_tests(variant_kit):
    result = SUITE.grade(SUITE.starter, variant_kit)
    for t in result.tests:
        if t.suite == "hidden":
            assert t.score == 0 and t.status in ("failed", "error"), f"{t.name}: {t.status}"
            assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"
