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
from notebook_variants import Case, check_bug, check_edits_apply, check_within_limits, describe, write_variant

from grader.judge.pipeline import grade_notebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ROOT / "assignments" / "cnn"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"
CHECK_CELL_MARK = "def numeric_gradient("  # the cell left out of every graded variant

pytestmark = pytest.mark.slow

ACCURACY = "test_cnn_model_accuracy"
TRAIN_DIGITS = "test_cnn_model_reads_training_digits"
FORWARD_TESTS = ("test_conv_forward_basic", "test_conv_forward_stride", "test_conv_forward_padding",
                 "test_conv_forward_non_square")
BACKWARD_TESTS = ("test_conv_backward_dx", "test_conv_backward_dw", "test_conv_backward_db",
                  "test_conv_backward_numeric")


PAD_SOLUTION = "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n"

BUGS = [
    Case(
        # Padding 2 * pad at the bottom and right instead of pad on every side, in both passes
        # (consistently, so the numeric gradient check still agrees with the student's forward).
        "conv_pad_on_one_side",
        (
            (PAD_SOLUTION + "    out = np.zeros",
             "    x_pad = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))\n    out = np.zeros"),
            (PAD_SOLUTION + "    dx_pad = np.zeros_like(x_pad)",
             "    x_pad = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))\n"
             "    dx_pad = np.zeros_like(x_pad)"),
            ("    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n", "    dx = dx_pad[:, :, :H, :W]\n"),
        ),
        {
            "test_conv_forward_basic": "out (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): max relative error",
            "test_conv_forward_padding": "out (x (1, 2, 5, 6), w (2, 2, 3, 3), stride 1, pad 1)",
            "test_conv_forward_non_square": "stride 2, pad 1",
            "test_conv_backward_dx": "dx (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1)",
            "test_conv_backward_dw": "dw (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1)",
            "test_conv_forward_small": "out (stride 2, pad 1)",
            "test_conv_backward_small": "dx",
        },
    ),
    Case(
        "conv_backward_ignores_stride",
        (
            ("                    rows = slice(i * stride, i * stride + HH)\n"
             "                    cols = slice(j * stride, j * stride + WW)\n",
             "                    rows = slice(i, i + HH)\n"
             "                    cols = slice(j, j + WW)\n"),
        ),
        {
            "test_conv_backward_dx": "dx (x (2, 2, 7, 8), w (3, 2, 3, 2), stride 2, pad 2)",
            "test_conv_backward_dw": "dw (x (2, 2, 7, 8), w (3, 2, 3, 2), stride 2, pad 2)",
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
        },
    ),
    Case(
        "conv_backward_dw_overwritten",
        (("                    dw[f] += dout[n, f, i, j]", "                    dw[f] = dout[n, f, i, j]"),),
        {
            "test_conv_backward_dw": "dw (x (2, 3, 5, 5)",
            "test_conv_backward_numeric": "dw (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
            "test_conv_backward_small": "dw",
        },
    ),
    Case(
        "conv_backward_db_not_summed",
        (("    db = np.sum(dout, axis=(0, 2, 3))\n", "    db = np.sum(dout, axis=0)\n"),),
        {
            "test_conv_backward_db": "db (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (4, 5, 5), expected (4,)",
            "test_conv_backward_numeric": "db (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient): shape",
            "test_conv_backward_small": "db: shape",
        },
    ),
    Case(
        # A true convolution flips the kernel; deep learning's (and PyTorch's) does not. The
        # backward pass is the unflipped one, so it matches PyTorch but not the student's forward.
        "conv_forward_flips_kernel",
        (("np.sum(patch * w[f]) + b[f]", "np.sum(patch * w[f, :, ::-1, ::-1]) + b[f]"),),
        {
            **{t: "out (x (" for t in FORWARD_TESTS},
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient)",
            "test_conv_forward_small": "out (stride 1, pad 0): max relative error",
        },
    ),
    Case(
        "conv_output_height_off_by_one",
        (("    H_out = 1 + (H + 2 * pad - HH) // stride\n    W_out", "    H_out = (H + 2 * pad - HH) // stride\n    W_out"),),
        {
            "test_conv_forward_basic": "out (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (2, 4, 4, 5), "
                                       "expected (2, 4, 5, 5)",
            "test_conv_forward_stride": "out (x (2, 2, 7, 7), w (3, 2, 3, 3), stride 2, pad 0): shape",
            "test_conv_forward_padding": "out (x (1, 2, 5, 6), w (2, 2, 3, 3), stride 1, pad 0): shape",
            "test_conv_forward_non_square": ": shape",
            "test_conv_forward_small": "out (stride 1, pad 0): shape (1, 1, 2, 3), expected (1, 1, 3, 3)",
        },
    ),
    Case(
        "conv_backward_dx_not_cropped",
        (("    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n", "    dx = dx_pad\n"),),
        {
            "test_conv_backward_dx": "dx (x (2, 3, 5, 5), w (4, 3, 3, 3), stride 1, pad 1): shape (2, 3, 7, 7), "
                                     "expected (2, 3, 5, 5)",
            "test_conv_backward_numeric": "dx (x (2, 2, 5, 6), w (3, 2, 3, 2), stride 2, pad 1, vs numeric gradient): shape",
            "test_conv_backward_small": "dx: shape",
        },
    ),
    Case(
        # By hand means every value comes from the worker without torch: the backward tests
        # build their caches there too, so a forward leaning on torch costs them as well.
        "conv_forward_calls_torch",
        (
            (
                "BLOCK:conv_forward_naive",
                """
                import torch
                import torch.nn.functional as F
                out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                               stride=stride, padding=pad).numpy()
                """,
            ),
        ),
        {t: "must be written without torch" for t in (*FORWARD_TESTS, *BACKWARD_TESTS)},
    ),
    Case(
        # Issue 18, finding 7: scipy.signal.correlate is a convolution, so cnn's by_hand_forbids
        # refuses scipy in every by-hand call (this forward is otherwise correct).
        "conv_forward_calls_scipy",
        (
            (
                "BLOCK:conv_forward_naive",
                """
                from scipy.signal import correlate
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                full = np.stack([correlate(x_pad, w[f][None], mode="valid", method="direct")[:, 0]
                                 for f in range(w.shape[0])], axis=1)
                out = full[:, :, ::stride, ::stride] + b[None, :, None, None]
                """,
            ),
        ),
        {t: "must be written without scipy" for t in (*FORWARD_TESTS, *BACKWARD_TESTS)},
    ),
    Case(
        "pool_forward_ignores_stride",
        (
            ("            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]\n",
             "            window = x[:, :, i * ph:i * ph + ph, j * pw:j * pw + pw]\n"),
        ),
        {
            "test_max_pool_forward_general": "pool out (x (2, 2, 7, 6), pool 3x2, stride 2): max relative error",
            "test_max_pool_backward_numeric": "pool dx (x (1, 2, 6, 7), pool 3x2, stride 2, vs numeric gradient)",
        },
        # The backward tests get their caches from this forward pass, which runs out of the
        # image with stride 1 and 3x3 windows (np.max of an empty window raises).
        frozenset({"test_max_pool_backward_overlapping"}),
    ),
    Case(
        "pool_backward_to_every_element",
        (
            ("                    di, dj = np.unravel_index(np.argmax(window), window.shape)\n"
             "                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]\n",
             "                    dx[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw] += dout[n, c, i, j]\n"),
        ),
        {
            "test_max_pool_backward": "pool dx (x (2, 3, 6, 6), pool 2x2, stride 2): max relative error",
            "test_max_pool_backward_overlapping": "pool dx (x (2, 2, 6, 6), pool 3x3, stride 1)",
            "test_max_pool_backward_numeric": "pool dx (x (1, 2, 6, 7), pool 3x2, stride 2, vs numeric gradient)",
            "test_max_pool_small": "pool dx",
        },
    ),
    Case(
        "pool_backward_overwrites_overlaps",
        (
            ("                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]\n",
             "                    dx[n, c, i * stride + di, j * stride + dj] = dout[n, c, i, j]\n"),
        ),
        {"test_max_pool_backward_overlapping": "pool dx (x (2, 2, 6, 6), pool 3x3, stride 1)"},
        # Whether an element is the maximum of two windows in the numeric test's one input
        # depends on the draw; with windows side by side this mistake is harmless.
        frozenset({"test_max_pool_backward_numeric"}),
    ),
    Case(
        "build_cnn_one_conv_layer",
        (
            (
                "BLOCK:build_cnn",
                """
                model = nn.Sequential(
                    nn.Conv2d(in_channels, 16, kernel_size=3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Flatten(),
                    nn.Linear(16 * 4 * 4, 64),
                    nn.ReLU(),
                    nn.Linear(64, num_classes),
                )
                """,
            ),
        ),
        {
            "test_build_cnn_has_two_conv_layers": "build_cnn(1, 10) has 1 Conv2d layer, at least 2 are required "
                                                  "(its modules: Sequential, Conv2d, ReLU, MaxPool2d, Flatten, Linear",
            "test_build_cnn_channels_and_classes": "build_cnn(1, 10) has 1 Conv2d layer",
            "test_cnn_model_has_two_conv_layers": "cnn_model has 1 Conv2d layer",
        },
        frozenset({ACCURACY}),
    ),
    Case(
        "predict_scores_without_eval",
        (("    model.eval()\n", ""),),
        {"test_predict_scores_in_eval_mode": "gave different scores twice on the same 64 digits"},
        frozenset({ACCURACY, TRAIN_DIGITS}),  # dropout stays on: a little noise in the scores
    ),
    Case(
        "predict_scores_returns_a_tensor",
        (("        scores = model(torch.from_numpy(X)).numpy()\n", "        scores = model(torch.from_numpy(X))\n"),),
        {
            "test_build_cnn_channels_and_classes": "must return a NumPy array, got Tensor (convert with .numpy())",
            "test_predict_scores_in_eval_mode": "must return a NumPy array, got Tensor",
            ACCURACY: "must return a NumPy array, got Tensor",
            "test_build_cnn_and_predict_scores": "must return a NumPy array (use .numpy()), got Tensor",
            TRAIN_DIGITS: "got Tensor",
        },
    ),
    Case(
        "training_one_epoch",
        (("batch_size, epochs = 64, 10\n", "batch_size, epochs = 64, 1\n"),),
        {ACCURACY: "cnn_model accuracy on held-out digits: 0."},
        frozenset({TRAIN_DIGITS}),
    ),
]

ALTERNATIVES = [
    Case(
        "vectorised_layers",  # im2col convolution, sliding-window pooling: no loops over positions
        (
            (
                "BLOCK:conv_forward_naive",
                """
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                H_out = 1 + (H + 2 * pad - HH) // stride
                W_out = 1 + (W + 2 * pad - WW) // stride
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                cols = np.empty((N, C, HH, WW, H_out, W_out))
                for di in range(HH):
                    for dj in range(WW):
                        cols[:, :, di, dj] = x_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride]
                cols = cols.reshape(N, C * HH * WW, H_out * W_out)
                out = (w.reshape(F, -1) @ cols).reshape(N, F, H_out, W_out) + b[None, :, None, None]
                """,
            ),
            (
                "BLOCK:conv_backward_naive",
                """
                N, C, H, W = x.shape
                F, _, HH, WW = w.shape
                _, _, H_out, W_out = dout.shape
                x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
                cols = np.empty((N, C, HH, WW, H_out, W_out))
                for di in range(HH):
                    for dj in range(WW):
                        cols[:, :, di, dj] = x_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride]
                cols = cols.reshape(N, C * HH * WW, H_out * W_out)
                d = dout.reshape(N, F, H_out * W_out)
                db = d.sum(axis=(0, 2))
                dw = np.einsum("nfp,nkp->fk", d, cols).reshape(w.shape)
                dcols = (w.reshape(F, -1).T @ d).reshape(N, C, HH, WW, H_out, W_out)
                dx_pad = np.zeros_like(x_pad)
                for di in range(HH):
                    for dj in range(WW):
                        dx_pad[:, :, di:di + stride * H_out:stride, dj:dj + stride * W_out:stride] += dcols[:, :, di, dj]
                dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
                """,
            ),
            (
                "BLOCK:max_pool_forward_naive",
                """
                windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
                out = windows[:, :, ::stride, ::stride].max(axis=(4, 5))
                """,
            ),
            (
                "BLOCK:max_pool_backward_naive",
                """
                N, C, H_out, W_out = dout.shape
                windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
                windows = windows[:, :, ::stride, ::stride][:, :, :H_out, :W_out]
                di, dj = np.unravel_index(windows.reshape(N, C, H_out, W_out, ph * pw).argmax(axis=-1), (ph, pw))
                n, c, i, j = np.indices((N, C, H_out, W_out))
                dx = np.zeros_like(x)
                np.add.at(dx, (n, c, i * stride + di, j * stride + dj), dout)
                """,
            ),
        ),
    ),
    Case(
        "module_subclass_with_batchnorm",  # an nn.Module class, BatchNorm, softmax scores
        (
            (
                "BLOCK:build_cnn",
                """
                class DigitNet(nn.Module):
                    def __init__(self, in_channels, num_classes):
                        super().__init__()
                        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
                        self.bn1 = nn.BatchNorm2d(16)
                        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
                        self.bn2 = nn.BatchNorm2d(32)
                        self.fc = nn.Linear(32 * 4 * 4, num_classes)

                    def forward(self, x):
                        x = torch.relu(self.bn1(self.conv1(x)))
                        x = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
                        return self.fc(x.flatten(1))

                model = DigitNet(in_channels, num_classes)
                """,
            ),
            (
                "BLOCK:predict_scores",
                """
                model.train(False)
                with torch.inference_mode():
                    scores = torch.softmax(model(torch.as_tensor(X)), dim=1).detach().cpu().numpy()
                """,
            ),
        ),
    ),
]

@pytest.fixture(scope="module")
def solution_result(tmp_path_factory):
    return grade_notebook(write_variant(SOLUTION, Case("solution", ()), tmp_path_factory.mktemp("solution"), CHECK_CELL_MARK), mode="submit")


def test_solution_scores_full_marks(solution_result):
    result = solution_result
    assert result.max_score == 31, describe(result)
    assert result.score == result.max_score, describe(result)
    assert all(c.status == "ok" for c in result.cells), describe(result)
    assert {t.suite for t in result.tests} == {"public", "hidden"}


def test_solution_notebook_trains_quickly(solution_result):
    """The whole notebook (torch import and training included) well within the judge's limits."""
    check_within_limits(solution_result, "cnn")


@pytest.mark.parametrize("case", BUGS, ids=[c.id for c in BUGS])
def test_bug_is_caught(case: Case, tmp_path: Path, solution_result):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit")
    check_bug(case, result, {t.name for t in solution_result.tests})


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c.id for c in ALTERNATIVES])
def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path):
    result = grade_notebook(write_variant(SOLUTION, case, tmp_path, CHECK_CELL_MARK), mode="submit")
    assert result.score == result.max_score, f"{case.id}\n{describe(result)}"


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
