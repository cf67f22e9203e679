"""The cnn assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/cnn/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative implementation), grades the result for real with
`grade_notebook(..., mode="submit")` and checks that

* a bug loses points on exactly the tests it should (every other test keeps full marks), and
  each of those tests' messages names the wrong quantity (e.g. "db (x (2, 3, 5, 5), ...): shape");
* a correct alternative scores full marks.

Every variant (and the baseline) is graded without the notebook's "check your layers" cell:
it only prints comparisons, defines nothing the tests use, and costs a second or two per
grading. One grading run per case, about 6 s each (importing torch and training the CNN in
the worker are most of it).

Also here, cheap: reference/cnn.py against PyTorch, and the notebooks against their generator.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
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
ASSIGNMENT = ROOT / "assignments" / "cnn"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"

pytestmark = pytest.mark.slow

CATALOGUE = catalogue("cnn")
CHECK_CELL_MARK = CATALOGUE.drop_marker  # the cell left out of every graded variant
BUGS, ALTERNATIVES = list(CATALOGUE.bugs), list(CATALOGUE.alternatives)


@pytest.fixture(scope="module")
def solution_result(tmp_path_factory):
    return grade_notebook(write_variant(SOLUTION, Case("solution", ()), tmp_path_factory.mktemp("solution"), CHECK_CELL_MARK), mode="submit",
                           files_from_notebook=True)


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.max_score == 35, describe(result)
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)
    assert {t.suite for t in result.tests} == {"public", "hidden", "model"}


def test_solution_weights_get_the_model_part(solution_result):
    """Section 6: the weights the solution's training cell saved, loaded into build_cnn() by the
    judge and scored on the held-out digits: full marks on the private part."""
    model = solution_result.extra["model"]
    assert model["source"] == "model.safetensors" and model["points"] == model["max_points"] == 4, model
    assert model["private"] >= 0.93 and 30_000 < model["parameters"] < 100_000, model
    assert model["proof"]["ok"] and len(model["proof"]["segments"]) == 2, model["proof"]  # its checkpoints replay
    assert all(d["ratio"] <= 0.005 for d in model["proof"]["segments"]), model["proof"]


def test_starter_gets_nothing_for_the_model_part(tmp_path):
    """The starter's train_step is a stub: its training cell fails, no weights are saved, and the
    model part scores 0 with the reason."""
    result = grade_notebook(write_variant(STARTER, Case("starter", ()), tmp_path, CHECK_CELL_MARK), mode="submit",
                            files_from_notebook=True)
    private = next(t for t in result.tests if t.name == "model_private_score")
    assert private.score == 0 and private.max_score == 4, describe(result)
    assert "no model files: hand in model.safetensors" in private.message, private.message


def test_solution_notebook_trains_quickly(solution_result):
    """The whole notebook (torch import and training included) well within the judge's limits."""
    check_within_limits(solution_result, "cnn")


@pytest.mark.parametrize("case", BUGS, ids=[c.id for c in BUGS])
def test_bug_is_caught(case: Case, tmp_path: Path, solution_result):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit",
                           files_from_notebook=True)
    check_bug(case, result, {t.name for t in solution_result.tests})


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c.id for c in ALTERNATIVES])
def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit",
                           files_from_notebook=True)
    check_alternative(case, result)


# --------------------------------------------------------------------------- cheap checks


def test_variant_edits_apply_once():
    """Every edit above still matches the solution exactly once (no grading)."""
    check_edits_apply(SOLUTION, BUGS + ALTERNATIVES, CHECK_CELL_MARK)


def _reference():
    spec = importlib.util.spec_from_file_location("cnn_reference", ROOT / "reference" / "cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stride,pad,kernel", [(1, 0, (3, 3)), (1, 2, (2, 3)), (2, 1, (3, 2)), (2, 0, (1, 1))])
def test_reference_conv_matches_torch(stride, pad, kernel):
    torch = pytest.importorskip("torch")
    ref = _reference()
    rng = np.random.default_rng(stride * 10 + pad)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, *kernel))
    b = rng.standard_normal(4)
    out, cache = ref.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    t_out.backward(torch.tensor(dout))
    for mine, theirs in [(out, t_out.detach()), (dx, tx.grad), (dw, tw.grad), (db, tb.grad)]:
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ph,pw,stride", [(2, 2, 2), (3, 2, 2), (3, 3, 1), (2, 3, 3)])
def test_reference_pool_matches_torch(ph, pw, stride):
    torch = pytest.importorskip("torch")
    ref = _reference()
    x = np.random.default_rng(ph * 100 + pw * 10 + stride).standard_normal((2, 3, 7, 8))
    out, cache = ref.max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx = ref.max_pool_backward_naive(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, (ph, pw), stride=stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
