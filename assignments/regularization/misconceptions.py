"""The regularization assignment's misconceptions (judge-side; never shipped to students).

Probes call the student's dropout and batch-norm functions on fixed, seeded float64 inputs
and compare with the named wrong formula within PROBE_RTOL (CS231n relative error; the same
float64 expression up to summation order), requiring the wrong and right formulas to differ
beyond it. Dropout's mask is the student's own draw: probes read it back from their output
(inputs are never 0). At most four calls into the notebook per probe. See docs/authoring.md.
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, as_float64, same, wrong_not_right

PROBE_RTOL = 1e-7
P = 0.25

DROPOUT_FWD = ("test_dropout_kept_fraction", "test_dropout_kept_scaling", "test_dropout_mean_preserved",
               "test_dropout_test_mode_identity", "test_dropout_small")
DROPOUT_BWD = ("test_dropout_backward", "test_dropout_backward_numeric", "test_dropout_backward_small")
BN_FWD = ("test_batchnorm_forward_train", "test_batchnorm_defaults", "test_batchnorm_forward_small",
          "test_batchnorm_running_mean", "test_batchnorm_running_var", "test_batchnorm_test_mode")
BN_BWD = ("test_batchnorm_backward_dx", "test_batchnorm_backward_dgamma", "test_batchnorm_backward_numeric",
          "test_batchnorm_backward_small")


def _x(shape=(40, 50), seed=3):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(x >= 0, x + 0.1, x - 0.1)  # never 0, so a dropped unit reads as out == 0


def _dropout(submission, x, mode, p=P):
    out, cache = submission.dropout_forward(x.copy(), {"p": p, "mode": mode, "seed": 5})
    return as_float64(out), cache


def _train_unscaled(submission) -> bool:
    """Train mode keeps about 1 - p of the units, unscaled (out = x where kept)."""
    x = _x()
    out, _ = _dropout(submission, x, "train")
    if out is None or out.shape != x.shape:
        return False
    kept = out != 0
    return abs(kept.mean() - (1 - P)) < 0.05 and wrong_not_right(out, x * kept, x * kept / (1 - P), PROBE_RTOL)


def dropout_not_inverted(submission, reference) -> bool:
    x = _x()
    test, _ = _dropout(submission, x, "test")
    return _train_unscaled(submission) and wrong_not_right(test, x * (1 - P), x, PROBE_RTOL)


def dropout_not_scaled(submission, reference) -> bool:
    x = _x()
    test, _ = _dropout(submission, x, "test")
    return _train_unscaled(submission) and same(test, x, PROBE_RTOL)


def dropout_p_keeps(submission, reference) -> bool:
    x = _x()
    out, _ = _dropout(submission, x, "train")
    if out is None or out.shape != x.shape:
        return False
    kept = out != 0
    return abs(kept.mean() - P) < 0.05 and wrong_not_right(out, x * kept / P, x * kept / (1 - P), PROBE_RTOL)


def dropout_backward_unscaled(submission, reference) -> bool:
    x = _x()
    out, cache = _dropout(submission, x, "train")
    if out is None or out.shape != x.shape:
        return False
    kept = out != 0
    if not same(out, x * kept / (1 - P), PROBE_RTOL):
        return False  # an unscaled forward pass: its unscaled backward is consistent, not this mistake
    dout = np.random.default_rng(8).standard_normal(x.shape)
    dx = submission.dropout_backward(dout.copy(), cache)
    return wrong_not_right(dx, dout * kept, dout * kept / (1 - P), PROBE_RTOL)


# ----------------------------------------------------------------------------- batch norm

EPS, MOMENTUM = 1e-2, 0.3


def _bn_inputs():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((6, 4)) * np.array([0.05, 0.5, 1.0, 3.0]) + rng.standard_normal(4)
    return x, rng.standard_normal(4) + 1.5, rng.standard_normal(4), rng.standard_normal((6, 4))


def _bn_train(submission, running=False):
    x, gamma, beta, _ = _bn_inputs()
    param = {"mode": "train", "eps": EPS, "momentum": MOMENTUM}
    if running:
        param.update(running_mean=np.full(4, 0.7), running_var=np.full(4, 2.5))
    out, cache = submission.batchnorm_forward(x.copy(), gamma.copy(), beta.copy(), param)
    return out, cache, param, x, gamma, beta


def _norm(x, gamma, beta, mean, var, eps=EPS, outside=False):
    return gamma * (x - mean) / ((np.sqrt(var) + eps) if outside else np.sqrt(var + eps)) + beta


def bn_unbiased_normalise(submission, reference) -> bool:
    out, _, _, x, gamma, beta = _bn_train(submission)
    right = _norm(x, gamma, beta, x.mean(0), x.var(0))
    return wrong_not_right(out, _norm(x, gamma, beta, x.mean(0), x.var(0, ddof=1)), right, PROBE_RTOL)


def bn_eps_outside_sqrt(submission, reference) -> bool:
    out, _, _, x, gamma, beta = _bn_train(submission)
    right = _norm(x, gamma, beta, x.mean(0), x.var(0))
    return wrong_not_right(out, _norm(x, gamma, beta, x.mean(0), x.var(0), outside=True), right, PROBE_RTOL)


def bn_running_stats_in_train(submission, reference) -> bool:
    out, _, _, x, gamma, beta = _bn_train(submission, running=True)
    right = _norm(x, gamma, beta, x.mean(0), x.var(0))
    return wrong_not_right(out, _norm(x, gamma, beta, 0.7, 2.5), right, PROBE_RTOL)


def bn_running_var_biased(submission, reference) -> bool:
    _, _, param, x, _, _ = _bn_train(submission)
    n = x.shape[0]
    wrong = (1 - MOMENTUM) + MOMENTUM * x.var(0)
    right = (1 - MOMENTUM) + MOMENTUM * x.var(0) * n / (n - 1)
    return (same(param.get("running_mean"), MOMENTUM * x.mean(0), PROBE_RTOL)
            and wrong_not_right(param.get("running_var"), wrong, right, PROBE_RTOL))


def bn_momentum_reversed(submission, reference) -> bool:
    _, _, param, x, _, _ = _bn_train(submission)
    return wrong_not_right(param.get("running_mean"), (1 - MOMENTUM) * x.mean(0), MOMENTUM * x.mean(0), PROBE_RTOL)


def bn_batch_stats_in_test(submission, reference) -> bool:
    x, gamma, beta, _ = _bn_inputs()
    param = {"mode": "test", "eps": EPS, "running_mean": np.full(4, 0.7), "running_var": np.full(4, 2.5)}
    out, _ = submission.batchnorm_forward(x.copy(), gamma.copy(), beta.copy(), param)
    right = _norm(x, gamma, beta, 0.7, 2.5)
    return wrong_not_right(out, _norm(x, gamma, beta, x.mean(0), x.var(0)), right, PROBE_RTOL)


def _bn_backward(submission, reference):
    x, gamma, beta, dout = _bn_inputs()
    _, cache = submission.batchnorm_forward(x.copy(), gamma.copy(), beta.copy(), {"mode": "train", "eps": EPS})
    got = submission.batchnorm_backward(dout.copy(), cache)
    right = reference.batchnorm_backward(dout, reference.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": EPS})[1])
    return got, right, x, gamma, dout


def bn_dgamma_times_gamma(submission, reference) -> bool:
    (_, dgamma, _), (_, right, _), x, gamma, dout = _bn_backward(submission, reference)
    return wrong_not_right(dgamma, right * gamma, right, PROBE_RTOL)


def bn_dx_local_only(submission, reference) -> bool:
    (dx, _, _), (right, _, _), x, gamma, dout = _bn_backward(submission, reference)
    return wrong_not_right(dx, dout * gamma / np.sqrt(x.var(0) + EPS), right, PROBE_RTOL)


MISCONCEPTIONS = [
    Misconception(
        "dropout_not_inverted", "scaled by 1 - p at test time instead of by 1 / (1 - p) at train time",
        "That is the original dropout. With inverted dropout the scaling happens while training, so "
        "that test mode is the identity and the expected activation is the same in both modes.",
        DROPOUT_FWD, dropout_not_inverted),
    Misconception(
        "dropout_not_scaled", "kept units unscaled in train-mode dropout",
        "Dropping a fraction p of the units shrinks the expected activation by 1 - p. Inverted dropout "
        "divides the kept units by 1 - p so that the expectation matches test mode.",
        DROPOUT_FWD, dropout_not_scaled),
    Misconception(
        "dropout_p_keeps", "used p as the probability of keeping a unit",
        "Here p is the probability of dropping a unit: a unit is kept with probability 1 - p.",
        DROPOUT_FWD, dropout_p_keeps),
    Misconception(
        "dropout_backward_unscaled", "left the 1 / (1 - p) scale out of dropout's backward pass",
        "The forward pass multiplies by the scaled mask, so the gradient is multiplied by the same "
        "scaled mask, not just by which units were kept.",
        DROPOUT_BWD, dropout_backward_unscaled),
    Misconception(
        "bn_unbiased_normalise", "normalised with the unbiased (N - 1) variance in batch norm's training mode",
        "Batch norm normalises each batch by its own spread, the biased variance (divide by N); the "
        "unbiased estimate belongs only to the running variance kept for test time.",
        BN_FWD + BN_BWD, bn_unbiased_normalise),
    Misconception(
        "bn_eps_outside_sqrt", "added eps outside the square root",
        "eps guards the variance: divide by sqrt(var + eps). Adding it to the standard deviation "
        "gives another function, and the difference is large for small variances.",
        BN_FWD + BN_BWD, bn_eps_outside_sqrt),
    Misconception(
        "bn_running_stats_in_train", "normalised with the running statistics in training mode",
        "In training mode batch norm normalises with the current batch's mean and variance, and only "
        "updates the running statistics; they are used in test mode.",
        BN_FWD + BN_BWD, bn_running_stats_in_train),
    Misconception(
        "bn_running_var_biased", "tracked the biased batch variance in the running variance",
        "The running variance estimates the population's variance, so it is updated with the unbiased "
        "batch variance (N / (N - 1) times the biased one), as PyTorch does.",
        BN_FWD, bn_running_var_biased),
    Misconception(
        "bn_momentum_reversed", "weighted the running average with 1 - momentum on the new batch",
        "With PyTorch's convention, momentum is the weight of the new batch statistics: "
        "running = (1 - momentum) * running + momentum * batch.",
        BN_FWD, bn_momentum_reversed),
    Misconception(
        "bn_batch_stats_in_test", "normalised with the batch's own statistics in test mode",
        "At test time the output for one example must not depend on the rest of the batch: use the "
        "running mean and variance gathered during training.",
        BN_FWD, bn_batch_stats_in_test),
    Misconception(
        "bn_dgamma_times_gamma", "multiplied dgamma by gamma",
        "gamma multiplies the normalised input, so d out / d gamma is that normalised input; gamma "
        "itself does not appear in its own gradient.",
        BN_BWD, bn_dgamma_times_gamma),
    Misconception(
        "bn_dx_local_only", "treated the batch mean and variance as constants in dx",
        "Every input also moves the batch mean and variance, which every output uses; the gradient "
        "has two more terms that come through them.",
        BN_BWD, bn_dx_local_only),
]
