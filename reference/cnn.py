"""Reference implementation of the `cnn` assignment (CS231n style), NumPy only.

    out, cache = conv_forward_naive(x, w, b, {"stride": s, "pad": p})
    dx, dw, db = conv_backward_naive(dout, cache)
    out, cache = max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": s})
    dx         = max_pool_backward_naive(dout, cache)

Conventions (the tests rely on them; they are PyTorch's):

* A "convolution" is a cross-correlation: the kernel is NOT flipped, so
  out[n, f, i, j] = b[f] + sum_{c, di, dj} xpad[n, c, i*s + di, j*s + dj] * w[f, c, di, dj],
  as `torch.nn.functional.conv2d` computes it.
* Padding adds `pad` zeros on every side (top, bottom, left, right).
* Output sizes round down, like PyTorch: H' = 1 + (H + 2*pad - HH) // stride for the
  convolution, H' = 1 + (H - pool_height) // stride for pooling. Rows or columns that do not
  fill a whole window are ignored (and get zero gradient).
* Pooling windows may overlap (stride < pool size); a max-pool's gradient goes to the
  position of each window's maximum (the first one on ties, as `np.argmax` and PyTorch do),
  and gradients from overlapping windows add up.

Tests compare students' code with `torch.nn.functional` in float64; this module is checked
against torch in tests/test_cnn_variants.py.

The judge's own copy of what assignments/cnn/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_output_size", "conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive",
           "max_pool_backward_naive"]


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Positions a kernel of width `kernel` takes along an axis of `size` (floor, like PyTorch)."""
    return 1 + (size + 2 * pad - kernel) // stride


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W'), cache."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = conv_output_size(H, HH, stride, pad)
    W_out = conv_output_size(W, WW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """dout (N, F, H', W') -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))  # b[f] is added at every position of every example
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]  # the padding is not part of x
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """x (N, C, H, W) -> out (N, C, H', W'), cache."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """dout (N, C, H', W') -> dx (N, C, H, W): each window's gradient goes to its maximum."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + ph, j * stride:j * stride + pw]
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]
    return dx
