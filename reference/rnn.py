"""Reference implementation of the `rnn` assignment: a vanilla RNN and an LSTM cell by hand.

Plain NumPy in float64, CS231n's layout (batch first, weights multiply from the right):

* `rnn_step_forward(x, prev_h, Wx, Wh, b)`: next_h = tanh(x @ Wx + prev_h @ Wh + b), with
  x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,). torch.nn.RNNCell computes the same
  with weight_ih = Wx.T, weight_hh = Wh.T, bias_ih = b and bias_hh = 0.
* `rnn_forward(x, h0, Wx, Wh, b)`: x (N, T, D) -> h (N, T, H), every hidden state;
  `rnn_backward(dh, cache)` takes the upstream gradient of EVERY hidden state, dh (N, T, H),
  and returns (dx, dh0, dWx, dWh, db): backpropagation through time, the gradient flowing
  into step t being dh[:, t] plus what comes back from step t + 1.
* `lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)`: Wx (D, 4H), Wh (H, 4H), b (4H,); the
  pre-activations a = x @ Wx + prev_h @ Wh + b are cut into four blocks of H in PyTorch's
  order: input gate i, forget gate f, candidate g, output gate o:
  i, f, o = sigmoid(.), g = tanh(.), next_c = f * prev_c + i * g, next_h = o * tanh(next_c).
  torch.nn.LSTMCell computes the same with weight_ih = Wx.T, weight_hh = Wh.T, bias_ih = b.
* `clip_grad_norm(grads, max_norm)`: the total 2-norm of all the gradients together; when it
  exceeds max_norm every gradient is scaled by max_norm / (total + 1e-6), as
  torch.nn.utils.clip_grad_norm_ does. Returns (clipped grads, total norm before clipping).
* `grad_norms_through_time(x, h0, Wx, Wh, b)`: for the loss L = sum(h[:, T-1]) (the last
  hidden state only), the norm of dL/dx[:, t] for every t: how much of the gradient reaches
  step t from the end of the sequence.

The judge's own copy of what assignments/rnn/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
           "lstm_step_forward", "lstm_step_backward", "clip_grad_norm", "grad_norms_through_time"]


def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


# ----------------------------------------------------------------------------- vanilla RNN


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1.0 - next_h**2)  # tanh' = 1 - tanh**2
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    n, t_len, _ = x.shape
    h = np.zeros((n, t_len, h0.shape[1]))
    caches = []
    prev = h0
    for t in range(t_len):
        prev, cache = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


def rnn_backward(dh, cache):
    caches = cache
    x0, _, Wx, Wh, _ = caches[0]
    n, t_len, _ = dh.shape
    dx = np.zeros((n, t_len, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dprev = np.zeros((n, Wh.shape[0]))
    for t in reversed(range(t_len)):
        dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev, dWx, dWh, db


# ----------------------------------------------------------------------------- LSTM


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, g, o, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, g, o, tanh_c = cache
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)  # both paths into next_c
    di, df, dg = dc * g, dc * prev_c, dc * i
    dprev_c = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


# ----------------------------------------------------------------------------- clipping, vanishing


def clip_grad_norm(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        return {k: g * coef for k, g in grads.items()}, total
    return {k: g.copy() for k, g in grads.items()}, total


def grad_norms_through_time(x, h0, Wx, Wh, b):
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = np.zeros_like(h)
    dh[:, -1] = 1.0
    dx = rnn_backward(dh, cache)[0]
    return np.sqrt(np.sum(dx**2, axis=(0, 2)))
