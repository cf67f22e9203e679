"""The backprop assignment's misconceptions (judge-side; never shipped to students).

Each probe feeds the student's functions fixed, seeded float64 inputs and asks whether the
output is what the named wrong formula gives, within PROBE_RTOL (CS231n relative error; both
sides compute the same float64 expression up to summation order, ~1e-15), while the wrong
and the right formula differ beyond it. Each probe makes at most three calls into the
notebook. See docs/authoring.md, "Misconceptions".
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, as_float64, same, wrong_not_right

PROBE_RTOL = 1e-7

AFFINE = ("test_affine_backward_db", "test_affine_backward_dw", "test_affine_backward_numeric",
          "test_affine_backward_small")
RELU = ("test_relu_backward", "test_relu_backward_at_zero", "test_relu_backward_numeric", "test_relu_small")
SIGMOID = ("test_sigmoid_backward", "test_sigmoid_backward_numeric", "test_sigmoid_extreme_inputs",
           "test_sigmoid_tanh_small")
TANH = ("test_tanh_backward", "test_tanh_backward_numeric", "test_sigmoid_tanh_small")
SOFTMAX = ("test_softmax_loss_value", "test_softmax_loss_dscores", "test_softmax_loss_numeric",
           "test_softmax_loss_large_scores", "test_softmax_loss_small")


def _inputs(shape=(4, 5), seed=7):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), rng.standard_normal(shape) + 3.0  # x, dout (never 0)


def _affine(submission, reference):
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5))
    b, dout = rng.standard_normal(5), rng.standard_normal((4, 5))
    _, cache = submission.affine_forward(x.copy(), w.copy(), b.copy())
    got = submission.affine_backward(dout.copy(), cache)
    right = reference.affine_backward(dout, reference.affine_forward(x, w, b)[1])
    return got, right, x.shape[0]


def db_averaged(submission, reference) -> bool:
    (_, _, db), (_, _, right), n = _affine(submission, reference)
    return wrong_not_right(db, right / n, right, PROBE_RTOL)


def dw_averaged(submission, reference) -> bool:
    (_, dw, _), (_, right, _), n = _affine(submission, reference)
    return wrong_not_right(dw, right / n, right, PROBE_RTOL)


def _relu_dx(submission, x, dout):
    _, cache = submission.relu_forward(x.copy())
    return submission.relu_backward(dout.copy(), cache)


def relu_grad_at_zero(submission, reference) -> bool:
    x, dout = _inputs()
    x[::2, ::2] = 0.0
    return wrong_not_right(_relu_dx(submission, x, dout), dout * (x >= 0), dout * (x > 0), PROBE_RTOL)


def relu_no_mask(submission, reference) -> bool:
    x, dout = _inputs()
    return wrong_not_right(_relu_dx(submission, x, dout), dout, dout * (x > 0), PROBE_RTOL)


def sigmoid_missing_factor(submission, reference) -> bool:
    x, dout = _inputs()
    _, cache = submission.sigmoid_forward(x.copy())
    dx = submission.sigmoid_backward(dout.copy(), cache)
    s = reference.sigmoid_forward(x)[0]
    return wrong_not_right(dx, dout * s, dout * s * (1 - s), PROBE_RTOL)


def sigmoid_overflow_nan(submission, reference) -> bool:
    """exp(x) / (1 + exp(x)): right for moderate x, NaN (inf / inf) for large positive x."""
    x = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    big = np.array([[-1000.0, -50.0, 50.0, 800.0, 1000.0]])
    ok = same(submission.sigmoid_forward(x.copy())[0], reference.sigmoid_forward(x)[0], PROBE_RTOL)
    out = as_float64(submission.sigmoid_forward(big.copy())[0])
    with np.errstate(all="ignore"):
        wrong = np.exp(big) / (1.0 + np.exp(big))
    return ok and out is not None and out.shape == big.shape and bool(
        (np.isnan(out) == np.isnan(wrong)).all() and np.isnan(out).any())


def tanh_uses_output(submission, reference) -> bool:
    x, dout = _inputs()
    _, cache = submission.tanh_forward(x.copy())
    dx = submission.tanh_backward(dout.copy(), cache)
    t = np.tanh(x)
    return wrong_not_right(dx, dout * t, dout * (1 - t**2), PROBE_RTOL)


def _softmax(submission, reference, scale=2.0, offset=0.0):
    rng = np.random.default_rng(13)
    scores = scale * rng.standard_normal((6, 5)) + offset
    y = rng.integers(0, 5, size=6)
    loss, dscores = submission.softmax_loss(scores.copy(), y.copy())
    ref_loss, ref_dscores = reference.softmax_loss(scores, y)
    return loss, dscores, ref_loss, ref_dscores, scores.shape[0]


def loss_summed(submission, reference) -> bool:
    loss, _, right, _, n = _softmax(submission, reference)
    return wrong_not_right(loss, right * n, right, PROBE_RTOL)


def dscores_not_averaged(submission, reference) -> bool:
    _, dscores, _, right, n = _softmax(submission, reference)
    return wrong_not_right(dscores, right * n, right, PROBE_RTOL)


def softmax_no_shift(submission, reference) -> bool:
    """Right for moderate scores; non-finite (exp overflows) for scores around 1000."""
    loss, dscores, ref_loss, ref_dscores, _ = _softmax(submission, reference)
    if not (same(loss, ref_loss, PROBE_RTOL) and same(dscores, ref_dscores, PROBE_RTOL)):
        return False
    loss, dscores, *_ = _softmax(submission, reference, offset=1000.0)
    values = [as_float64(loss), as_float64(dscores)]
    return all(v is not None for v in values) and not all(np.isfinite(v).all() for v in values)


MISCONCEPTIONS = [
    Misconception(
        "db_averaged", "averaged db over the batch instead of summing it",
        "b is added to every row of the batch, so each row's upstream gradient reaches b in full: "
        "its gradient is the sum over the batch. Dividing by N belongs to the loss (the mean over "
        "examples), which already did it.",
        AFFINE, db_averaged),
    Misconception(
        "dw_averaged", "averaged dw over the batch instead of summing it",
        "Every example contributes its own outer product to dw, and they add up. The 1/N of the mean "
        "loss is already inside dout; dividing again counts it twice.",
        AFFINE, dw_averaged),
    Misconception(
        "relu_grad_at_zero", "let ReLU's gradient through at x == 0",
        "ReLU has a kink at 0; this course uses the convention that its derivative there is 0. "
        "Gradient should flow only where the input was strictly positive.",
        RELU, relu_grad_at_zero),
    Misconception(
        "relu_no_mask", "passed the upstream gradient through ReLU unchanged",
        "ReLU's derivative is 0 wherever the input was negative: those units did not affect the "
        "output, so they receive no gradient. Keep what the forward pass needs to know where.",
        RELU, relu_no_mask),
    Misconception(
        "sigmoid_missing_factor", "used s instead of s(1 - s) as the sigmoid's derivative",
        "Differentiate 1 / (1 + e^-x) once more: the derivative is the output times one minus the "
        "output, which is at most 1/4.",
        SIGMOID, sigmoid_missing_factor),
    Misconception(
        "sigmoid_overflow_nan", "computed the sigmoid as exp(x) / (1 + exp(x)) for every x",
        "For large positive x, exp(x) overflows to inf and inf / inf is NaN. Use a form that only "
        "ever takes exp of a non-positive number, choosing it by the sign of x.",
        ("test_sigmoid_extreme_inputs", "test_sigmoid_no_overflow"), sigmoid_overflow_nan),
    Misconception(
        "tanh_uses_output", "used tanh(x) instead of 1 - tanh(x)^2 as tanh's derivative",
        "The derivative of tanh is 1 minus the square of its output; the output itself is not the slope.",
        TANH, tanh_uses_output),
    Misconception(
        "loss_summed", "summed the loss over the batch instead of averaging it",
        "The loss is the mean over the N examples, so that its size does not depend on the batch size.",
        SOFTMAX + ("test_two_layer_net_loss", "test_two_layer_net_loss_with_reg"), loss_summed),
    Misconception(
        "dscores_not_averaged", "forgot to divide dscores by N",
        "The loss is a mean over N examples, so each example's gradient carries a factor 1/N.",
        SOFTMAX, dscores_not_averaged),
    Misconception(
        "softmax_no_shift", "took exp of the raw scores in softmax",
        "exp(1000) overflows. Softmax does not change when the same number is subtracted from every "
        "score of a row, so subtract the row's largest score first.",
        SOFTMAX, softmax_no_shift),
]
