"""The finetune assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/finetune/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative), grades the result for real (its public verdicts equal to its
kit's: notebook_variants.VariantSuite) and checks that a bug
loses points on exactly the tests it should, each message naming the wrong quantity, and that a
correct alternative scores full marks.

torchvision is not installed here, so `test_torchvision_resnet18` skips itself on the shipped
notebooks. Cases marked FAKE_TORCHVISION add a cell that registers a stand-in
`torchvision.models.resnet18` (a CompactResNet with 3 input channels and 512 features, the
torchvision layout) and, for those cases only, tell the judge that the sandbox holds
torchvision (`claim_torchvision`: the judge decides that from the sandbox's files, never from
the notebook), so that the test's real path runs here too.
"""

from __future__ import annotations

import importlib.util

import pytest
from notebook_variants import VariantSuite, check_within_limits, describe

pytestmark = pytest.mark.slow

SUITE = VariantSuite("finetune")
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives
TORCHVISION = SUITE.catalogue.module.TORCHVISION
FAKE_TORCHVISION = SUITE.catalogue.module.FAKE_TORCHVISION
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def _alternative_also(case, result) -> None:
    assert all(c.status == "ok" for c in result.cells), f"{case.id}\n{describe(result)}"
    if FAKE_TORCHVISION in case.edits:
        assert {t.name: t.status for t in result.tests}[TORCHVISION] == "passed", describe(result)


# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=37 if HAS_TORCHVISION else 36, suites=None,  # the model part: 10
                             fixtures=("claim_torchvision",),
                             check_alternative_also=_alternative_also))


def test_solution_runs_the_torchvision_test_when_it_can(solution_result):
    by_name = {t.name: t for t in solution_result.tests}
    assert by_name[TORCHVISION].status == ("passed" if HAS_TORCHVISION else "skipped"), describe(solution_result)


def test_solution_notebook_runs_fast(solution_result):
    """The notebook fine-tunes well within the judge's limits."""
    check_within_limits(solution_result, "finetune")


def test_starter_scores_zero_on_hidden_tests(variant_kit):
    result = SUITE.grade(SUITE.starter, variant_kit)
    for t in result.tests:
        if t.suite == "hidden" and t.name != TORCHVISION:
            assert t.score == 0 and t.status in ("failed", "error"), f"{t.name}: {t.status}"
            assert t.message and len(t.message) < 400, f"{t.name}: {t.message!r}"


@pytest.fixture
def claim_torchvision(request, monkeypatch):
    """For FAKE_TORCHVISION cases: the judge believes torchvision is installed in the sandbox."""
    case = request.node.callspec.params["case"]
    if FAKE_TORCHVISION in case.edits:
        from grader.sandbox.environment import SandboxEnvironment

        has = SandboxEnvironment.has
        monkeypatch.setattr(SandboxEnvironment, "has",
                            lambda self, module, hidden=(): module == "torchvision" or has(self, module, hidden))
