"""Hidden tests: the convolution by hand, against torch.nn.functional.conv2d in float64.

Every call into the notebook goes through `submission.refusing("torch")` (the worker without
torch, nor scipy: assignment.toml's `by_hand_forbids`), so a conv_forward_naive that calls into
torch or scipy.signal fails its tests. By hand means every value a test uses comes from the judge
or from that worker: backward tests build their cache there too (a forward run with torch could
put torch's gradient into the cache), and the numeric test differentiates the forward run there.
The expected values come from PyTorch on the judge's side (autograd for the
gradients); the numeric test checks the backward pass against the student's own forward.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course.testing import assert_close, assert_depends, numeric_gradient

# Reference comparisons: both sides are float64 sums of the same products in another order.
RTOL, ATOL = 1e-7, 1e-10
# Numeric gradients (central differences, h = 1e-5).
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8


@dataclass(frozen=True)
class Conv:
    x: tuple[int, int, int, int]  # (N, C, H, W)
    w: tuple[int, int, int, int]  # (F, C, HH, WW)
    stride: int
    pad: int

    def __str__(self) -> str:
        return f"x {self.x}, w {self.w}, stride {self.stride}, pad {self.pad}"

    @property
    def param(self) -> dict:
        return {"stride": self.stride, "pad": self.pad}


# Every group mixes sizes where (H + 2 * pad - HH) is and is not a multiple of the stride.
BASIC = [Conv((2, 3, 5, 5), (4, 3, 3, 3), 1, 1)]
STRIDED = [Conv((2, 2, 7, 7), (3, 2, 3, 3), 2, 0), Conv((2, 2, 8, 8), (3, 2, 3, 3), 2, 0)]
PADDED = [Conv((1, 2, 5, 6), (2, 2, 3, 3), 1, p) for p in (0, 1, 2)] + [Conv((2, 2, 6, 5), (3, 2, 3, 3), 2, 2)]
NON_SQUARE = [
    Conv((2, 2, 6, 9), (3, 2, 2, 4), 2, 1),
    Conv((1, 3, 7, 5), (2, 3, 5, 3), 1, 2),
    Conv((2, 3, 4, 6), (5, 3, 1, 1), 1, 0),
]
BACKWARD = [
    Conv((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),
    Conv((2, 2, 7, 8), (3, 2, 3, 2), 2, 2),
    Conv((1, 2, 6, 5), (2, 2, 2, 3), 2, 0),
]
NUMERIC = Conv((2, 2, 5, 6), (3, 2, 3, 2), 2, 1)


def _data(rng, case: Conv):
    x = rng.standard_normal(case.x)
    w = rng.standard_normal(case.w)
    b = rng.standard_normal(case.w[0])
    return x, w, b


def _torch_conv(x, w, b, case: Conv, dout=None):
    """PyTorch's out (and, given dout, dx, dw, db by autograd), all float64 NumPy."""
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride=case.stride, padding=case.pad)
    if dout is None:
        return out.detach().numpy()
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def _check_forward(submission, rng, cases):
    strict = submission.refusing("torch")
    for case in cases:
        x, w, b = _data(rng, case)
        got = strict.conv_forward_naive(x.copy(), w.copy(), b.copy(), case.param)
        assert isinstance(got, tuple) and len(got) == 2, (
            f"conv_forward_naive must return (out, cache), got {type(got).__name__}"
        )
        assert_close(got[0], _torch_conv(x, w, b, case), rtol=RTOL, atol=ATOL, name=f"out ({case})")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_forward_basic(submission, rng):
    """conv_forward_naive matches PyTorch's conv2d: 3x3 filters, stride 1, pad 1."""
    _check_forward(submission, rng, BASIC)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_forward_stride(submission, rng):
    """conv_forward_naive with stride 2, including sizes where the last row and column are left over."""
    _check_forward(submission, rng, STRIDED)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_forward_padding(submission, rng):
    """conv_forward_naive with zero padding 0, 1 and 2 on every side."""
    _check_forward(submission, rng, PADDED)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_forward_non_square(submission, rng):
    """conv_forward_naive with non-square kernels and images, and 1x1 filters."""
    _check_forward(submission, rng, NON_SQUARE)


def _check_backward(submission, rng, which):
    strict = submission.refusing("torch")
    for case in BACKWARD:
        x, w, b = _data(rng, case)
        expected_out = _torch_conv(x, w, b, case)
        dout = rng.standard_normal(expected_out.shape)
        _, ref_dx, ref_dw, ref_db = _torch_conv(x, w, b, case, dout)
        _, cache = strict.conv_forward_naive(x.copy(), w.copy(), b.copy(), case.param)
        got = strict.conv_backward_naive(dout.copy(), cache)
        assert isinstance(got, tuple) and len(got) == 3, (
            f"conv_backward_naive must return (dx, dw, db), got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        )
        expected = {"dx": ref_dx, "dw": ref_dw, "db": ref_db}[which]
        actual = got[("dx", "dw", "db").index(which)]
        assert_close(actual, expected, rtol=RTOL, atol=ATOL, name=f"{which} ({case})")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_backward_dx(submission, rng):
    """conv_backward_naive's dx matches PyTorch's autograd (x's shape: the padding cropped off)."""
    _check_backward(submission, rng, "dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_backward_dw(submission, rng):
    """conv_backward_naive's dw matches PyTorch's autograd."""
    _check_backward(submission, rng, "dw")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_backward_db(submission, rng):
    """conv_backward_naive's db, dout summed over examples and positions, matches PyTorch."""
    _check_backward(submission, rng, "db")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_conv_backward_numeric(submission, rng):
    """conv_backward_naive agrees with numeric gradients of your own conv_forward_naive (stride 2, pad 1)."""
    case = NUMERIC
    x, w, b = _data(rng, case)
    strict = submission.refusing("torch")
    out, cache = strict.conv_forward_naive(x.copy(), w.copy(), b.copy(), case.param)
    dout = rng.standard_normal(np.shape(out))
    dx, dw, db = strict.conv_backward_naive(dout.copy(), cache)
    forward = strict.conv_forward_naive
    num_dx = numeric_gradient(lambda v: forward(v, w, b, case.param)[0], x.copy(), dout)
    num_dw = numeric_gradient(lambda v: forward(x, v, b, case.param)[0], w.copy(), dout)
    num_db = numeric_gradient(lambda v: forward(x, w, v, case.param)[0], b.copy(), dout)
    for name, num in (("dx", num_dx), ("dw", num_dw), ("db", num_db)):
        assert_depends(num, f"{name} ({case}, numeric gradient of your forward)")
    assert_close(dx, num_dx, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"dx ({case}, vs numeric gradient)")
    assert_close(dw, num_dw, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"dw ({case}, vs numeric gradient)")
    assert_close(db, num_db, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"db ({case}, vs numeric gradient)")
