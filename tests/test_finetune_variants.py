"""The finetune assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/finetune/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative), grades the result for real and checks that a bug
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
ASSIGNMENT = ROOT / "assignments" / "finetune"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"

pytestmark = pytest.mark.slow

CATALOGUE = catalogue("finetune")
BUGS, ALTERNATIVES = list(CATALOGUE.bugs), list(CATALOGUE.alternatives)
TORCHVISION = CATALOGUE.module.TORCHVISION
FAKE_TORCHVISION = CATALOGUE.module.FAKE_TORCHVISION


@pytest.fixture(scope="module")
def solution_result():
    return grade_notebook(SOLUTION, mode="submit", files_from_notebook=True)


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)
    by_name = {t.name: t for t in result.tests}
    has_torchvision = importlib.util.find_spec("torchvision") is not None
    assert by_name[TORCHVISION].status == ("passed" if has_torchvision else "skipped"), describe(result)
    assert result.max_score == (37 if has_torchvision else 36), describe(result)  # the model part: 10


def test_solution_notebook_runs_fast(solution_result):
    """The notebook fine-tunes well within the judge's limits."""
    check_within_limits(solution_result, "finetune")


def test_starter_scores_zero_on_hidden_tests():
    result = grade_notebook(STARTER, mode="submit")
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


@pytest.mark.parametrize("case", BUGS, ids=[c.id for c in BUGS])
def test_bug_is_caught(case: Case, tmp_path: Path, solution_result, claim_torchvision):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path), mode="submit", files_from_notebook=True)
    check_bug(case, result, {t.name for t in solution_result.tests})


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c.id for c in ALTERNATIVES])
def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path, claim_torchvision):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path), mode="submit", files_from_notebook=True)
    check_alternative(case, result)
    assert all(c.status == "ok" for c in result.cells), f"{case.id}\n{describe(result)}"
    if FAKE_TORCHVISION in case.edits:
        assert {t.name: t.status for t in result.tests}[TORCHVISION] == "passed", describe(result)


def test_variant_edits_apply_once():
    check_edits_apply(SOLUTION, BUGS + ALTERNATIVES)
