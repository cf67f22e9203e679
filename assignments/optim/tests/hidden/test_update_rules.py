"""Hidden tests: the four update rules against torch.optim, step by step, in float64 (judge side).

For each run the judge draws a parameter and a sequence of gradients, gives them to the
student's rule (through its CS231n API, the returned config passed back at the next step)
and to the matching torch.optim optimizer (p.grad set to the same gradient, then step()),
and compares after EVERY step the parameter and the optimizer's state: velocity with
SGD's momentum_buffer, square_avg with RMSprop's, m / v / t with Adam's exp_avg /
exp_avg_sq / step. Runs change the learning rate halfway (as a schedule would, through
config["learning_rate"] and param_groups[0]["lr"]), and have weight decay off and on.

Tolerance: the same float64 formulas with another operation order; after tens of steps the
parameters agree to about 1e-14 relative, so RTOL = 1e-9 leaves a wide margin and still
sees eps inside the square root or a missing bias correction.
"""

import numpy as np
import pytest
import torch

from grader.course.testing import assert_close

RTOL, ATOL = 1e-9, 1e-12

#: student config key -> torch state key, per rule
STATE = {
    "sgd": {},
    "sgd_momentum": {"velocity": "momentum_buffer"},
    "rmsprop": {"square_avg": "square_avg"},
    "adam": {"m": "exp_avg", "v": "exp_avg_sq"},
}
DEFAULTS = {
    "sgd": {"learning_rate": 1e-3, "weight_decay": 0.0},
    "sgd_momentum": {"learning_rate": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False},
    "rmsprop": {"learning_rate": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
}


def _torch_optimizer(rule, p, s):
    if rule == "sgd":
        return torch.optim.SGD([p], lr=s["learning_rate"], weight_decay=s["weight_decay"])
    if rule == "sgd_momentum":
        return torch.optim.SGD([p], lr=s["learning_rate"], momentum=s["momentum"],
                               weight_decay=s["weight_decay"], nesterov=s["nesterov"])
    if rule == "rmsprop":
        return torch.optim.RMSprop([p], lr=s["learning_rate"], alpha=s["alpha"], eps=s["eps"],
                                   weight_decay=s["weight_decay"])
    return torch.optim.Adam([p], lr=s["learning_rate"], betas=(s["beta1"], s["beta2"]), eps=s["eps"],
                            weight_decay=s["weight_decay"])


def _student_step(submission, rule, w, dw, config, what):
    got = getattr(submission, rule)(w.copy(), dw.copy(), config)
    assert isinstance(got, tuple) and len(got) == 2, (
        f"{rule}(w, dw, config) must return (next_w, config), got {type(got).__name__}"
    )
    next_w, config = got
    assert isinstance(config, dict), f"{what}: {rule} returned a config of type {type(config).__name__}, expected a dict"
    return next_w, config


def run_against_torch(submission, rule, rng, *, steps, settings=None, shape=(4, 5), lr_from=None,
                      grad_scale=1.0, label="", hint=""):
    """Run `steps` steps of the student's `rule` and of torch.optim side by side; assert after each.

    settings: the hyperparameters (merged over DEFAULTS); None: the student's rule gets
    config=None on the first call and must fill in the defaults itself.
    lr_from: (step, new learning rate) from that step on.
    """
    use_defaults = settings is None
    s = {**DEFAULTS[rule], **(settings or {})}
    w0 = rng.standard_normal(shape)
    grads = [grad_scale * rng.standard_normal(shape) for _ in range(steps)]
    p = torch.tensor(w0.copy(), dtype=torch.float64, requires_grad=True)
    opt = _torch_optimizer(rule, p, s)
    config = None if use_defaults else dict(s)
    w = w0.copy()
    for step, g in enumerate(grads, 1):
        what = f"{rule} step {step} of {steps}{label}"
        if lr_from is not None and step == lr_from[0]:
            config["learning_rate"] = lr_from[1]
            opt.param_groups[0]["lr"] = lr_from[1]
        w, config = _student_step(submission, rule, w, g, config, what)
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        assert_close(w, p.detach().numpy(), rtol=RTOL, atol=ATOL, name=f"next_w after {what}{hint}")
        state = opt.state[p]
        for ours, theirs in STATE[rule].items():
            assert_close(config.get(ours), state[theirs].numpy(), rtol=RTOL, atol=ATOL,
                         name=f"config['{ours}'] after {what} (torch.optim's {theirs})")
        if rule == "adam":
            t = config.get("t")
            assert isinstance(t, (int, np.integer)) and int(t) == step, (
                f"config['t'] after {what}: {t!r}, expected {step} (the number of steps taken)"
            )
        w = np.asarray(w, dtype=np.float64)


# --------------------------------------------------------------------------- SGD


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_sgd_matches_torch(submission, rng):
    """sgd agrees with torch.optim.SGD after every one of 20 steps (the learning rate changes at step 11)."""
    run_against_torch(submission, "sgd", rng, steps=20, settings={"learning_rate": 0.05},
                      lr_from=(11, 0.2), label=" (learning_rate 0.05, 0.2 from step 11)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_weight_decay(submission, rng):
    """sgd with weight_decay adds weight_decay * w to the gradient (torch.optim.SGD)."""
    run_against_torch(submission, "sgd", rng, steps=10, settings={"learning_rate": 0.1, "weight_decay": 0.3},
                      label=" (weight_decay 0.3)", hint="; the gradient is dw + weight_decay * w")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_defaults(submission, rng):
    """sgd(w, dw) with config None uses learning_rate 1e-3 and no weight decay."""
    run_against_torch(submission, "sgd", rng, steps=3, label=" (config=None: the defaults)")


# --------------------------------------------------------------------------- momentum


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_sgd_momentum_matches_torch(submission, rng):
    """sgd_momentum agrees with torch.optim.SGD(momentum=0.8) over 30 steps, its velocity with momentum_buffer (lr changes at step 16)."""
    run_against_torch(submission, "sgd_momentum", rng, steps=30,
                      settings={"learning_rate": 0.02, "momentum": 0.8}, lr_from=(16, 0.1),
                      label=" (momentum 0.8, learning_rate 0.02, 0.1 from step 16)",
                      hint="; PyTorch's convention: v = momentum * v + dw, w -= learning_rate * v")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_momentum_weight_decay(submission, rng):
    """sgd_momentum with weight_decay: the decayed gradient goes into the velocity (torch.optim.SGD)."""
    run_against_torch(submission, "sgd_momentum", rng, steps=15,
                      settings={"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.2},
                      label=" (momentum 0.9, weight_decay 0.2)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_momentum_nesterov(submission, rng):
    """sgd_momentum with nesterov=True steps along dw + momentum * v (torch.optim.SGD(nesterov=True))."""
    run_against_torch(submission, "sgd_momentum", rng, steps=15,
                      settings={"learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
                      label=" (nesterov, momentum 0.9)", hint="; Nesterov steps along g + momentum * v")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sgd_momentum_defaults(submission, rng):
    """sgd_momentum(w, dw) with config None uses learning_rate 1e-3 and momentum 0.9."""
    run_against_torch(submission, "sgd_momentum", rng, steps=5, label=" (config=None: the defaults)")


# --------------------------------------------------------------------------- RMSProp


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_rmsprop_matches_torch(submission, rng):
    """rmsprop agrees with torch.optim.RMSprop over 30 steps, square_avg included (lr changes at step 16)."""
    run_against_torch(submission, "rmsprop", rng, steps=30, settings={"learning_rate": 0.01, "alpha": 0.9},
                      lr_from=(16, 0.003), label=" (alpha 0.9, learning_rate 0.01, 0.003 from step 16)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rmsprop_weight_decay(submission, rng):
    """rmsprop with weight_decay adds weight_decay * w to the gradient before squaring it."""
    run_against_torch(submission, "rmsprop", rng, steps=15,
                      settings={"learning_rate": 0.01, "weight_decay": 0.5}, label=" (weight_decay 0.5)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rmsprop_small_gradients(submission, rng):
    """rmsprop with gradients of size 1e-7, where eps matters: eps is added to sqrt(square_avg)."""
    run_against_torch(submission, "rmsprop", rng, steps=10, settings={"learning_rate": 0.01},
                      grad_scale=1e-7, label=" (gradients of size 1e-7)",
                      hint="; eps goes outside the square root: g / (sqrt(s) + eps)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_rmsprop_defaults(submission, rng):
    """rmsprop(w, dw) with config None uses learning_rate 1e-2, alpha 0.99, eps 1e-8."""
    run_against_torch(submission, "rmsprop", rng, steps=5, label=" (config=None: the defaults)")


# --------------------------------------------------------------------------- Adam


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_adam_matches_torch(submission, rng):
    """adam agrees with torch.optim.Adam over 40 steps, m, v and t included (lr changes at step 21)."""
    run_against_torch(submission, "adam", rng, steps=40,
                      settings={"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99},
                      lr_from=(21, 0.05), label=" (beta1 0.8, beta2 0.99, learning_rate 0.01, 0.05 from step 21)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_adam_bias_correction(submission, rng):
    """adam's first steps are bias-corrected: m / (1 - beta1**t) and v / (1 - beta2**t), with t = 1 on the first step."""
    run_against_torch(submission, "adam", rng, steps=3, settings={"learning_rate": 0.1},
                      label=" (learning_rate 0.1)",
                      hint="; with bias correction the first step moves each weight by about learning_rate")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_adam_weight_decay(submission, rng):
    """adam with weight_decay adds weight_decay * w to the gradient (torch.optim.Adam, not AdamW)."""
    run_against_torch(submission, "adam", rng, steps=15,
                      settings={"learning_rate": 0.01, "weight_decay": 0.1}, label=" (weight_decay 0.1)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_adam_small_gradients(submission, rng):
    """adam with gradients of size 1e-7, where eps matters: eps is added to sqrt(v_hat)."""
    run_against_torch(submission, "adam", rng, steps=10, settings={"learning_rate": 0.01},
                      grad_scale=1e-7, label=" (gradients of size 1e-7)",
                      hint="; eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_adam_defaults(submission, rng):
    """adam(w, dw) with config None uses learning_rate 1e-3, betas 0.9 and 0.999, eps 1e-8."""
    run_against_torch(submission, "adam", rng, steps=5, label=" (config=None: the defaults)")
