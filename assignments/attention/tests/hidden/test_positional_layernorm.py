"""Hidden tests: sinusoidal positional encoding, and layer norm against torch.nn.functional.layer_norm.

The positional encoding is compared with the reference (the formula, element by element);
layer norm's forward with F.layer_norm and its backward with autograd, in float64, and with
numeric gradients of the student's own forward.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course.testing import assert_close, numeric_gradient

RTOL, ATOL = 1e-7, 1e-10
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8
EPS = 1e-5


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_positional_encoding(submission, reference):
    """positional_encoding(L, d) matches PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same)."""
    strict = submission.refusing("torch")
    for L, d in [(1, 2), (9, 48), (50, 16), (7, 6)]:
        got = strict.positional_encoding(L, d)
        assert_close(got, reference.positional_encoding(L, d), rtol=RTOL, atol=ATOL,
                     name=f"positional_encoding({L}, {d})")


def _ln_data(rng, shape):
    x = 3.0 * rng.standard_normal(shape) + 1.5
    D = shape[-1]
    return x, rng.standard_normal(D), rng.standard_normal(D)


SHAPES = [(4, 10), (2, 3, 8), (5, 1)]


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_layer_norm_forward(submission, rng):
    """layer_norm_forward matches F.layer_norm over the last axis (eps 1e-5), for 2-d and 3-d inputs."""
    strict = submission.refusing("torch")
    for shape in SHAPES:
        x, gamma, beta = _ln_data(rng, shape)
        got = strict.layer_norm_forward(x.copy(), gamma.copy(), beta.copy(), EPS)
        assert isinstance(got, tuple) and len(got) == 2, (
            f"layer_norm_forward must return (out, cache), got {type(got).__name__}"
        )
        expected = F.layer_norm(torch.tensor(x), (shape[-1],), torch.tensor(gamma), torch.tensor(beta), eps=EPS)
        assert_close(got[0], expected.numpy(), rtol=RTOL, atol=ATOL, name=f"layer norm out (x {shape})")


def _check_backward(submission, rng, which):
    strict = submission.refusing("torch")
    for shape in SHAPES[:2]:
        x, gamma, beta = _ln_data(rng, shape)
        tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
        out = F.layer_norm(tx, (shape[-1],), tg, tb, eps=EPS)
        dout = rng.standard_normal(shape)
        out.backward(torch.tensor(dout))
        _, cache = strict.layer_norm_forward(x.copy(), gamma.copy(), beta.copy(), EPS)
        got = strict.layer_norm_backward(dout.copy(), cache)
        assert isinstance(got, tuple) and len(got) == 3, (
            f"layer_norm_backward must return (dx, dgamma, dbeta), got {type(got).__name__}"
        )
        expected = {"dx": tx.grad, "dgamma": tg.grad, "dbeta": tb.grad}[which].numpy()
        assert_close(got[("dx", "dgamma", "dbeta").index(which)], expected, rtol=RTOL, atol=ATOL,
                     name=f"layer norm {which} (x {shape})")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_layer_norm_backward_dx(submission, rng):
    """layer_norm_backward's dx matches PyTorch's autograd."""
    _check_backward(submission, rng, "dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_layer_norm_backward_dgamma_dbeta(submission, rng):
    """layer_norm_backward's dgamma and dbeta, summed over every axis but the last, match PyTorch."""
    _check_backward(submission, rng, "dgamma")
    _check_backward(submission, rng, "dbeta")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_layer_norm_backward_numeric(submission, rng):
    """layer_norm_backward agrees with numeric gradients of your own layer_norm_forward."""
    x, gamma, beta = _ln_data(rng, (3, 5))
    strict = submission.refusing("torch")
    out, cache = strict.layer_norm_forward(x.copy(), gamma.copy(), beta.copy(), EPS)
    dout = rng.standard_normal(np.shape(out))
    dx, dgamma, dbeta = strict.layer_norm_backward(dout.copy(), cache)
    forward = strict.layer_norm_forward
    assert_close(dx, numeric_gradient(lambda v: forward(v, gamma, beta, EPS)[0], x.copy(), dout),
                 rtol=NUM_RTOL, atol=NUM_ATOL, name="layer norm dx (x (3, 5), vs numeric gradient)")
    assert_close(dgamma, numeric_gradient(lambda v: forward(x, v, beta, EPS)[0], gamma.copy(), dout),
                 rtol=NUM_RTOL, atol=NUM_ATOL, name="layer norm dgamma (x (3, 5), vs numeric gradient)")
    assert_close(dbeta, numeric_gradient(lambda v: forward(x, gamma, v, EPS)[0], beta.copy(), dout),
                 rtol=NUM_RTOL, atol=NUM_ATOL, name="layer norm dbeta (x (3, 5), vs numeric gradient)")
