"""Public tests for `optim`: small fixed inputs, so you can see exactly what is expected.

The hidden tests run every update rule for many steps next to torch.optim on the same
parameters and gradients (the learning rate changing on the way, weight decay on and off)
and compare the parameters and the optimizer state after every step; they check the
mini-batches' order against the generator you are given, your training loop, and re-run
your learning-rate sweep with your sgd_momentum.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close

W = np.array([[1.0, -2.0], [0.5, 4.0]])
DW = np.array([[0.5, 1.0], [-2.0, 0.25]])


def _step(rule, w, dw, config):
    got = rule(w.copy(), dw.copy(), config)
    assert isinstance(got, tuple) and len(got) == 2, "an update rule must return (next_w, config)"
    return got


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_small(submission):
    """One SGD step with weight decay: w - lr * (dw + weight_decay * w)."""
    next_w, _ = _step(submission.sgd, W, DW, {"learning_rate": 0.1, "weight_decay": 0.5})
    assert_close(next_w, W - 0.1 * (DW + 0.5 * W), rtol=1e-12, atol=1e-12, name="sgd next_w")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_momentum_small(submission):
    """Two momentum steps on the same gradient: velocity dw, then 1.9 * dw (PyTorch's convention)."""
    w1, config = _step(submission.sgd_momentum, W, DW, {"learning_rate": 0.1, "momentum": 0.9})
    assert_close(config.get("velocity"), DW, rtol=1e-12, atol=1e-12,
                 name="config['velocity'] after step 1 (v = dw on the first step)")
    assert_close(w1, W - 0.1 * DW, rtol=1e-12, atol=1e-12, name="next_w after step 1")
    w2, config = _step(submission.sgd_momentum, w1, DW, config)
    assert_close(config.get("velocity"), 1.9 * DW, rtol=1e-12, atol=1e-12,
                 name="config['velocity'] after step 2 (0.9 * dw + dw)")
    assert_close(w2, w1 - 0.1 * 1.9 * DW, rtol=1e-12, atol=1e-12, name="next_w after step 2")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rmsprop_small(submission):
    """One RMSProp step: s = (1 - alpha) * dw**2, w - lr * dw / (sqrt(s) + eps)."""
    next_w, config = _step(submission.rmsprop, W, DW, {"learning_rate": 0.01, "alpha": 0.9})
    s = 0.1 * DW**2
    assert_close(config.get("square_avg"), s, rtol=1e-12, atol=1e-15, name="config['square_avg'] after step 1")
    assert_close(next_w, W - 0.01 * DW / (np.sqrt(s) + 1e-8), rtol=1e-12, atol=1e-12, name="rmsprop next_w")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_adam_small(submission):
    """Adam's first step (bias-corrected) moves every weight by about lr against the gradient's sign."""
    next_w, config = _step(submission.adam, W, DW, {"learning_rate": 0.1})
    assert_close(next_w - W, -0.1 * np.sign(DW), rtol=1e-6, atol=0, name="first adam step next_w - w")
    assert config.get("t") == 1, f"config['t'] after the first step: {config.get('t')!r}, expected 1"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_minibatches_small(submission):
    """Without a generator: 10 rows in batches of 4 are rows 0-3, 4-7 and the last partial batch 8-9."""
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    batches = list(submission.minibatches(X, y, 4))
    got = [np.asarray(b[1]).tolist() for b in batches]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], f"y of each batch: {got}, expected [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]"
    assert_close(batches[2][0], X[8:], rtol=0, atol=0, name="X of the last batch")
