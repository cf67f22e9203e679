"""The backprop assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/backprop/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative implementation), grades the result for real with
`grade submit` (its public verdicts equal to its kit's: notebook_variants.VariantSuite) and checks that

* a bug loses points on exactly the tests it should (every other test keeps full marks), and
  each of those tests' messages names the wrong quantity (e.g. "db");
* a correct alternative scores full marks.

One grading run per case (about 1.5 s each).
"""

from __future__ import annotations

import nbformat
import pytest
from notebook_variants import VariantSuite, check_within_limits, describe

from grader.authoring.assign import assign, strip_solutions

pytestmark = pytest.mark.slow

SUITE = VariantSuite("backprop")
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives
# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=45))


def test_solution_notebook_runs_fast(solution_result):
    """Well within the limits the judge enforces (not a speed figure: that is bench/'s)."""
    check_within_limits(solution_result, "backprop", fraction=0.1)


def test_starter_scores_zero_with_readable_messages(variant_kit):
    result = SUITE.grade(STARTER, variant_kit)
    assert result.score == 0, describe(result)
    for t in result.tests:
        assert t.status in ("failed", "error"), f"{t.name}: {t.status}"
        assert t.message and len(t.message) < 300, f"{t.name}: {t.message!r}"
        assert "NotImplementedError" in t.message or "is None" in t.message or "best_net" in t.message, (
            f"{t.name}: {t.message}"
        )


def test_starter_is_the_solution_with_solutions_stripped():
    """starter.ipynb = solution.ipynb with the line-based rules applied to code, written answers
    blanked (grade assign), outputs cleared."""
    solution = nbformat.read(str(SOLUTION), as_version=4)
    starter = nbformat.read(str(STARTER), as_version=4)
    assert solution.metadata["dlgrade"] == {"assignment": "backprop"}
    assert starter.metadata["dlgrade"] == {"assignment": "backprop"}
    assert [c.cell_type for c in starter.cells] == [c.cell_type for c in solution.cells]
    assigned = assign(solution)["cells"]
    for i, (sol, sta) in enumerate(zip(solution.cells, starter.cells)):
        expected = strip_solutions(sol.source) if sol.cell_type == "code" else assigned[i]["source"]
        assert sta.source == expected, f"starter cell {i} is not the stripped solution cell"
        if sta.cell_type == "code":
            assert not sta.outputs and sta.execution_count is None, f"starter cell {i} has outputs"
        assert "SOLUTION" not in sta.source, f"starter cell {i} still has a solution marker"


def test_strip_rules():
    src = "def f(x):\n    y = 1\n    # BEGIN SOLUTION\n    y = x\n    # END SOLUTION\n    return y\nA = 3  # SOLUTION"
    assert strip_solutions(src) == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError\n    return y\n"
        "A = None  # YOUR CODE HERE"
    )
    with pytest.raises(ValueError):
        strip_solutions("# BEGIN SOLUTION\nx = 1\n")
