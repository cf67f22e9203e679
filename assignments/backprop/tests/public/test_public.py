"""Public tests for `backprop`: small fixed inputs, so you can see exactly what is expected.

The hidden tests check the same functions on fresh random inputs, against numeric
gradients, and for numerical stability.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close

X3 = np.array(
    [
        [[1.0, 2.0], [3.0, 4.0]],
        [[-1.0, 0.0], [0.5, -2.0]],
    ]
)  # (N=2, 2, 2): rows flatten to length D=4
W = np.array(
    [
        [0.1, -0.2, 0.3],
        [0.0, 0.5, -0.1],
        [-0.3, 0.2, 0.2],
        [0.4, 0.1, -0.5],
    ]
)  # (D=4, M=3)
B = np.array([0.5, -1.0, 0.25])  # (M=3,)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_forward_small(submission):
    """affine_forward flattens each row of x and computes x_flat @ w + b."""
    out, _ = submission.affine_forward(X3.copy(), W.copy(), B.copy())
    expected = np.array([[1.3, 0.8, -1.05], [-0.55, -0.9, 1.05]])
    assert_close(out, expected, rtol=1e-12, atol=1e-12, name="out")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_affine_backward_small(submission):
    """affine_backward returns dx in x's original shape (2, 2, 2), dw (4, 3), db (3,)."""
    dout = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
    _, cache = submission.affine_forward(X3.copy(), W.copy(), B.copy())
    dx, dw, db = submission.affine_backward(dout.copy(), cache)
    expected_dx = np.array([[[0.45, -0.55], [-0.4, 0.05]], [[-0.7, 1.1], [0.2, 0.7]]])
    expected_dw = np.array([[1.0, -3.0, 1.5], [2.0, -2.0, 1.0], [3.0, -2.0, 1.0], [4.0, -8.0, 4.0]])
    assert_close(dx, expected_dx, rtol=1e-12, atol=1e-12, name="dx")
    assert_close(dw, expected_dw, rtol=1e-12, atol=1e-12, name="dw")
    assert_close(db, np.array([1.0, 1.0, -0.5]), rtol=1e-12, atol=1e-12, name="db")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_small(submission):
    """ReLU forward is max(0, x); backward passes dout only where x > 0 (0 at x == 0)."""
    x = np.array([[-2.0, -0.5, 0.0], [0.5, 2.0, -0.0]])
    out, cache = submission.relu_forward(x.copy())
    assert_close(out, np.array([[0.0, 0.0, 0.0], [0.5, 2.0, 0.0]]), rtol=0, atol=0, name="relu out")
    dout = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    dx = submission.relu_backward(dout, cache)
    assert_close(dx, np.array([[0.0, 0.0, 0.0], [4.0, 5.0, 0.0]]), rtol=0, atol=0, name="relu dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sigmoid_tanh_small(submission):
    """sigmoid(0) = 0.5 with slope 0.25; tanh(0) = 0 with slope 1."""
    x = np.array([-1.0, 0.0, 2.0])
    s, s_cache = submission.sigmoid_forward(x.copy())
    assert_close(s, 1.0 / (1.0 + np.exp(-x)), rtol=1e-12, atol=1e-15, name="sigmoid out")
    ds = submission.sigmoid_backward(np.ones(3), s_cache)
    sig = 1.0 / (1.0 + np.exp(-x))
    assert_close(ds, sig * (1.0 - sig), rtol=1e-12, atol=1e-15, name="sigmoid dx")
    t, t_cache = submission.tanh_forward(x.copy())
    assert_close(t, np.tanh(x), rtol=1e-12, atol=1e-15, name="tanh out")
    dt = submission.tanh_backward(np.ones(3), t_cache)
    assert_close(dt, 1.0 - np.tanh(x) ** 2, rtol=1e-12, atol=1e-15, name="tanh dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_loss_small(submission):
    """All-zero scores give probabilities 1/C, so the mean loss is log(C) and dscores = (1/C - onehot) / N."""
    scores = np.zeros((3, 4))
    y = np.array([0, 3, 1])
    loss, dscores = submission.softmax_loss(scores.copy(), y)
    assert_close(loss, np.log(4.0), rtol=1e-12, atol=1e-12, name="loss")
    expected = np.full((3, 4), 0.25)
    expected[np.arange(3), y] -= 1.0
    expected /= 3
    assert_close(dscores, expected, rtol=1e-12, atol=1e-12, name="dscores")
