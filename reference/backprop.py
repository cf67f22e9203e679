"""Reference implementation of the `backprop` assignment (CS231n / micrograd style).

Everything is plain NumPy in float64. Each layer is a pair of functions:

    out, cache = layer_forward(inputs...)     # cache: whatever backward needs
    grads      = layer_backward(dout, cache)  # dout = d loss / d out (upstream gradient)

and the backward pass applies the chain rule: d loss / d input = d loss / d out * d out / d input.

Conventions (the tests rely on them):

* `affine_*` flattens every input row: x of shape (N, d1, ..., dk) is used as (N, D),
  D = d1 * ... * dk, and `dx` comes back in x's original shape.
* ReLU is not differentiable at 0; we use the subgradient 0 there, so
  `relu_backward` passes gradient only where x > 0 (as PyTorch does).
* `sigmoid_forward` never evaluates exp of a large positive number, so it is finite and
  warning-free for any float64 input (|x| >= 1000 included).
* `softmax_loss` subtracts each row's maximum before exponentiating; the probabilities are
  unchanged and exp never overflows. The loss is the MEAN cross-entropy over the batch.
* `TwoLayerNet` adds the L2 penalty 0.5 * reg * (sum(W1**2) + sum(W2**2)), whose gradient
  is reg * W; biases are not regularised.

Tests use this module as the `reference` fixture; it is checked against torch elsewhere.

The judge's own copy of what assignments/backprop/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "sigmoid_forward",
           "sigmoid_backward", "tanh_forward", "tanh_backward", "softmax_loss", "TwoLayerNet"]


# ----------------------------------------------------------------------------- affine


def affine_forward(x, w, b):
    """out = x_flat @ w + b, with x (N, d1, ..., dk) flattened to (N, D); w (D, M); b (M,)."""
    x_flat = x.reshape(x.shape[0], -1)
    out = x_flat @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Gradients of an affine layer. dout (N, M) -> dx (x's shape), dw (D, M), db (M,)."""
    x, w, b = cache
    x_flat = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)  # d(x_flat @ w)/dx_flat = w^T, then un-flatten
    dw = x_flat.T @ dout  # each row of x contributes outer(x_i, dout_i)
    db = dout.sum(axis=0)  # b is broadcast over the batch, so its gradient sums over it
    return dx, dw, db


# ----------------------------------------------------------------------------- ReLU


def relu_forward(x):
    """out = max(0, x), element-wise."""
    out = np.maximum(0.0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0. At exactly x == 0 the gradient is 0 (convention)."""
    x = cache
    dx = dout * (x > 0)
    return dx


# ----------------------------------------------------------------------------- sigmoid


def _stable_sigmoid(x):
    """1 / (1 + exp(-x)) without ever computing exp of a positive number."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    neg = ~pos
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))  # exp(-x) <= 1 here
    ex = np.exp(x[neg])  # exp(x) < 1 here
    out[neg] = ex / (1.0 + ex)
    return out


def sigmoid_forward(x):
    """out = 1 / (1 + exp(-x)), computed stably for any magnitude of x."""
    out = _stable_sigmoid(np.asarray(x, dtype=np.float64))
    cache = out
    return out, cache


def sigmoid_backward(dout, cache):
    """d sigmoid / dx = s * (1 - s), with s the forward output (at most 0.25, at x = 0)."""
    s = cache
    dx = dout * s * (1.0 - s)
    return dx


# ----------------------------------------------------------------------------- tanh


def tanh_forward(x):
    """out = tanh(x)."""
    out = np.tanh(x)
    cache = out
    return out, cache


def tanh_backward(dout, cache):
    """d tanh / dx = 1 - tanh(x)**2, with tanh(x) the forward output."""
    t = cache
    dx = dout * (1.0 - t**2)
    return dx


# ----------------------------------------------------------------------------- softmax


def softmax_loss(scores, y):
    """Mean softmax cross-entropy and its gradient.

    scores: (N, C) float; y: (N,) ints in [0, C). Returns (loss, dscores), where
    loss = -mean_i log softmax(scores_i)[y_i] and dscores = (softmax(scores) - onehot(y)) / N.
    """
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)  # max-shift: exp never overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    dscores /= n
    return float(loss), dscores


# ----------------------------------------------------------------------------- network


class TwoLayerNet:
    """affine - ReLU - affine - softmax, with L2 regularisation on the weights.

    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,). Weights are drawn as
    weight_scale * standard normal from np.random.default_rng(seed) (W1 first, then W2);
    biases start at zero.
    """

    def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0, seed=None):
        rng = np.random.default_rng(seed)
        self.reg = reg
        self.params = {
            "W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        """Scores (N, C) if y is None, else (loss, grads) with grads keyed like params."""
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]

        a1, cache1 = affine_forward(X, W1, b1)
        h1, cache_relu = relu_forward(a1)
        scores, cache2 = affine_forward(h1, W2, b2)
        if y is None:
            return scores

        data_loss, dscores = softmax_loss(scores, y)
        reg_loss = 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        loss = data_loss + reg_loss

        dh1, dW2, db2 = affine_backward(dscores, cache2)
        da1 = relu_backward(dh1, cache_relu)
        _, dW1, db1 = affine_backward(da1, cache1)
        grads = {
            "W1": dW1 + self.reg * W1,
            "b1": db1,
            "W2": dW2 + self.reg * W2,
            "b2": db2,
        }
        return float(loss), grads
