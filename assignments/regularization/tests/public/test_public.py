"""Public tests for `regularization`: small fixed inputs, so you can see exactly what is expected.

The hidden tests check the same functions on fresh random inputs: dropout by its statistics,
batch norm against torch.nn.functional.batch_norm (running statistics included), the
gradients numerically, and your trained reg_model on held-out digits.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close

X_BN = np.array([[1.0, -2.0], [2.0, 0.0], [3.0, 2.0], [4.0, 4.0]])  # (N=4, D=2)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_small(submission):
    """p = 0.5 on ones: train outputs are 0 or 1 / (1 - 0.5) = 2, about half of each; test mode is the identity."""
    x = np.ones((50, 40))
    out, _ = submission.dropout_forward(x.copy(), {"p": 0.5, "mode": "train", "seed": 0})
    values = set(np.unique(out).tolist())
    assert values <= {0.0, 2.0}, f"train-mode out on ones with p = 0.5: values {sorted(values)[:5]}, expected 0 and 2"
    kept = float(np.mean(out != 0))
    assert 0.4 < kept < 0.6, f"fraction of units kept with p = 0.5: {kept:.3f}, expected about 0.5"
    test_out, _ = submission.dropout_forward(x.copy(), {"p": 0.5, "mode": "test", "seed": 0})
    assert_close(test_out, x, rtol=0, atol=0, name="test-mode out (expected x unchanged)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_dropout_backward_small(submission):
    """Backward uses the forward pass's mask: dx = dout * out / x here."""
    x = np.arange(1.0, 13.0).reshape(3, 4)
    dout = np.full((3, 4), 3.0)
    out, cache = submission.dropout_forward(x.copy(), {"p": 0.25, "mode": "train", "seed": 1})
    dx = submission.dropout_backward(dout.copy(), cache)
    assert_close(dx, dout * out / x, rtol=1e-12, atol=1e-12, name="train-mode dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_forward_small(submission):
    """Each column of [[1, -2], [2, 0], [3, 2], [4, 4]] is normalised with its mean and BIASED variance;
    the running statistics are updated with the UNBIASED variance, from zeros and ones."""
    bn_param = {"mode": "train"}
    out, _ = submission.batchnorm_forward(X_BN.copy(), np.ones(2), np.zeros(2), bn_param)
    mean, var = np.array([2.5, 1.0]), np.array([1.25, 5.0])  # var: divide by N = 4
    assert_close(out, (X_BN - mean) / np.sqrt(var + 1e-5), rtol=1e-10, atol=1e-12, name="train-mode out")
    assert_close(bn_param.get("running_mean"), 0.1 * mean, rtol=1e-10, atol=1e-12,
                 name="running_mean (0.9 * 0 + 0.1 * batch mean)")
    unbiased = var * 4 / 3
    assert_close(bn_param.get("running_var"), 0.9 + 0.1 * unbiased, rtol=1e-10, atol=1e-12,
                 name="running_var (0.9 * 1 + 0.1 * unbiased batch variance)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_small(submission):
    """dbeta sums dout over the batch; dx sums to 0 over the batch (the mean is subtracted)."""
    gamma, beta = np.array([2.0, -1.0]), np.array([0.5, 0.0])
    _, cache = submission.batchnorm_forward(X_BN.copy(), gamma, beta, {"mode": "train"})
    dout = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [3.0, 0.5]])
    dx, dgamma, dbeta = submission.batchnorm_backward(dout.copy(), cache)
    assert_close(dbeta, dout.sum(axis=0), rtol=1e-12, atol=1e-12, name="dbeta")
    assert np.asarray(dgamma).shape == (2,), f"dgamma: shape {np.asarray(dgamma).shape}, expected (2,)"
    assert_close(np.asarray(dx).sum(axis=0), np.zeros(2), rtol=0, atol=1e-10, name="dx summed over the batch")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_build_regularized_cnn_small(submission):
    """build_regularized_cnn() maps a batch of 1x8x8 images to 10 scores each."""
    torch = submission.torch
    model = submission.build_regularized_cnn()
    model.eval()
    out = model(torch.zeros(2, 1, 8, 8)).detach().numpy()
    assert isinstance(out, np.ndarray) and out.shape == (2, 10), (
        "build_regularized_cnn()(zeros(2, 1, 8, 8)): expected scores of shape (2, 10), got "
        + (f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
    )
