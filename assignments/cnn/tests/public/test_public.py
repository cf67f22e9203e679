"""Public tests for `cnn`: small fixed inputs, so you can see exactly what is expected.

The hidden tests check the same functions on fresh random inputs against PyTorch
(strides 1 and 2, padding 0 to 2, non-square kernels, pooling windows that overlap), check
your gradients numerically, call the by-hand layers with torch refused, inspect your
network and measure `cnn_model` on held-out digits.
"""

import numpy as np
import pytest

from grader.course import datasets
from grader.course.testing import assert_close
from grader.judge.remote import type_name

X4 = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)  # x[0, 0, i, j] = 4 * i + j


def _torch_conv_grads(x, w, b, dout, *, stride, pad):
    """dx and dw of sum(conv2d(x, w, b) * dout), by PyTorch's autograd (float64): the oracle."""
    import torch

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    out = torch.nn.functional.conv2d(tx, tw, torch.tensor(b), stride=stride, padding=pad)
    (out * torch.tensor(dout)).sum().backward()
    return tx.grad.numpy(), tw.grad.numpy()


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_forward_small(submission):
    """A 2x2 filter [[1, 0], [0, -1]] on a 4x4 ramp gives x[i, j] - x[i+1, j+1] + b = -4.5 everywhere."""
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # (F=1, C=1, 2, 2)
    b = np.array([0.5])
    out, _ = submission.conv_forward_naive(X4.copy(), w.copy(), b.copy(), {"stride": 1, "pad": 0})
    assert_close(out, np.full((1, 1, 3, 3), -4.5), rtol=1e-12, atol=1e-12, name="out (stride 1, pad 0)")
    # pad 1, stride 2: H' = 1 + (4 + 2 - 2) // 2 = 3
    param = {"stride": 2, "pad": 1}
    out, _ = submission.conv_forward_naive(X4.copy(), w.copy(), b.copy(), dict(param))
    expected = np.array([[[[0.5, -1.5, 0.5], [-7.5, -4.5, 7.5], [0.5, 13.5, 15.5]]]])
    assert_close(out, expected, rtol=1e-12, atol=1e-12, name="out (stride 2, pad 1)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_conv_backward_small(submission):
    """conv_backward_naive returns dx (1, 2, 4, 4), dw (2, 2, 3, 3) and db (2,) = dout summed over n, i, j."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((2, 2, 3, 3))
    b = np.array([0.1, -0.2])
    param = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((1, 2, 4, 4))
    _, cache = submission.conv_forward_naive(x.copy(), w.copy(), b.copy(), dict(param))
    dx, dw, db = submission.conv_backward_naive(dout.copy(), cache)
    ref_dx, ref_dw = _torch_conv_grads(x, w, b, dout, stride=1, pad=1)
    assert_close(dx, ref_dx, rtol=1e-9, atol=1e-12, name="dx")
    assert_close(dw, ref_dw, rtol=1e-9, atol=1e-12, name="dw")
    assert_close(db, dout.sum(axis=(0, 2, 3)), rtol=1e-9, atol=1e-12, name="db")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_max_pool_small(submission):
    """2x2 max-pooling with stride 2 keeps each window's maximum; the gradient goes only to that position."""
    x = np.array([[[[1.0, 5.0, 2.0, 0.0],
                    [3.0, 2.0, 7.0, 1.0],
                    [0.0, -1.0, 4.0, 6.0],
                    [8.0, 2.0, 3.0, 5.0]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = submission.max_pool_forward_naive(x.copy(), dict(param))
    assert_close(out, np.array([[[[5.0, 7.0], [8.0, 6.0]]]]), rtol=0, atol=0, name="pool out")
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = submission.max_pool_backward_naive(dout.copy(), cache)
    expected = np.array([[[[0.0, 1.0, 0.0, 0.0],
                           [0.0, 0.0, 2.0, 0.0],
                           [0.0, 0.0, 0.0, 4.0],
                           [3.0, 0.0, 0.0, 0.0]]]])
    assert_close(dx, expected, rtol=0, atol=0, name="pool dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_build_cnn_and_predict_scores(submission):
    """predict_scores(build_cnn(1, 10), X) returns a NumPy array of scores (N, 10) for X (N, 1, 8, 8) float32."""
    model = submission.build_cnn(1, 10)
    scores = submission.predict_scores(model, np.zeros((3, 1, 8, 8), dtype=np.float32))
    assert isinstance(scores, np.ndarray), (
        f"predict_scores must return a NumPy array (use .numpy()), got {type_name(scores)}"
    )
    assert scores.shape == (3, 10), f"predict_scores(build_cnn(1, 10), X): shape {scores.shape}, expected (3, 10)"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_cnn_model_reads_training_digits(submission):
    """cnn_model, through predict_scores, gets at least 90% of 200 of its own training digits right."""
    split = datasets.load("digits")
    X = split.X_train[:200].reshape(-1, 1, 8, 8).astype(np.float32)
    y = split.y_train[:200]
    scores = submission.predict_scores(submission.cnn_model, X)
    assert isinstance(scores, np.ndarray) and scores.shape == (200, 10), (
        f"predict_scores(cnn_model, X): expected a NumPy array of shape (200, 10), got "
        f"{type_name(scores)}{' of shape ' + str(scores.shape) if isinstance(scores, np.ndarray) else ''}"
    )
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    assert acc >= 0.9, f"cnn_model accuracy on 200 training digits: {acc:.3f}, expected at least 0.9"
