"""Hidden tests: ReLU, sigmoid and tanh, against the reference, numeric gradients and extremes."""

import re

import numpy as np
import pytest

from grader.course.testing import assert_close, numeric_gradient

RTOL = 1e-7
ATOL = 1e-12  # sigmoid(-30) ~ 1e-13: below this, absolute error is what matters
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8
SHAPE = (4, 3, 5)


def _away_from_zero(rng, shape, margin=0.05):
    """Random inputs at least `margin` from 0, so a numeric gradient never straddles ReLU's kink."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def _forward_backward(submission, name, x, dout):
    out, cache = getattr(submission, f"{name}_forward")(x.copy())
    dx = getattr(submission, f"{name}_backward")(dout.copy(), cache)
    return out, dx


def _check_against_reference(submission, reference, rng, name, scale, which):
    x = scale * rng.standard_normal(SHAPE)
    dout = rng.standard_normal(SHAPE)
    out, dx = _forward_backward(submission, name, x, dout)
    ref_out, ref_cache = getattr(reference, f"{name}_forward")(x)
    ref_dx = getattr(reference, f"{name}_backward")(dout, ref_cache)
    if which == "out":
        assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name=f"{name} out")
    else:
        assert_close(dx, ref_dx, rtol=RTOL, atol=ATOL, name=f"{name} dx")


def _check_numeric(submission, rng, name, x):
    dout = rng.standard_normal(x.shape)
    _, dx = _forward_backward(submission, name, x, dout)
    fwd = getattr(submission, f"{name}_forward")
    num = numeric_gradient(lambda v: fwd(v)[0], x.copy(), dout)
    assert_close(dx, num, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"{name} dx (vs numeric gradient)")


# ----------------------------------------------------------------------------- ReLU


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_forward(submission, reference, rng):
    """relu_forward matches max(0, x) exactly."""
    _check_against_reference(submission, reference, rng, "relu", 1.0, "out")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_backward(submission, reference, rng):
    """relu_backward matches the reference away from x == 0."""
    _check_against_reference(submission, reference, rng, "relu", 1.0, "dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_backward_at_zero(submission, rng):
    """relu_backward passes no gradient where x is exactly 0 (the convention used here)."""
    x = rng.standard_normal(SHAPE)
    zero = rng.random(SHAPE) < 0.3
    x[zero] = 0.0
    dout = rng.standard_normal(SHAPE) + 3.0  # never 0, so a leak is visible
    _, dx = _forward_backward(submission, "relu", x, dout)
    dx = np.asarray(dx)
    assert dx.shape == SHAPE, f"relu dx: shape {dx.shape}, expected {SHAPE}"
    leaked = zero & (dx != 0)
    assert not leaked.any(), (
        f"relu dx at x == 0: expected 0 (gradient flows only where x > 0), got "
        f"{dx[leaked][0]:.4f} at {list(map(int, np.argwhere(leaked)[0]))} "
        f"({int(leaked.sum())} of {int(zero.sum())} zero inputs let gradient through)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_backward_numeric(submission, rng):
    """relu_backward agrees with numeric gradients of your own relu_forward."""
    _check_numeric(submission, rng, "relu", _away_from_zero(rng, SHAPE))


# ----------------------------------------------------------------------------- sigmoid


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_forward(submission, reference, rng):
    """sigmoid_forward matches the reference on inputs of moderate size."""
    _check_against_reference(submission, reference, rng, "sigmoid", 4.0, "out")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_backward(submission, reference, rng):
    """sigmoid_backward matches the reference."""
    _check_against_reference(submission, reference, rng, "sigmoid", 4.0, "dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_backward_numeric(submission, rng):
    """sigmoid_backward agrees with numeric gradients of your own sigmoid_forward."""
    _check_numeric(submission, rng, "sigmoid", 2.0 * rng.standard_normal(SHAPE))


EXTREMES = np.array(
    [[-1000.0, -750.0, -100.0, -40.0, -1.0, 0.0], [1.0, 40.0, 100.0, 750.0, 1000.0, -1e300]]
)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_extreme_inputs(submission, reference):
    """sigmoid is finite and correct for |x| up to 1000 and beyond, forward and backward."""
    dout = np.ones_like(EXTREMES)
    out, dx = _forward_backward(submission, "sigmoid", EXTREMES, dout)
    ref_out, ref_cache = reference.sigmoid_forward(EXTREMES)
    ref_dx = reference.sigmoid_backward(dout, ref_cache)
    assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name="sigmoid out at x = ±40 ... ±1000")
    assert_close(dx, ref_dx, rtol=RTOL, atol=ATOL, name="sigmoid dx at x = ±40 ... ±1000")


def _numpy_handle(submission):
    """The notebook's numpy module (`import numpy as np`), or None if it has none."""
    for name in ("np", "numpy"):
        try:
            return getattr(submission, name)
        except Exception as exc:
            if type(exc).__name__ != "MissingName":
                raise
    return None


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_no_overflow(submission):
    """sigmoid_forward never overflows (no 'overflow encountered in exp') for x = ±1000."""
    np_handle = _numpy_handle(submission)
    if np_handle is None:  # no numpy module under `np` or `numpy` to configure: nothing to check
        return
    old = np_handle.seterr(over="raise", invalid="raise", divide="raise")
    try:
        try:
            submission.sigmoid_forward(EXTREMES[:, :5].copy())
        except Exception as exc:  # the student's FloatingPointError, as the worker reports it
            found = re.search(r"FloatingPointError: [^()\n]*", f"{type(exc).__name__}: {exc}")
            if not found:
                raise
            raise AssertionError(
                f"sigmoid out: {found.group(0).strip()}, for x in [-1000, 1000] under "
                "np.seterr(over='raise'); never call np.exp on a large positive number"
            ) from None
    finally:
        np_handle.seterr(**old)


# ----------------------------------------------------------------------------- tanh


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_tanh_forward(submission, reference, rng):
    """tanh_forward matches the reference."""
    _check_against_reference(submission, reference, rng, "tanh", 2.0, "out")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_tanh_backward(submission, reference, rng):
    """tanh_backward matches the reference."""
    _check_against_reference(submission, reference, rng, "tanh", 2.0, "dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_tanh_backward_numeric(submission, rng):
    """tanh_backward agrees with numeric gradients of your own tanh_forward."""
    _check_numeric(submission, rng, "tanh", rng.standard_normal(SHAPE))
