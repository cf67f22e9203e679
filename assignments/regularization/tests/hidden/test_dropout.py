"""Hidden tests: inverted dropout, checked by its statistics (masks are never compared).

Two correct implementations draw different masks from the same seed (`rng.random(shape) >= p`
and `rng.random(shape) < 1 - p`), so the tests check what every correct mask satisfies:

* the number of kept units K among n is Binomial(n, 1 - p): the kept fraction K / n has
  standard deviation sqrt(p (1 - p) / n);
* kept units are scaled by exactly 1 / (1 - p), dropped ones are exactly 0;
* the mean of out = sum(x_i m_i) / n, m_i = Bernoulli(1 - p) / (1 - p), has expectation
  mean(x) and variance p / (1 - p) * sum(x_i**2) / n**2;
* backward uses the forward pass's mask; test mode is the identity.

Statistical checks allow Z = 6 standard deviations: a correct dropout fails one with
probability about 2e-9, and the inputs are seeded per test, so scores are reproducible.
Every call runs with `submission.refusing("torch")`: dropout is written in NumPy.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close, numeric_gradient
from grader.judge.remote import InPlace

Z = 6.0


def _forward(submission, x, p, mode, seed):
    x_in = InPlace(x)
    got = submission.refusing("torch").dropout_forward(x_in, {"p": p, "mode": mode, "seed": seed})
    assert isinstance(got, tuple) and len(got) == 2, (
        f"dropout_forward must return (out, cache), got {type(got).__name__}"
    )
    out = got[0]
    assert isinstance(out, np.ndarray) and out.shape == x.shape, (
        f"dropout_forward out ({mode} mode): expected an array of shape {x.shape}, got "
        + (f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
    )
    assert np.array_equal(x_in.after, x), "dropout_forward changed its input x in place; leave x as it is"
    return out, got[1]


def _backward(submission, dout, cache):
    dx = submission.refusing("torch").dropout_backward(dout.copy(), cache)
    assert isinstance(dx, np.ndarray) and dx.shape == dout.shape, (
        f"dropout_backward dx: expected an array of shape {dout.shape}, got "
        + (f"shape {dx.shape}" if isinstance(dx, np.ndarray) else type(dx).__name__)
    )
    return dx


def _positive(rng, shape, low=1.0, high=2.0):
    """Inputs never 0, so out == 0 means exactly "dropped"."""
    return rng.uniform(low, high, size=shape)


def _seed(rng):
    return int(rng.integers(0, 2**31))


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_dropout_kept_fraction(submission, rng):
    """In train mode, each unit is kept with probability 1 - p (p is the probability of dropping it)."""
    x = _positive(rng, (400, 500))
    n = x.size
    for p in (0.2, 0.7):
        out, _ = _forward(submission, x, p, "train", _seed(rng))
        kept = float(np.mean(out != 0))
        tol = Z * np.sqrt(p * (1 - p) / n)
        hint = ""
        if abs(kept - p) <= tol:
            hint = "; it looks like p was used as the probability of KEEPING a unit"
        assert abs(kept - (1 - p)) <= tol, (
            f"fraction of units kept in train mode with p = {p}: {kept:.4f}, expected 1 - p = "
            f"{1 - p:.2f} ± {tol:.4f} (p is the probability of DROPPING a unit){hint}"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_kept_scaling(submission, rng):
    """In train mode, kept units are scaled by 1 / (1 - p) (inverted dropout) and dropped units are 0."""
    p = 0.25
    x = _positive(rng, (200, 50))
    out, _ = _forward(submission, x, p, "train", _seed(rng))
    kept = out != 0
    assert kept.any(), f"train mode with p = {p}: every unit was dropped"
    ratio = out[kept] / x[kept]
    expected = 1.0 / (1.0 - p)
    bad = ~np.isclose(ratio, expected, rtol=1e-12, atol=0.0)
    assert not bad.any(), (
        f"kept units in train mode (p = {p}): out / x = {ratio[bad][0]:.4f}, expected "
        f"1 / (1 - p) = {expected:.4f} ({int(bad.sum())} of {ratio.size} kept units)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_mean_preserved(submission, rng):
    """In train mode the mean of the output matches the mean of the input (up to binomial noise)."""
    p = 0.6
    x = rng.uniform(0.5, 1.5, size=(500, 400))
    out, _ = _forward(submission, x, p, "train", _seed(rng))
    sd = np.sqrt(p / (1 - p) * np.sum(x**2)) / x.size
    got, want = float(out.mean()), float(x.mean())
    assert abs(got - want) <= Z * sd, (
        f"mean of out in train mode (p = {p}): {got:.4f}, expected the mean of x, {want:.4f} ± "
        f"{Z * sd:.4f} (inverted dropout keeps the expected value of every unit)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_test_mode_identity(submission, rng):
    """In test mode dropout returns x unchanged (no dropping, no scaling)."""
    x = rng.standard_normal((30, 20))
    for p in (0.3, 0.8):
        out, _ = _forward(submission, x, p, "test", _seed(rng))
        assert_close(out, x, rtol=0.0, atol=0.0,
                     name=f"test-mode out (p = {p}; inverted dropout is the identity at test time)")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_dropout_backward(submission, rng):
    """In train mode dx = dout * mask / (1 - p), with the same mask as the forward pass."""
    p = 0.35
    x = _positive(rng, (60, 70))
    dout = rng.standard_normal(x.shape)
    out, cache = _forward(submission, x, p, "train", _seed(rng))
    dx = _backward(submission, dout, cache)
    lost = (out != 0) & (dx == 0)
    assert not lost.any(), (
        f"train-mode dx is 0 for {int(lost.sum())} units that the forward pass kept: backward must "
        "use the forward pass's mask (keep it in the cache)"
    )
    assert_close(dx, dout * (out / x), rtol=1e-10, atol=1e-12,
                 name=f"train-mode dx (p = {p}; expected dout * mask / (1 - p), the forward pass's mask)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_backward_test_mode(submission, rng):
    """In test mode dx = dout."""
    x = rng.standard_normal((20, 10))
    dout = rng.standard_normal(x.shape)
    _, cache = _forward(submission, x, 0.4, "test", _seed(rng))
    dx = _backward(submission, dout, cache)
    assert_close(dx, dout, rtol=0.0, atol=0.0, name="test-mode dx (expected dout unchanged)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_seed(submission, rng):
    """The mask comes from np.random.default_rng(seed): same seed, same mask; another seed, another mask."""
    p = 0.5
    x = _positive(rng, (40, 50))
    seed = _seed(rng)
    a, _ = _forward(submission, x, p, "train", seed)
    b, _ = _forward(submission, x, p, "train", seed)
    assert np.array_equal(a, b), (
        f"train-mode out: two calls with seed = {seed} dropped different units; draw the mask from "
        "np.random.default_rng(dropout_param['seed'])"
    )
    c, _ = _forward(submission, x, p, "train", seed + 1)
    assert not np.array_equal(a != 0, c != 0), (
        f"train-mode out: seeds {seed} and {seed + 1} dropped exactly the same units; the mask must "
        "come from dropout_param['seed']"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_backward_numeric(submission, rng):
    """With a fixed seed, dropout_backward agrees with numeric gradients of your dropout_forward."""
    p = 0.3
    seed = _seed(rng)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal(x.shape)
    _, cache = _forward(submission, x, p, "train", seed)
    dx = _backward(submission, dout, cache)
    param = {"p": p, "mode": "train", "seed": seed}
    fwd = submission.refusing("torch").dropout_forward
    num = numeric_gradient(lambda v: fwd(v, dict(param))[0], x.copy(), dout)
    assert_close(dx, num, rtol=1e-6, atol=1e-8,
                 name="train-mode dx (vs numeric gradient of your dropout_forward with a fixed seed)")
