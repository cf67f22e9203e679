"""Hidden tests: TwoLayerNet's parameters, scores, loss and gradients (with and without reg)."""

import numpy as np
import pytest

from grader.course.testing import as_float64, assert_close, numeric_gradient

RTOL, ATOL = 1e-7, 1e-12
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8
KEYS = ("W1", "b1", "W2", "b2")
REG = 0.7


def _case(reference, rng, n=6, d=5, h=7, c=4, reg=0.0, margin=1e-3):
    """Random params, data and labels; hidden pre-activations stay `margin` away from 0
    so that numeric gradients never straddle ReLU's kink."""
    while True:
        params = {
            "W1": 0.6 * rng.standard_normal((d, h)),
            "b1": 0.2 * rng.standard_normal(h),
            "W2": 0.6 * rng.standard_normal((h, c)),
            "b2": 0.2 * rng.standard_normal(c),
        }
        X = rng.standard_normal((n, d))
        if np.min(np.abs(X @ params["W1"] + params["b1"])) > margin:
            break
    y = rng.integers(0, c, size=n)
    ref = reference.TwoLayerNet(d, h, c, reg=reg)
    ref.params = {k: v.copy() for k, v in params.items()}
    return params, X, y, ref


def _student_net(submission, params, reg):
    d, h = params["W1"].shape
    c = params["W2"].shape[1]
    net = submission.TwoLayerNet(d, h, c, weight_scale=1e-2, reg=reg, seed=0)
    net.params = {k: v.copy() for k, v in params.items()}
    return net


def _loss_and_grads(net, X, y):
    got = net.loss(X.copy(), y.copy())
    assert isinstance(got, tuple) and len(got) == 2, (
        f"TwoLayerNet.loss(X, y) must return (loss, grads), got {type(got).__name__}"
    )
    loss, grads = got
    assert isinstance(grads, dict), f"grads must be a dict keyed like params, got {type(grads).__name__}"
    missing = [k for k in KEYS if k not in grads]
    assert not missing, f"grads is missing {', '.join(missing)}"
    return as_float64(loss, (), "loss"), grads


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_params_shapes(submission):
    """TwoLayerNet.params holds W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), all float64."""
    d, h, c = 11, 7, 3
    params = submission.TwoLayerNet(d, h, c, seed=0).params
    assert isinstance(params, dict), f"params must be a dict, got {type(params).__name__}"
    assert sorted(params) == sorted(KEYS), f"params keys: {sorted(params)}, expected {sorted(KEYS)}"
    for k, shape in zip(KEYS, [(d, h), (h,), (h, c), (c,)]):
        v = np.asarray(params[k])
        assert v.shape == shape, f"params['{k}']: shape {v.shape}, expected {shape}"
        assert v.dtype == np.float64, f"params['{k}']: dtype {v.dtype}, expected float64"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_init(submission, rng):
    """Weights are weight_scale * standard normal (seeded), biases are zero."""
    seed = int(rng.integers(0, 2**31))
    scale = float(rng.choice([0.01, 0.05, 0.3]))
    params = submission.TwoLayerNet(120, 80, 10, weight_scale=scale, seed=seed).params
    for k, tol in [("W1", 0.05), ("W2", 0.15)]:
        w = np.asarray(params[k])
        std, mean = float(w.std()), float(w.mean())
        assert abs(std / scale - 1) < tol, (
            f"params['{k}']: standard deviation {std:.4g}, expected weight_scale = {scale:g}"
        )
        assert abs(mean) < 5 * scale / np.sqrt(w.size), (
            f"params['{k}']: mean {mean:.4g}, expected about 0 (weights are zero-mean)"
        )
    for k in ("b1", "b2"):
        b = np.asarray(params[k])
        assert not np.any(b), f"params['{k}']: biases must start at 0, got max |b| = {np.abs(b).max():.4g}"
    again = submission.TwoLayerNet(120, 80, 10, weight_scale=scale, seed=seed).params
    for k in KEYS:
        assert np.array_equal(again[k], params[k]), (
            f"params['{k}']: two networks built with the same seed differ; draw the weights from "
            "np.random.default_rng(seed)"
        )
    default = np.asarray(submission.TwoLayerNet(100, 50, 10, seed=seed).params["W1"])
    assert abs(default.std() / 1e-3 - 1) < 0.1, (
        f"params['W1'] with the default weight_scale: standard deviation {default.std():.4g}, expected 1e-3"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_scores(submission, reference, rng):
    """TwoLayerNet.loss(X) with y=None returns the class scores (N, C)."""
    params, X, _, ref = _case(reference, rng)
    net = _student_net(submission, params, 0.0)
    scores = net.loss(X.copy())
    assert_close(scores, ref.loss(X), rtol=RTOL, atol=ATOL, name="scores")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_loss(submission, reference, rng):
    """TwoLayerNet.loss(X, y) returns the softmax loss (reg = 0)."""
    params, X, y, ref = _case(reference, rng)
    loss, _ = _loss_and_grads(_student_net(submission, params, 0.0), X, y)
    assert_close(loss, ref.loss(X, y)[0], rtol=RTOL, atol=ATOL, name="loss (reg = 0)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_loss_with_reg(submission, reference, rng):
    """The loss includes 0.5 * reg * (sum(W1**2) + sum(W2**2))."""
    params, X, y, ref = _case(reference, rng, reg=REG)
    loss, _ = _loss_and_grads(_student_net(submission, params, REG), X, y)
    assert_close(loss, ref.loss(X, y)[0], rtol=RTOL, atol=ATOL, name=f"loss (reg = {REG})")


def _check_grads(submission, reference, rng, reg):
    params, X, y, ref = _case(reference, rng, reg=reg)
    _, grads = _loss_and_grads(_student_net(submission, params, reg), X, y)
    _, ref_grads = ref.loss(X, y)
    for k in KEYS:
        assert_close(grads[k], ref_grads[k], rtol=RTOL, atol=ATOL, name=f"grads['{k}'] (reg = {reg})")


def _check_numeric(submission, reference, rng, reg):
    params, X, y, _ = _case(reference, rng, n=4, d=4, h=5, c=3, reg=reg)
    net = _student_net(submission, params, reg)
    _, grads = _loss_and_grads(net, X, y)
    for k in KEYS:

        def f(v, k=k):
            net.params = {**params, k: v}
            return net.loss(X, y)[0]

        num = numeric_gradient(f, params[k].copy())
        assert_close(
            grads[k], num, rtol=NUM_RTOL, atol=NUM_ATOL,
            name=f"grads['{k}'] (reg = {reg}, vs numeric gradient of your loss)",
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_grads(submission, reference, rng):
    """TwoLayerNet's gradients match the reference (reg = 0)."""
    _check_grads(submission, reference, rng, 0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_grads_with_reg(submission, reference, rng):
    """TwoLayerNet's gradients include reg * W for the weights (not the biases)."""
    _check_grads(submission, reference, rng, REG)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_grads_numeric(submission, reference, rng):
    """TwoLayerNet's gradients agree with numeric gradients of your own loss (reg = 0)."""
    _check_numeric(submission, reference, rng, 0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_two_layer_net_grads_numeric_with_reg(submission, reference, rng):
    """TwoLayerNet's gradients agree with numeric gradients of your own loss (reg > 0)."""
    _check_numeric(submission, reference, rng, REG)
