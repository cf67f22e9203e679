"""Public tests for `rnn`: small fixed inputs, so you can see exactly what is expected.

The hidden tests compare your functions with torch.nn.RNNCell, torch.nn.RNN,
torch.nn.LSTMCell and torch.nn.utils.clip_grad_norm_ (your weights mapped into them) on fresh
random inputs, check the gradients numerically, run a long sequence where the gradient
vanishes, and measure your seq_model on held-out digits.
"""

import numpy as np
import pytest

from grader.course.testing import assert_close

X = np.array([[1.0, -1.0], [0.5, 2.0]])  # (N=2, D=2)
H0 = np.array([[0.1, 0.2, -0.3], [0.0, -0.5, 0.4]])  # (N=2, H=3)
WX = np.array([[0.2, -0.1, 0.4], [0.3, 0.5, -0.2]])  # (D, H)
WH = np.array([[0.1, 0.0, -0.2], [0.3, -0.1, 0.1], [0.0, 0.2, 0.5]])  # (H, H)
B = np.array([0.1, -0.2, 0.05])


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rnn_step_forward_small(submission):
    """rnn_step_forward computes tanh(x @ Wx + prev_h @ Wh + b)."""
    next_h, _ = submission.rnn_step_forward(X.copy(), H0.copy(), WX.copy(), WH.copy(), B.copy())
    assert_close(next_h, np.tanh(X @ WX + H0 @ WH + B), rtol=1e-12, atol=1e-14, name="next_h")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rnn_forward_small(submission):
    """rnn_forward on a sequence of 4 steps returns every hidden state, (N, T, H), starting from h0."""
    x = np.stack([X, -X, 2 * X, X[::-1]], axis=1)  # (N=2, T=4, D=2)
    h, _ = submission.rnn_forward(x, H0.copy(), WX.copy(), WH.copy(), B.copy())
    assert np.asarray(h).shape == (2, 4, 3), f"h: shape {np.asarray(h).shape}, expected (2, 4, 3)"
    prev, expected = H0, []
    for t in range(4):
        prev = np.tanh(x[:, t] @ WX + prev @ WH + B)
        expected.append(prev)
    assert_close(h, np.stack(expected, axis=1), rtol=1e-12, atol=1e-14, name="h")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_lstm_step_forward_small(submission):
    """With zero weights only b acts: the gates come in PyTorch's order (input, forget, candidate g, output)."""
    h_dim = 2
    b = np.array([0.0, 0.0, 10.0, 10.0, 1.0, -1.0, -10.0, 10.0])  # i = 0.5; f ~ 1; g = tanh(+-1); o ~ (0, 1)
    prev_c = np.array([[2.0, -3.0]])
    next_h, next_c, _ = submission.lstm_step_forward(np.zeros((1, 3)), np.zeros((1, h_dim)), prev_c.copy(),
                                                      np.zeros((3, 4 * h_dim)), np.zeros((h_dim, 4 * h_dim)), b)
    sig = 1 / (1 + np.exp(-b))
    expected_c = sig[2:4] * prev_c + sig[0:2] * np.tanh(b[4:6])
    assert_close(next_c, expected_c, rtol=1e-10, atol=1e-12, name="next_c (f * prev_c + i * g)")
    assert_close(next_h, sig[6:8] * np.tanh(expected_c), rtol=1e-10, atol=1e-12, name="next_h (o * tanh(next_c))")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_clip_grad_norm_small(submission):
    """Gradients of total norm sqrt(52) clipped to 1: the same direction, norm 1, total_norm sqrt(52) returned."""
    grads = {"Wx": np.full((2, 2), 3.0), "b": np.array([4.0])}
    clipped, total = submission.clip_grad_norm({k: v.copy() for k, v in grads.items()}, 1.0)
    assert abs(float(total) - np.sqrt(52)) < 1e-9, f"total_norm = {float(total):.6g}, expected sqrt(52) = {np.sqrt(52):.6g}"
    scale = 1.0 / (np.sqrt(52) + 1e-6)
    for k in grads:
        assert_close(clipped.get(k), grads[k] * scale, rtol=1e-9, atol=1e-12, name=f"clipped['{k}']")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_build_sequence_classifier_small(submission):
    """build_sequence_classifier() maps a batch of 8-step sequences of 8 features to 10 scores each."""
    torch = submission.torch
    model = submission.build_sequence_classifier()
    model.eval()
    out = model(torch.zeros(2, 8, 8)).detach().numpy()
    assert isinstance(out, np.ndarray) and out.shape == (2, 10), (
        "build_sequence_classifier()(zeros(2, 8, 8)): expected scores of shape (2, 10), got "
        + (f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
    )
