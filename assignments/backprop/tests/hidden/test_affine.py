"""Hidden tests: the affine layer, against the reference and against numeric gradients."""

import numpy as np
import pytest

from grader.course.testing import assert_close, numeric_gradient

# Tolerances. Reference comparisons: both sides compute the same float64 expression, so
# only summation order differs (~1e-15); 1e-7 leaves room for loops or another order.
RTOL, ATOL = 1e-7, 1e-12
# Numeric gradients (central differences, h = 1e-5): round-off is ~1e-10 absolute.
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8


def _case(rng, x_shape=(4, 2, 3, 2), m=5):
    x = rng.standard_normal(x_shape)
    d = int(np.prod(x_shape[1:]))
    w = rng.standard_normal((d, m))
    b = rng.standard_normal(m)
    dout = rng.standard_normal((x_shape[0], m))
    return x, w, b, dout


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_forward(submission, reference, rng):
    """affine_forward matches the reference for 2-D and 4-D inputs."""
    for shape in [(3, 7), (4, 2, 3, 2)]:
        x, w, b, _ = _case(rng, shape)
        out, _ = submission.affine_forward(x.copy(), w.copy(), b.copy())
        ref, _ = reference.affine_forward(x, w, b)
        assert_close(out, ref, rtol=RTOL, atol=ATOL, name=f"out (x of shape {shape})")


def _backward(submission, reference, rng):
    x, w, b, dout = _case(rng)
    _, cache = submission.affine_forward(x.copy(), w.copy(), b.copy())
    got = submission.affine_backward(dout.copy(), cache)
    assert isinstance(got, tuple) and len(got) == 3, (
        f"affine_backward must return (dx, dw, db), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
    )
    _, ref_cache = reference.affine_forward(x, w, b)
    return got, reference.affine_backward(dout, ref_cache)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_backward_dx(submission, reference, rng):
    """affine_backward's dx matches the reference and keeps x's original shape (N, 2, 3, 2)."""
    (dx, _, _), (ref_dx, _, _) = _backward(submission, reference, rng)
    assert_close(dx, ref_dx, rtol=RTOL, atol=ATOL, name="dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_backward_dw(submission, reference, rng):
    """affine_backward's dw matches the reference."""
    (_, dw, _), (_, ref_dw, _) = _backward(submission, reference, rng)
    assert_close(dw, ref_dw, rtol=RTOL, atol=ATOL, name="dw")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_backward_db(submission, reference, rng):
    """affine_backward's db matches the reference."""
    (_, _, db), (_, _, ref_db) = _backward(submission, reference, rng)
    assert_close(db, ref_db, rtol=RTOL, atol=ATOL, name="db")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_backward_numeric(submission, rng):
    """affine_backward agrees with numeric gradients of your own affine_forward."""
    x, w, b, dout = _case(rng, (3, 2, 2), 4)
    _, cache = submission.affine_forward(x.copy(), w.copy(), b.copy())
    dx, dw, db = submission.affine_backward(dout.copy(), cache)
    num_dx = numeric_gradient(lambda v: submission.affine_forward(v, w, b)[0], x.copy(), dout)
    num_dw = numeric_gradient(lambda v: submission.affine_forward(x, v, b)[0], w.copy(), dout)
    num_db = numeric_gradient(lambda v: submission.affine_forward(x, w, v)[0], b.copy(), dout)
    assert_close(dx, num_dx, rtol=NUM_RTOL, atol=NUM_ATOL, name="dx (vs numeric gradient)")
    assert_close(dw, num_dw, rtol=NUM_RTOL, atol=NUM_ATOL, name="dw (vs numeric gradient)")
    assert_close(db, num_db, rtol=NUM_RTOL, atol=NUM_ATOL, name="db (vs numeric gradient)")
