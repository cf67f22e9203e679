"""The optim assignment's misconceptions (judge-side; never shipped to students).

Update-rule probes take one or two steps of the student's rule on fixed, seeded float64
weights and gradients and compare with the named wrong formula, computed here, within
PROBE_RTOL (CS231n relative error; the same float64 expression up to order), requiring it to
differ from torch.optim's (the reference's) beyond that. Mini-batch probes read which rows
and labels came out, exactly. At most two calls into the notebook per probe. See
docs/authoring.md, "Misconceptions".
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, as_float64, same, wrong_not_right

PROBE_RTOL = 1e-7
LR, MU, WD = 0.1, 0.9, 0.3

SGD = ("test_sgd_matches_torch", "test_sgd_weight_decay", "test_sgd_defaults", "test_sgd_small")
MOMENTUM = ("test_sgd_momentum_matches_torch", "test_sgd_momentum_weight_decay", "test_sgd_momentum_nesterov",
            "test_sgd_momentum_defaults", "test_sgd_momentum_small")
RMSPROP = ("test_rmsprop_matches_torch", "test_rmsprop_weight_decay", "test_rmsprop_small_gradients",
           "test_rmsprop_defaults", "test_rmsprop_small")
ADAM = ("test_adam_matches_torch", "test_adam_bias_correction", "test_adam_weight_decay",
        "test_adam_small_gradients", "test_adam_defaults", "test_adam_small")
MINIBATCHES = ("test_minibatches_in_order", "test_minibatches_last_batch", "test_minibatches_shuffled",
               "test_minibatches_new_order_each_epoch", "test_minibatches_stochastic_and_full_batch",
               "test_minibatches_small")


def _case(seed=5, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4, 3)), scale * rng.standard_normal((4, 3)), scale * rng.standard_normal((4, 3))


def _step(rule, w, dw, config):
    """(next_w, config) of one step of the student's `rule`; config is the one returned."""
    out = rule(w.copy(), dw.copy(), config)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        return None, {}
    return as_float64(out[0]), out[1]


def sgd_weight_decay_ignored(submission, reference) -> bool:
    w, dw, _ = _case()
    next_w, _ = _step(submission.sgd, w, dw, {"learning_rate": LR, "weight_decay": WD})
    return wrong_not_right(next_w, w - LR * dw, w - LR * (dw + WD * w), PROBE_RTOL)


def momentum_cs231n(submission, reference) -> bool:
    """v = mu * v - lr * g (the learning rate inside the velocity), w + v."""
    w, dw, _ = _case()
    _, config = _step(submission.sgd_momentum, w, dw, {"learning_rate": LR, "momentum": MU})
    return wrong_not_right(config.get("velocity"), -LR * dw, dw, PROBE_RTOL)


def nesterov_ignored(submission, reference) -> bool:
    w, dw, _ = _case()
    next_w, config = _step(submission.sgd_momentum, w, dw, {"learning_rate": LR, "momentum": MU, "nesterov": True})
    # the velocity itself right: a CS231n-style velocity (another misconception) ignores nesterov too
    return same(config.get("velocity"), dw, PROBE_RTOL) and wrong_not_right(
        next_w, w - LR * dw, w - LR * (dw + MU * dw), PROBE_RTOL)


def momentum_velocity_not_carried(submission, reference) -> bool:
    w, dw1, dw2 = _case()
    w1, config = _step(submission.sgd_momentum, w, dw1, {"learning_rate": LR, "momentum": MU})
    if not same(w1, w - LR * dw1, PROBE_RTOL):
        return False
    w2, _ = _step(submission.sgd_momentum, w1, dw2, config)
    return wrong_not_right(w2, w1 - LR * dw2, w1 - LR * (MU * dw1 + dw2), PROBE_RTOL)


def rmsprop_eps_inside_sqrt(submission, reference) -> bool:
    """Small gradients (1e-3) and eps 1e-4: sqrt(s + eps) is about 100 times sqrt(s) + eps."""
    w, dw, _ = _case(scale=1e-3)
    config = {"learning_rate": 0.01, "alpha": 0.99, "eps": 1e-4}
    next_w, _ = _step(submission.rmsprop, w, dw, dict(config))
    s = 0.01 * dw * dw
    return wrong_not_right(next_w, w - 0.01 * dw / np.sqrt(s + 1e-4), w - 0.01 * dw / (np.sqrt(s) + 1e-4), PROBE_RTOL)


def rmsprop_square_avg_not_carried(submission, reference) -> bool:
    w, dw1, dw2 = _case()
    w1, config = _step(submission.rmsprop, w, dw1, {"learning_rate": 0.01, "alpha": 0.9, "eps": 1e-8})
    s1 = 0.1 * dw1 * dw1
    if not same(w1, w - 0.01 * dw1 / (np.sqrt(s1) + 1e-8), PROBE_RTOL):
        return False
    w2, _ = _step(submission.rmsprop, w1, dw2, config)
    fresh, carried = 0.1 * dw2 * dw2, 0.9 * s1 + 0.1 * dw2 * dw2
    return wrong_not_right(w2, w1 - 0.01 * dw2 / (np.sqrt(fresh) + 1e-8),
                           w1 - 0.01 * dw2 / (np.sqrt(carried) + 1e-8), PROBE_RTOL)


def _adam(w, g, m, v, t, lr=LR, b1=0.9, b2=0.999, eps=1e-8, correct=True, decoupled=0.0):
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
    return w - lr * (m_hat / (np.sqrt(v_hat) + eps) + decoupled * w), m, v


def adam_no_bias_correction(submission, reference) -> bool:
    w, dw, _ = _case()
    next_w, _ = _step(submission.adam, w, dw, {"learning_rate": LR})
    zero = np.zeros_like(w)
    return wrong_not_right(next_w, _adam(w, dw, zero, zero, 1, correct=False)[0], _adam(w, dw, zero, zero, 1)[0],
                           PROBE_RTOL)


def adam_decoupled_weight_decay(submission, reference) -> bool:
    """AdamW's decay (w shrunk after the step) where torch.optim.Adam adds WD * w to the gradient."""
    w, dw, _ = _case()
    next_w, _ = _step(submission.adam, w, dw, {"learning_rate": LR, "weight_decay": WD})
    zero = np.zeros_like(w)
    return wrong_not_right(next_w, _adam(w, dw, zero, zero, 1, decoupled=WD)[0],
                           _adam(w, dw + WD * w, zero, zero, 1)[0], PROBE_RTOL)


def adam_step_count_not_stored(submission, reference) -> bool:
    """Every step bias-corrected as if it were the first (t not kept in config)."""
    w, dw1, dw2 = _case()
    zero = np.zeros_like(w)
    w1, config = _step(submission.adam, w, dw1, {"learning_rate": LR})
    right1, m, v = _adam(w, dw1, zero, zero, 1)
    if not same(w1, right1, PROBE_RTOL):
        return False
    w2, _ = _step(submission.adam, w1, dw2, config)
    return wrong_not_right(w2, _adam(w1, dw2, m, v, 1)[0], _adam(w1, dw2, m, v, 2)[0], PROBE_RTOL)


def _data(n):
    return 1000.0 * np.arange(n)[:, None] + np.arange(3)[None, :], np.arange(n)


def _batches(submission, n, batch_size, rng=None):
    """[(rows, labels)] as integer arrays, or None when the output is not a list of array pairs."""
    X, y = _data(n)
    items = list(submission.minibatches(X.copy(), y.copy(), batch_size, rng))
    out = []
    for item in items[:n + 1]:
        if not (isinstance(item, tuple) and len(item) == 2):
            return None
        xb, yb = as_float64(item[0]), as_float64(item[1])
        if xb is None or yb is None or xb.ndim != 2 or yb.ndim != 1:
            return None
        out.append(((xb[:, 0] // 1000).astype(int), yb.astype(int)))
    return out


def minibatches_drop_last(submission, reference) -> bool:
    """In order, N = 23 in batches of 5: exactly the four full batches, the 3 rows left over gone."""
    got = _batches(submission, 23, 5)
    return got is not None and len(got) == 4 and all(
        np.array_equal(rows, np.arange(5 * i, 5 * i + 5)) and np.array_equal(labels, rows)
        for i, (rows, labels) in enumerate(got))


def minibatches_shuffle_separately(submission, reference) -> bool:
    """Shuffled: every row once and every label once, but labels no longer with their rows."""
    got = _batches(submission, 37, 8, submission.np.random.default_rng(3))
    if not got:
        return False
    rows = np.concatenate([r for r, _ in got])
    labels = np.concatenate([lab for _, lab in got])
    every = np.arange(37)
    return bool(np.array_equal(np.sort(rows), every) and np.array_equal(np.sort(labels), every)
                and np.mean(rows != labels) > 0.5)


MISCONCEPTIONS = [
    Misconception(
        "sgd_weight_decay_ignored", "left weight decay out of the SGD step",
        "Weight decay is an L2 penalty on the weights: its gradient, weight_decay * w, is added to dw "
        "before the step.",
        SGD, sgd_weight_decay_ignored),
    Misconception(
        "momentum_cs231n", "put the learning rate inside the velocity (v = mu v - lr g)",
        "This assignment follows torch.optim: the velocity accumulates gradients (v = momentum v + g) "
        "and the learning rate scales the step. The two forms agree only while the rate stays fixed.",
        MOMENTUM, momentum_cs231n),
    Misconception(
        "nesterov_ignored", "took the plain momentum step when nesterov is set",
        "Nesterov momentum looks ahead: it steps along the gradient plus momentum times the new velocity.",
        MOMENTUM, nesterov_ignored),
    Misconception(
        "momentum_velocity_not_carried", "started from a fresh velocity at every step",
        "Momentum needs memory: read the velocity saved in config by the previous step, and save the "
        "new one, or every step is plain SGD.",
        MOMENTUM, momentum_velocity_not_carried),
    Misconception(
        "rmsprop_eps_inside_sqrt", "added eps inside the square root in RMSProp",
        "torch.optim adds eps to the root mean square, outside the square root. Inside, it dominates "
        "for small gradients and shrinks the steps.",
        RMSPROP, rmsprop_eps_inside_sqrt),
    Misconception(
        "rmsprop_square_avg_not_carried", "started the squared-gradient average from zero at every step",
        "RMSProp's running average of squared gradients must persist across steps in config; "
        "otherwise it only ever sees the current gradient.",
        RMSPROP, rmsprop_square_avg_not_carried),
    Misconception(
        "adam_no_bias_correction", "left out Adam's bias correction",
        "m and v start at zero, so early on they underestimate the averages; dividing by 1 - beta^t "
        "corrects that. Without it the first steps are far too small.",
        ADAM, adam_no_bias_correction),
    Misconception(
        "adam_decoupled_weight_decay", "applied AdamW's decoupled weight decay in Adam",
        "torch.optim.Adam adds weight_decay * w to the gradient before the moments (L2 regularisation); "
        "decaying the weights separately after the step is AdamW, a different optimizer.",
        ADAM, adam_decoupled_weight_decay),
    Misconception(
        "adam_step_count_not_stored", "did not keep Adam's step count t between steps",
        "The bias correction depends on how many steps were taken; store t in config and count it up, "
        "or every step is corrected as if it were the first.",
        ADAM, adam_step_count_not_stored),
    Misconception(
        "minibatches_drop_last", "dropped the last, partial mini-batch",
        "Every example should be seen once per epoch: when N is not a multiple of the batch size, the "
        "last batch holds the rows left over.",
        MINIBATCHES, minibatches_drop_last),
    Misconception(
        "minibatches_shuffle_separately", "shuffled X and y with different orders",
        "A label belongs to its row: shuffle by drawing one permutation and index X and y with it.",
        MINIBATCHES, minibatches_shuffle_separately),
]
