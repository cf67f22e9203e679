"""Hidden tests: the LSTM cell, forward and backward, against torch.nn.LSTMCell (judge side, float64).

The student's layout is mapped into torch: weight_ih = Wx.T (4H, D), weight_hh = Wh.T,
bias_ih = b, bias_hh = 0; both use the gate order input, forget, candidate g, output.
Gradients come from torch.autograd of sum(next_h * dnext_h + next_c * dnext_c). When the
student's forward matches the CS231n order (i, f, o, g) instead, the message says so.
Every call runs with `submission.refusing("torch")`.
"""

import numpy as np
import pytest
import torch

from grader.course.testing import assert_close, assert_depends, numeric_gradient, rel_error

RTOL, ATOL = 1e-8, 1e-11
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8
GRADS = ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")


def _case(rng, n=4, d=3, h=5, scale=0.5):
    return (rng.standard_normal((n, d)), rng.standard_normal((n, h)), rng.standard_normal((n, h)),
            scale * rng.standard_normal((d, 4 * h)), scale * rng.standard_normal((h, 4 * h)),
            scale * rng.standard_normal(4 * h))


def _torch_cell(x, prev_h, prev_c, Wx, Wh, b, dnext_h, dnext_c):
    d, h = x.shape[1], prev_h.shape[1]
    cell = torch.nn.LSTMCell(d, h).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(Wx.T))
        cell.weight_hh.copy_(torch.from_numpy(Wh.T))
        cell.bias_ih.copy_(torch.from_numpy(b))
        cell.bias_hh.zero_()
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, prev_h, prev_c))
    next_h, next_c = cell(tx, (th, tc))
    (next_h * torch.from_numpy(dnext_h) + next_c * torch.from_numpy(dnext_c)).sum().backward()
    grads = (tx.grad, th.grad, tc.grad, cell.weight_ih.grad.T, cell.weight_hh.grad.T, cell.bias_ih.grad)
    return next_h.detach().numpy(), next_c.detach().numpy(), [g.numpy() for g in grads]


def _cs231n_order_c(x, prev_h, prev_c, Wx, Wh, b):
    """next_c if the blocks were read as i, f, o, g (a common mix-up)."""
    h = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    sig = 1 / (1 + np.exp(-a))
    return sig[:, h:2 * h] * prev_c + sig[:, :h] * np.tanh(a[:, 3 * h:])


def _forward(sub, args):
    got = sub.lstm_step_forward(*args)
    assert isinstance(got, tuple) and len(got) == 3, (
        "lstm_step_forward must return (next_h, next_c, cache), got "
        + (f"a tuple of {len(got)}" if isinstance(got, tuple) else type(got).__name__)
    )
    return got


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_lstm_step_forward(submission, rng):
    """lstm_step_forward's next_h and next_c match torch.nn.LSTMCell (gates i, f, g, o) with Wx, Wh, b mapped in."""
    sub = submission.refusing("torch")
    for n, d, h in [(4, 3, 5), (2, 5, 1)]:
        args = _case(rng, n, d, h)
        next_h, next_c, _ = _forward(sub, args)
        ref_h, ref_c, _ = _torch_cell(*args, np.zeros((n, h)), np.zeros((n, h)))
        hint = ""
        if np.asarray(next_c).shape == ref_c.shape and rel_error(next_c, _cs231n_order_c(*args)) < 1e-8:
            hint = "; your gates are in CS231n's order (i, f, o, g), PyTorch's is (i, f, g, o)"
        assert_close(next_c, ref_c, rtol=RTOL, atol=ATOL, name=f"next_c (x {(n, d)}, H = {h}){hint}")
        assert_close(next_h, ref_h, rtol=RTOL, atol=ATOL, name=f"next_h (x {(n, d)}, H = {h})")


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
def test_lstm_step_backward(submission, rng):
    """lstm_step_backward's dx, dprev_h, dprev_c, dWx, dWh and db match torch.autograd through nn.LSTMCell."""
    sub = submission.refusing("torch")
    args = _case(rng)
    _, _, cache = _forward(sub, args)
    dnext_h, dnext_c = rng.standard_normal(args[1].shape), rng.standard_normal(args[2].shape)
    got = sub.lstm_step_backward(dnext_h, dnext_c, cache)
    assert isinstance(got, tuple) and len(got) == 6, (
        "lstm_step_backward must return (dx, dprev_h, dprev_c, dWx, dWh, db)"
    )
    _, _, ref = _torch_cell(*args, dnext_h, dnext_c)
    for name, mine, theirs in zip(GRADS, got, ref):
        assert_close(mine, theirs, rtol=RTOL, atol=ATOL, name=f"lstm_step_backward {name}")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_lstm_step_backward_cell_only(submission, rng):
    """With an upstream gradient on next_c only (dnext_h = 0), dprev_c = dnext_c * f and the rest matches torch."""
    sub = submission.refusing("torch")
    args = _case(rng, 3, 2, 4)
    _, _, cache = _forward(sub, args)
    dnext_h, dnext_c = np.zeros(args[1].shape), rng.standard_normal(args[2].shape)
    got = sub.lstm_step_backward(dnext_h, dnext_c, cache)
    _, _, ref = _torch_cell(*args, dnext_h, dnext_c)
    for name, mine, theirs in zip(GRADS, got, ref):
        assert_close(mine, theirs, rtol=RTOL, atol=ATOL, name=f"lstm_step_backward {name} (dnext_h = 0)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_lstm_step_backward_numeric(submission, rng):
    """lstm_step_backward agrees with numeric gradients of your lstm_step_forward."""
    sub = submission.refusing("torch")
    args = list(_case(rng, 2, 2, 2))
    _, _, cache = _forward(sub, args)
    dnext_h, dnext_c = rng.standard_normal(args[1].shape), rng.standard_normal(args[2].shape)
    got = sub.lstm_step_backward(dnext_h, dnext_c, cache)
    for k, name in enumerate(GRADS):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            next_h, next_c, _ = sub.lstm_step_forward(*a)
            return np.concatenate([next_h, next_c], axis=1)

        num = numeric_gradient(f, args[k].copy(), np.concatenate([dnext_h, dnext_c], axis=1))
        assert_depends(num, f"{name} (numeric gradient of your forward)")
        assert_close(got[k], num, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"lstm_step_backward {name} (vs numeric gradient)")
