"""Hidden tests: max-pooling by hand, against torch.nn.functional.max_pool2d in float64.

As for the convolution, every call into the notebook goes through `submission.refusing("torch")`
(caches and the forward the numeric test differentiates included); the expected gradients come from PyTorch's autograd. Inputs are standard normal, so no window
has a tie (where "the" maximum would be ambiguous).
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course.testing import assert_close, numeric_gradient

RTOL, ATOL = 1e-12, 1e-12  # max-pooling copies numbers; gradients add a few of them
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8


@dataclass(frozen=True)
class Pool:
    x: tuple[int, int, int, int]  # (N, C, H, W)
    height: int
    width: int
    stride: int

    def __str__(self) -> str:
        return f"x {self.x}, pool {self.height}x{self.width}, stride {self.stride}"

    @property
    def param(self) -> dict:
        return {"pool_height": self.height, "pool_width": self.width, "stride": self.stride}


SQUARE = [Pool((2, 3, 8, 8), 2, 2, 2), Pool((2, 3, 7, 7), 2, 2, 2)]
GENERAL = [Pool((2, 2, 7, 6), 3, 2, 2), Pool((1, 2, 8, 9), 2, 3, 3), Pool((2, 2, 5, 6), 3, 3, 1)]
DISJOINT = [Pool((2, 3, 6, 6), 2, 2, 2), Pool((2, 2, 7, 9), 2, 3, 3)]
OVERLAPPING = [Pool((2, 2, 6, 6), 3, 3, 1), Pool((2, 2, 7, 8), 3, 2, 2), Pool((1, 3, 6, 7), 2, 2, 1)]
NUMERIC = Pool((1, 2, 6, 7), 3, 2, 2)


def _torch_pool(x, case: Pool, dout=None):
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = F.max_pool2d(tx, kernel_size=(case.height, case.width), stride=case.stride)
    if dout is None:
        return out.detach().numpy()
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), tx.grad.numpy()


def _check_forward(submission, rng, cases):
    strict = submission.refusing("torch")
    for case in cases:
        x = rng.standard_normal(case.x)
        got = strict.max_pool_forward_naive(x.copy(), case.param)
        assert isinstance(got, tuple) and len(got) == 2, (
            f"max_pool_forward_naive must return (out, cache), got {type(got).__name__}"
        )
        assert_close(got[0], _torch_pool(x, case), rtol=RTOL, atol=ATOL, name=f"pool out ({case})")


def _check_backward(submission, rng, cases):
    strict = submission.refusing("torch")
    for case in cases:
        x = rng.standard_normal(case.x)
        expected_out = _torch_pool(x, case)
        dout = rng.standard_normal(expected_out.shape)
        _, expected_dx = _torch_pool(x, case, dout)
        _, cache = strict.max_pool_forward_naive(x.copy(), case.param)
        dx = strict.max_pool_backward_naive(dout.copy(), cache)
        assert_close(dx, expected_dx, rtol=RTOL, atol=ATOL, name=f"pool dx ({case})")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_forward(submission, rng):
    """max_pool_forward_naive matches PyTorch's max_pool2d for 2x2 windows with stride 2 (odd sizes too)."""
    _check_forward(submission, rng, SQUARE)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_forward_general(submission, rng):
    """max_pool_forward_naive with non-square windows, strides other than the window size, overlap."""
    _check_forward(submission, rng, GENERAL)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_backward(submission, rng):
    """max_pool_backward_naive sends each window's gradient to its maximum (windows side by side)."""
    _check_backward(submission, rng, DISJOINT)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_backward_overlapping(submission, rng):
    """max_pool_backward_naive adds up the gradients of overlapping windows (stride < window)."""
    _check_backward(submission, rng, OVERLAPPING)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_backward_numeric(submission, rng):
    """max_pool_backward_naive agrees with numeric gradients of your own max_pool_forward_naive."""
    case = NUMERIC
    size = int(np.prod(case.x))
    # distinct values at least 1/size apart: a perturbation of h = 1e-5 never changes a maximum
    x = (rng.permutation(size) / size - 0.5).reshape(case.x)
    strict = submission.refusing("torch")
    out, cache = strict.max_pool_forward_naive(x.copy(), case.param)
    dout = rng.standard_normal(np.shape(out))
    dx = strict.max_pool_backward_naive(dout.copy(), cache)
    forward = strict.max_pool_forward_naive
    num_dx = numeric_gradient(lambda v: forward(v, case.param)[0], x.copy(), dout)
    assert_close(dx, num_dx, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"pool dx ({case}, vs numeric gradient)")
