"""Hidden tests: the vanilla RNN step and sequence, forward and backward, against PyTorch (judge side).

The reference is torch.nn.RNNCell / torch.nn.RNN in float64 with the student's layout mapped
in: weight_ih = Wx.T, weight_hh = Wh.T, bias_ih = b, bias_hh = 0; gradients come from
torch.autograd with the same upstream gradient. Every call into the notebook runs with
`submission.refusing("torch")`: these functions are written in NumPy.
"""

import numpy as np
import pytest
import torch

from grader.course.testing import assert_close, assert_depends, numeric_gradient

RTOL, ATOL = 1e-8, 1e-11  # the same float64 formulas, another summation order
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8  # central differences, h = 1e-5
GRADS = ("dx", "dprev_h", "dWx", "dWh", "db")
SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")


def _weights(rng, d, h, scale=0.5):
    return scale * rng.standard_normal((d, h)), scale * rng.standard_normal((h, h)), scale * rng.standard_normal(h)


def _map(module, Wx, Wh, b, suffix=""):
    with torch.no_grad():
        getattr(module, "weight_ih" + suffix).copy_(torch.from_numpy(Wx.T))
        getattr(module, "weight_hh" + suffix).copy_(torch.from_numpy(Wh.T))
        getattr(module, "bias_ih" + suffix).copy_(torch.from_numpy(b))
        getattr(module, "bias_hh" + suffix).zero_()


def _torch_step(x, prev_h, Wx, Wh, b, dnext_h):
    cell = torch.nn.RNNCell(Wx.shape[0], Wx.shape[1]).double()
    _map(cell, Wx, Wh, b)
    tx, th = torch.tensor(x, requires_grad=True), torch.tensor(prev_h, requires_grad=True)
    out = cell(tx, th)
    out.backward(torch.from_numpy(dnext_h))
    grads = (tx.grad, th.grad, cell.weight_ih.grad.T, cell.weight_hh.grad.T, cell.bias_ih.grad)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _torch_seq(x, h0, Wx, Wh, b, dh):
    rnn = torch.nn.RNN(Wx.shape[0], Wx.shape[1], batch_first=True).double()
    _map(rnn, Wx, Wh, b, "_l0")
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0[None], requires_grad=True)
    out, _ = rnn(tx, th0)
    out.backward(torch.from_numpy(dh))
    grads = (tx.grad, th0.grad[0], rnn.weight_ih_l0.grad.T, rnn.weight_hh_l0.grad.T, rnn.bias_ih_l0.grad)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _pair(got, what, n):
    assert isinstance(got, tuple) and len(got) == n, (
        f"{what} must return a tuple of {n}, got "
        + (f"a tuple of {len(got)}" if isinstance(got, tuple) else type(got).__name__)
    )
    return got


def _step_case(rng, n=4, d=3, h=5):
    return (rng.standard_normal((n, d)), rng.standard_normal((n, h)), *_weights(rng, d, h))


def _seq_case(rng, n=3, t=6, d=4, h=5):
    return (rng.standard_normal((n, t, d)), rng.standard_normal((n, h)), *_weights(rng, d, h))


# --------------------------------------------------------------------------- one step


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_rnn_step_forward(submission, rng):
    """rnn_step_forward matches torch.nn.RNNCell (tanh) with Wx, Wh, b mapped in."""
    for n, d, h in [(4, 3, 5), (1, 6, 2)]:
        x, prev_h, Wx, Wh, b = _step_case(rng, n, d, h)
        got = _pair(submission.refusing("torch").rnn_step_forward(x, prev_h, Wx, Wh, b), "rnn_step_forward", 2)
        ref, _ = _torch_step(x, prev_h, Wx, Wh, b, np.zeros((n, h)))
        assert_close(got[0], ref, rtol=RTOL, atol=ATOL, name=f"next_h (x {x.shape}, prev_h {prev_h.shape})")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_rnn_step_backward(submission, rng):
    """rnn_step_backward's dx, dprev_h, dWx, dWh and db match torch.autograd through nn.RNNCell."""
    x, prev_h, Wx, Wh, b = _step_case(rng)
    sub = submission.refusing("torch")
    _, cache = _pair(sub.rnn_step_forward(x, prev_h, Wx, Wh, b), "rnn_step_forward", 2)
    dnext_h = rng.standard_normal(prev_h.shape)
    got = _pair(sub.rnn_step_backward(dnext_h, cache), "rnn_step_backward", 5)
    _, ref = _torch_step(x, prev_h, Wx, Wh, b, dnext_h)
    for name, mine, theirs in zip(GRADS, got, ref):
        assert_close(mine, theirs, rtol=RTOL, atol=ATOL, name=f"rnn_step_backward {name}")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rnn_step_backward_numeric(submission, rng):
    """rnn_step_backward agrees with numeric gradients of your rnn_step_forward."""
    x, prev_h, Wx, Wh, b = _step_case(rng, 2, 3, 4)
    sub = submission.refusing("torch")
    _, cache = sub.rnn_step_forward(x, prev_h, Wx, Wh, b)
    dnext_h = rng.standard_normal(prev_h.shape)
    got = sub.rnn_step_backward(dnext_h, cache)
    args = [x, prev_h, Wx, Wh, b]
    for k, name in enumerate(GRADS):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            return sub.rnn_step_forward(*a)[0]

        num = numeric_gradient(f, args[k].copy(), dnext_h)
        assert_depends(num, f"{name} (numeric gradient of your forward)")
        assert_close(got[k], num, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"rnn_step_backward {name} (vs numeric gradient)")


# --------------------------------------------------------------------------- the sequence


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_rnn_forward(submission, rng):
    """rnn_forward returns every hidden state (N, T, H), matching torch.nn.RNN(batch_first=True) from h0."""
    for n, t, d, h in [(3, 6, 4, 5), (2, 1, 3, 3)]:
        x, h0, Wx, Wh, b = _seq_case(rng, n, t, d, h)
        got = _pair(submission.refusing("torch").rnn_forward(x, h0, Wx, Wh, b), "rnn_forward", 2)
        ref, _ = _torch_seq(x, h0, Wx, Wh, b, np.zeros((n, t, h)))
        assert_close(got[0], ref, rtol=RTOL, atol=ATOL, name=f"h (x {x.shape}, h0 {h0.shape})")


def _backward(submission, rng, dh_mask=None):
    x, h0, Wx, Wh, b = _seq_case(rng)
    sub = submission.refusing("torch")
    _, cache = _pair(sub.rnn_forward(x, h0, Wx, Wh, b), "rnn_forward", 2)
    dh = rng.standard_normal((x.shape[0], x.shape[1], h0.shape[1]))
    if dh_mask is not None:
        dh = dh * dh_mask
    got = _pair(sub.rnn_backward(dh, cache), "rnn_backward", 5)
    _, ref = _torch_seq(x, h0, Wx, Wh, b, dh)
    return got, ref


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
def test_rnn_backward(submission, rng):
    """rnn_backward (BPTT, upstream gradient on every hidden state): dx, dh0, dWx, dWh, db match torch.autograd."""
    got, ref = _backward(submission, rng)
    for name, mine, theirs in zip(SEQ_GRADS, got, ref):
        assert_close(mine, theirs, rtol=RTOL, atol=ATOL,
                     name=f"rnn_backward {name} (x (3, 6, 4), upstream gradient on every step)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rnn_backward_last_step_only(submission, rng):
    """rnn_backward with an upstream gradient on the last hidden state only: it must flow back to every step."""
    mask = np.zeros((1, 6, 1))
    mask[:, -1] = 1.0
    got, ref = _backward(submission, rng, mask)
    for name, mine, theirs in zip(SEQ_GRADS, got, ref):
        assert_close(mine, theirs, rtol=RTOL, atol=ATOL,
                     name=f"rnn_backward {name} (upstream gradient on the last step only)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rnn_backward_numeric(submission, rng):
    """rnn_backward agrees with numeric gradients of your rnn_forward."""
    x, h0, Wx, Wh, b = _seq_case(rng, 2, 4, 3, 3)
    sub = submission.refusing("torch")
    h, cache = sub.rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(np.asarray(h).shape)
    got = sub.rnn_backward(dh, cache)
    args = [x, h0, Wx, Wh, b]
    for k, name in enumerate(SEQ_GRADS):
        def f(v, k=k):
            a = list(args)
            a[k] = v
            return sub.rnn_forward(*a)[0]

        num = numeric_gradient(f, args[k].copy(), dh)
        assert_depends(num, f"{name} (numeric gradient of your forward)")
        assert_close(got[k], num, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"rnn_backward {name} (vs numeric gradient)")
