"""The cnn assignment's misconceptions (judge-side; never shipped to students).

Probes call the student's conv and pool layers on small fixed, seeded float64 inputs (stride
2 and padding 1, so that stride and padding mistakes show) and compare with the named wrong
formula, computed here by plain loops, within PROBE_RTOL (CS231n relative error; the same
float64 sums up to order), requiring it to differ from the right one beyond that. At most two
calls into the notebook per probe, each on inputs of a few hundred numbers. See docs/authoring.md.
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, wrong_not_right

PROBE_RTOL = 1e-7
STRIDE, PAD = 2, 1

CONV_FWD = ("test_conv_forward_basic", "test_conv_forward_stride", "test_conv_forward_padding",
            "test_conv_forward_non_square", "test_conv_forward_small")
CONV_BWD = ("test_conv_backward_dx", "test_conv_backward_dw", "test_conv_backward_db", "test_conv_backward_numeric",
            "test_conv_backward_small")
POOL = ("test_max_pool_forward", "test_max_pool_forward_general", "test_max_pool_backward",
        "test_max_pool_backward_overlapping", "test_max_pool_backward_numeric", "test_max_pool_small")


def _conv_case(seed=4):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    h_out, w_out = 1 + (5 + 2 * PAD - 3) // STRIDE, 1 + (6 + 2 * PAD - 2) // STRIDE
    return x, w, b, rng.standard_normal((2, 3, h_out, w_out))


def _conv(xp, w, b, h_out, w_out, step=STRIDE):
    out = np.zeros((xp.shape[0], w.shape[0], h_out, w_out))
    hh, ww = w.shape[2:]
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * step:i * step + hh, j * step:j * step + ww]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", window, w) + b
    return out


def _conv_backward(xp, w, dout, step=STRIDE, accumulate=True):
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    hh, ww = w.shape[2:]
    for n in range(dout.shape[0]):
        for f in range(dout.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * step, i * step + hh), slice(j * step, j * step + ww)
                    if accumulate:
                        dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    else:
                        dw[f] = dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    return dxp, dw


def _pad(x, top=PAD, bottom=PAD):
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (top, bottom)))


def _forward(submission, x, w, b):
    out, cache = submission.conv_forward_naive(x.copy(), w.copy(), b.copy(), {"stride": STRIDE, "pad": PAD})
    return out, cache


def conv_pad_one_side(submission, reference) -> bool:
    x, w, b, dout = _conv_case()
    out, _ = _forward(submission, x, w, b)
    h_out, w_out = dout.shape[2:]
    wrong = _conv(_pad(x, 0, 2 * PAD), w, b, h_out, w_out)
    return wrong_not_right(out, wrong, _conv(_pad(x), w, b, h_out, w_out), PROBE_RTOL)


def conv_flips_kernel(submission, reference) -> bool:
    x, w, b, dout = _conv_case()
    out, _ = _forward(submission, x, w, b)
    h_out, w_out = dout.shape[2:]
    wrong = _conv(_pad(x), w[:, :, ::-1, ::-1], b, h_out, w_out)
    return wrong_not_right(out, wrong, _conv(_pad(x), w, b, h_out, w_out), PROBE_RTOL)


def conv_size_off_by_one(submission, reference) -> bool:
    x, w, b, dout = _conv_case()
    out, _ = _forward(submission, x, w, b)
    h_out, w_out = dout.shape[2:]
    right = _conv(_pad(x), w, b, h_out, w_out)
    h_wrong, w_wrong = (5 + 2 * PAD - 3) // STRIDE, (6 + 2 * PAD - 2) // STRIDE
    return any(wrong_not_right(out, right[:, :, :hh, :ww], right, PROBE_RTOL)
               for hh, ww in ((h_wrong, w_out), (h_out, w_wrong), (h_wrong, w_wrong)))


def _backward(submission):
    x, w, b, dout = _conv_case()
    _, cache = _forward(submission, x, w, b)
    return submission.conv_backward_naive(dout.copy(), cache), x, w, dout


def conv_db_not_summed(submission, reference) -> bool:
    (_, _, db), _, _, dout = _backward(submission)
    return wrong_not_right(db, dout.sum(axis=0), dout.sum(axis=(0, 2, 3)), PROBE_RTOL)


def conv_dw_overwritten(submission, reference) -> bool:
    (_, dw, _), x, w, dout = _backward(submission)
    _, wrong = _conv_backward(_pad(x), w, dout, accumulate=False)
    _, right = _conv_backward(_pad(x), w, dout)
    return wrong_not_right(dw, wrong, right, PROBE_RTOL)


def conv_dx_not_cropped(submission, reference) -> bool:
    (dx, _, _), x, w, dout = _backward(submission)
    dxp, _ = _conv_backward(_pad(x), w, dout)
    return wrong_not_right(dx, dxp, dxp[:, :, PAD:-PAD, PAD:-PAD], PROBE_RTOL)


def conv_backward_ignores_stride(submission, reference) -> bool:
    (dx, dw, _), x, w, dout = _backward(submission)
    dxp_wrong, dw_wrong = _conv_backward(_pad(x), w, dout, step=1)
    dxp, dw_right = _conv_backward(_pad(x), w, dout)
    return (wrong_not_right(dw, dw_wrong, dw_right, PROBE_RTOL)
            and wrong_not_right(dx, dxp_wrong[:, :, PAD:-PAD, PAD:-PAD], dxp[:, :, PAD:-PAD, PAD:-PAD], PROBE_RTOL))


def _pool(submission, x, size, stride):
    param = {"pool_height": size, "pool_width": size, "stride": stride}
    out, cache = submission.max_pool_forward_naive(x.copy(), param)
    return out, cache


def _pool_loops(x, size, stride, h_out, w_out, dout=None, overwrite=False, spread=False):
    out, dx = np.zeros(x.shape[:2] + (h_out, w_out)), np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    out[n, c, i, j] = window.max()
                    if dout is None:
                        continue
                    if spread:
                        dx[n, c, i * stride:i * stride + size, j * stride:j * stride + size] += dout[n, c, i, j]
                        continue
                    di, dj = np.unravel_index(np.argmax(window), window.shape)
                    if overwrite:
                        dx[n, c, i * stride + di, j * stride + dj] = dout[n, c, i, j]
                    else:
                        dx[n, c, i * stride + di, j * stride + dj] += dout[n, c, i, j]
    return out, dx


def _pool_backward(submission, size, stride, **wrong):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 6, 6))
    h_out = 1 + (6 - size) // stride
    dout = rng.standard_normal((2, 2, h_out, h_out))
    _, cache = _pool(submission, x, size, stride)
    dx = submission.max_pool_backward_naive(dout.copy(), cache)
    _, wrong_dx = _pool_loops(x, size, stride, h_out, h_out, dout, **wrong)
    _, right_dx = _pool_loops(x, size, stride, h_out, h_out, dout)
    return wrong_not_right(dx, wrong_dx, right_dx, PROBE_RTOL)


def pool_backward_spread(submission, reference) -> bool:
    return _pool_backward(submission, 2, 2, spread=True)


def pool_backward_overwrites(submission, reference) -> bool:
    return _pool_backward(submission, 3, 1, overwrite=True)


def pool_forward_ignores_stride(submission, reference) -> bool:
    """Windows stepped by the pool size (2) instead of the stride (3)."""
    x = np.random.default_rng(9).standard_normal((1, 2, 8, 8))
    out, _ = _pool(submission, x, 2, 3)
    wrong, _ = _pool_loops(x, 2, 2, 3, 3)
    right, _ = _pool_loops(x, 2, 3, 3, 3)
    return wrong_not_right(out, wrong, right, PROBE_RTOL)


MISCONCEPTIONS = [
    Misconception(
        "conv_pad_one_side", "padded only the bottom and right of the image",
        "Padding pad adds pad rows (and columns) on every side of the image, so the kernel is centred "
        "the same way at the top and at the bottom.",
        CONV_FWD + CONV_BWD, conv_pad_one_side),
    Misconception(
        "conv_flips_kernel", "flipped the kernel in the forward pass",
        "Deep learning's convolution (PyTorch's too) is a cross-correlation: the kernel is laid on "
        "the window as it is, without flipping it.",
        CONV_FWD, conv_flips_kernel),
    Misconception(
        "conv_size_off_by_one", "computed the output size without the + 1",
        "Count the positions the kernel can take: the first at 0, then one every stride while it "
        "still fits in the padded input. That is 1 + (H + 2 pad - HH) // stride.",
        CONV_FWD, conv_size_off_by_one),
    Misconception(
        "conv_db_not_summed", "summed db only over the batch, not over the positions",
        "Each filter's bias is added at every output position of every example, so its gradient "
        "sums the upstream gradient over the batch and over both spatial axes.",
        CONV_BWD, conv_db_not_summed),
    Misconception(
        "conv_dw_overwritten", "assigned dw for each window instead of adding to it",
        "The same weights are used at every position, so every window contributes to dw; the "
        "contributions must be added up, not replaced by the last one.",
        CONV_BWD, conv_dw_overwritten),
    Misconception(
        "conv_dx_not_cropped", "returned the gradient of the padded input as dx",
        "The padding is not part of x: the gradient on the padded border has no input to go to, "
        "so dx has x's shape.",
        CONV_BWD, conv_dx_not_cropped),
    Misconception(
        "conv_backward_ignores_stride", "moved the backward pass's window one step at a time whatever the stride",
        "The backward pass must visit exactly the windows the forward pass used: output position "
        "(i, j) read the input starting at (i * stride, j * stride).",
        CONV_BWD, conv_backward_ignores_stride),
    Misconception(
        "pool_backward_spread", "sent max pooling's gradient to every element of the window",
        "Only the largest element of a window reaches the output, so only it receives that "
        "window's gradient; the others get none.",
        POOL, pool_backward_spread),
    Misconception(
        "pool_backward_overwrites", "assigned, instead of adding, the gradients of overlapping pooling windows",
        "When windows overlap, one element can be the maximum of several of them; it then receives "
        "the sum of their gradients.",
        POOL, pool_backward_overwrites),
    Misconception(
        "pool_forward_ignores_stride", "stepped the pooling windows by the pool size instead of the stride",
        "Window (i, j) starts at (i * stride, j * stride); the stride and the pool size are separate "
        "settings and differ when windows overlap or leave gaps.",
        POOL, pool_forward_ignores_stride),
]
