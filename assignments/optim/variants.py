"""The optim assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_optim_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case, combine

MOMENTUM_TESTS = ("test_sgd_momentum_matches_torch", "test_sgd_momentum_weight_decay",
                  "test_sgd_momentum_nesterov", "test_sgd_momentum_defaults")
RMSPROP_TESTS = ("test_rmsprop_matches_torch", "test_rmsprop_weight_decay", "test_rmsprop_small_gradients",
                 "test_rmsprop_defaults")
ADAM_TESTS = ("test_adam_matches_torch", "test_adam_bias_correction", "test_adam_weight_decay",
              "test_adam_small_gradients", "test_adam_defaults")
MINIBATCH_SHUFFLED = ("test_minibatches_shuffled", "test_minibatches_new_order_each_epoch",
                      "test_minibatches_stochastic_and_full_batch")

SGD_WD_IGNORED = Case(
    "sgd_weight_decay_ignored",
    (('    g = dw + config["weight_decay"] * w\n    next_w = w - config["learning_rate"] * g\n',
      '    next_w = w - config["learning_rate"] * dw\n'),),
    {
        "test_sgd_weight_decay": "next_w after sgd step 1 of 10 (weight_decay 0.3); the gradient is dw + weight_decay * w",
        "test_sgd_small": "sgd next_w",
    },
    diagnoses=frozenset({"sgd_weight_decay_ignored"}),
)
MOMENTUM_CS231N = Case(
    # CS231n's form: the learning rate inside the velocity. Same parameters at a constant rate.
    "momentum_cs231n_convention",
    (("BLOCK:sgd_momentum", """
      g = dw + config["weight_decay"] * w
      v = config.get("velocity", np.zeros_like(w))
      v = config["momentum"] * v - config["learning_rate"] * g
      config["velocity"] = v
      next_w = w + v
      """),),
    {
        "test_sgd_momentum_matches_torch": "config['velocity'] after sgd_momentum step 1 of 30 (momentum 0.8, "
                                           "learning_rate 0.02, 0.1 from step 16) (torch.optim's momentum_buffer)",
        "test_sgd_momentum_weight_decay": "config['velocity'] after sgd_momentum step 1 of 15",
        "test_sgd_momentum_nesterov": "after sgd_momentum step 1 of 15 (nesterov, momentum 0.9)",
        "test_sgd_momentum_defaults": "config['velocity'] after sgd_momentum step 1 of 5 (config=None: the defaults)",
        "test_sgd_momentum_small": "config['velocity'] after step 1 (v = dw on the first step)",
    },
    diagnoses=frozenset({"momentum_cs231n"}),
)
NESTEROV_IGNORED = Case(
    "nesterov_ignored",
    (('    step = g + config["momentum"] * v if config["nesterov"] else v\n', "    step = v\n"),),
    {"test_sgd_momentum_nesterov": "next_w after sgd_momentum step 1 of 15 (nesterov, momentum 0.9); "
                                   "Nesterov steps along g + momentum * v"},
    diagnoses=frozenset({"nesterov_ignored"}),
)
MOMENTUM_STATE_LOST = Case(
    "momentum_velocity_not_carried",  # a fresh velocity every step: plain SGD
    (('    v = config.get("velocity")\n', "    v = None\n"),),
    {
        "test_sgd_momentum_matches_torch": "next_w after sgd_momentum step 2 of 30",
        "test_sgd_momentum_weight_decay": "next_w after sgd_momentum step 2 of 15",
        "test_sgd_momentum_nesterov": "next_w after sgd_momentum step 2 of 15",
        "test_sgd_momentum_defaults": "next_w after sgd_momentum step 2 of 5",
        "test_sgd_momentum_small": "config['velocity'] after step 2 (0.9 * dw + dw)",
        # the judge re-runs the sweep with this rule (plain SGD): there the best rate is 1.0,
        # and the answer copied from a correct run is wrong for the student's own optimizer
        "test_answer_best_lr": "ANSWER_BEST_LR = 0.1 is not correct (the judge's run with your sgd_momentum: "
                               "0.001: 2.3, 0.01: 2.3, 0.1: 2.29, 1: 1.59, 10: 2.42 (diverged))",
    },
    frozenset({"test_answer_first_diverging_lr", "test_sweep_results"}),
    diagnoses=frozenset({"momentum_velocity_not_carried"}),
)
RMSPROP_EPS_INSIDE = Case(
    "rmsprop_eps_inside_sqrt",
    (('np.sqrt(s) + config["eps"])', 'np.sqrt(s + config["eps"]))'),),
    {"test_rmsprop_small_gradients": "next_w after rmsprop step 1 of 10 (gradients of size 1e-7); "
                                     "eps goes outside the square root"},
    # with gradients of size 1 the difference is about 1e-9 relative: it may or may not show
    frozenset(set(RMSPROP_TESTS) | {"test_rmsprop_small"}),
    diagnoses=frozenset({"rmsprop_eps_inside_sqrt"}),
)
RMSPROP_STATE_LOST = Case(
    "rmsprop_square_avg_not_carried",
    (('    s = config.get("square_avg")\n    s = np.zeros_like(w) if s is None else s\n',
      "    s = np.zeros_like(w)\n"),),
    {
        "test_rmsprop_matches_torch": "next_w after rmsprop step 2 of 30",
        "test_rmsprop_weight_decay": "next_w after rmsprop step 2 of 15",
        "test_rmsprop_small_gradients": "next_w after rmsprop step 2 of 10",
        "test_rmsprop_defaults": "next_w after rmsprop step 2 of 5",
    },
    diagnoses=frozenset({"rmsprop_square_avg_not_carried"}),
)
ADAM_NO_BIAS_CORRECTION = Case(
    "adam_no_bias_correction",
    (("    m_hat = m / (1 - beta1**t)\n    v_hat = v / (1 - beta2**t)\n", "    m_hat = m\n    v_hat = v\n"),),
    {
        "test_adam_matches_torch": "next_w after adam step 1 of 40",
        "test_adam_bias_correction": "next_w after adam step 1 of 3 (learning_rate 0.1); with bias correction "
                                     "the first step moves each weight by about learning_rate",
        "test_adam_weight_decay": "next_w after adam step 1 of 15 (weight_decay 0.1)",
        "test_adam_small_gradients": "next_w after adam step 1 of 10",
        "test_adam_defaults": "next_w after adam step 1 of 5",
        "test_adam_small": "first adam step next_w - w",
    },
    diagnoses=frozenset({"adam_no_bias_correction"}),
)
ADAMW = Case(
    "adam_decoupled_weight_decay",  # AdamW's decay, where torch.optim.Adam adds it to the gradient
    (
        ('    g = dw + config["weight_decay"] * w\n    m = config.get("m"', '    g = dw\n    m = config.get("m"'),
        ('    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["eps"])\n',
         '    next_w = w - config["learning_rate"] * (m_hat / (np.sqrt(v_hat) + config["eps"])'
         ' + config["weight_decay"] * w)\n'),
    ),
    {"test_adam_weight_decay": "next_w after adam step 1 of 15 (weight_decay 0.1)"},
    diagnoses=frozenset({"adam_decoupled_weight_decay"}),
)
ADAM_T_NOT_STORED = Case(
    "adam_step_count_not_stored",
    (('    config["m"], config["v"], config["t"] = m, v, t\n', '    config["m"], config["v"] = m, v\n'),),
    {
        "test_adam_matches_torch": "config['t'] after adam step 1 of 40",
        "test_adam_bias_correction": "config['t'] after adam step 1 of 3 (learning_rate 0.1): None, expected 1",
        "test_adam_weight_decay": "config['t'] after adam step 1 of 15",
        "test_adam_small_gradients": "config['t'] after adam step 1 of 10",
        "test_adam_defaults": "config['t'] after adam step 1 of 5",
        "test_adam_small": "config['t'] after the first step: None, expected 1",
    },
    diagnoses=frozenset({"adam_step_count_not_stored"}),
)
MB_DROPS_LAST = Case(
    "minibatches_drop_the_last_partial_batch",
    (("    for start in range(0, n, batch_size):\n        idx = order[start:start + batch_size]\n        yield",
      "    for start in range(0, n - batch_size + 1, batch_size):\n        idx = order[start:start + batch_size]\n"
      "        yield"),),
    {
        "test_minibatches_in_order": "minibatches(X, y, 5) with N = 23: batch sizes [5, 5, 5, 5], expected [5, 5, 5, 5, 3]",
        "test_minibatches_last_batch": "minibatches(X, y, 16) with N = 50: batch sizes [16, 16, 16], expected "
                                       "[16, 16, 16, 2] (the last batch holds the 2 rows left over)",
        "test_minibatches_shuffled": "batch sizes [8, 8, 8, 8], expected [8, 8, 8, 8, 5]",
        "test_minibatches_new_order_each_epoch": "batch sizes",
        "test_minibatches_small": "y of each batch: [[0, 1, 2, 3], [4, 5, 6, 7]]",
        "test_train_matches_reference_loop": "the epoch losses returned by train(net, X, y, sgd_momentum",
        "test_sweep_results": "sweep_results[0.001]",
    },
    diagnoses=frozenset({"minibatches_drop_last"}),
)
MB_SEPARATE_SHUFFLES = Case(
    "minibatches_shuffle_X_and_y_separately",
    (("    order = np.arange(n) if rng is None else rng.permutation(n)\n"
      "    for start in range(0, n, batch_size):\n        idx = order[start:start + batch_size]\n"
      "        yield X[idx], y[idx]\n",
      "    if rng is not None:\n        X, y = X[rng.permutation(n)], y[rng.permutation(n)]\n"
      "    for start in range(0, n, batch_size):\n        yield X[start:start + batch_size], y[start:start + batch_size]\n"),),
    {
        "test_minibatches_shuffled": "in batch 0 the labels no longer belong to their rows",
        "test_minibatches_new_order_each_epoch": "the labels no longer belong to their rows",
        "test_minibatches_stochastic_and_full_batch": "the labels no longer belong to their rows",
        "test_train_matches_reference_loop": "the epoch losses returned by train(",
        "test_sweep_results": "sweep_results[0.001]",
    },
    diagnoses=frozenset({"minibatches_shuffle_separately"}),
)
TRAIN_RESEEDS = Case(
    "train_makes_a_new_generator_every_epoch",  # every epoch sees the batches in the same order
    (("    rng = np.random.default_rng(seed)\n    configs = {k: dict(config) for k in net.params}\n"
      "    history = []\n    for _ in range(epochs):\n",
      "    configs = {k: dict(config) for k in net.params}\n"
      "    history = []\n    for _ in range(epochs):\n        rng = np.random.default_rng(seed)\n"),),
    {
        "test_train_matches_reference_loop": "the epoch losses returned by train(net, X, y, sgd_momentum, "
                                             "{'learning_rate': 0.05, 'momentum': 0.9}, epochs=3, batch_size=32, seed): "
                                             "max relative error",
        "test_sweep_results": "sweep_results[0.001] (the judge's run: 0.001: 2.3",
    },
)
TRAIN_NO_EARLY_STOP = Case(
    "train_keeps_going_after_divergence",
    (("        if not np.isfinite(history[-1]):\n            break\n", ""),),
    {"test_train_stops_when_diverged": "returned 6 epoch losses [nan, nan, nan, nan, nan, nan]; expected it to stop "
                                       "after the first epoch whose mean loss is not finite"},
)
BEST_LR_MISREAD = Case(
    "answer_best_lr_is_the_largest_that_trains",  # reads the table the wrong way round
    (("ANSWER_BEST_LR = 0.1  # SOLUTION", "ANSWER_BEST_LR = 1.0"),),
    {"test_answer_best_lr": "ANSWER_BEST_LR = 1 is not correct (the judge's run with your sgd_momentum: "
                            "0.001: 2.3, 0.01: 2.3, 0.1: 0.781, 1: 1.42, 10: 6.1"},
)

BUGS = [SGD_WD_IGNORED, MOMENTUM_CS231N, NESTEROV_IGNORED, MOMENTUM_STATE_LOST, RMSPROP_EPS_INSIDE,
        RMSPROP_STATE_LOST, ADAM_NO_BIAS_CORRECTION, ADAMW, ADAM_T_NOT_STORED, MB_DROPS_LAST,
        MB_SEPARATE_SHUFFLES, TRAIN_RESEEDS, TRAIN_NO_EARLY_STOP, BEST_LR_MISREAD]
#: one grading run each; within a run the cases touch different functions and tests
RUNS = [
    combine(SGD_WD_IGNORED, MOMENTUM_CS231N, RMSPROP_EPS_INSIDE, ADAM_NO_BIAS_CORRECTION, MB_DROPS_LAST,
            TRAIN_NO_EARLY_STOP, BEST_LR_MISREAD),
    combine(NESTEROV_IGNORED, RMSPROP_STATE_LOST, ADAMW, MB_SEPARATE_SHUFFLES),
    combine(MOMENTUM_STATE_LOST, ADAM_T_NOT_STORED, TRAIN_RESEEDS),
]

ALTERNATIVES = [
    Case(
        "torch_style_formulas",  # torch.optim's own arithmetic, in-place updates, zeros for a new velocity
        (
            ("BLOCK:sgd", """
             next_w = w
             next_w -= config["learning_rate"] * (dw + config["weight_decay"] * w)
             """),
            ("BLOCK:sgd_momentum", """
             d_p = dw + config["weight_decay"] * w if config["weight_decay"] else dw
             buf = config.setdefault("velocity", np.zeros_like(w))
             buf = buf * config["momentum"] + d_p
             config["velocity"] = buf
             if config["nesterov"]:
                 d_p = d_p + config["momentum"] * buf
             else:
                 d_p = buf
             next_w = w - config["learning_rate"] * d_p
             """),
            ("BLOCK:rmsprop", """
             grad = dw + config["weight_decay"] * w
             square_avg = config.setdefault("square_avg", np.zeros_like(w))
             square_avg = square_avg * config["alpha"] + (1 - config["alpha"]) * grad**2
             config["square_avg"] = square_avg
             avg = np.sqrt(square_avg) + config["eps"]
             next_w = w - config["learning_rate"] * grad / avg
             """),
            ("BLOCK:adam", """
             grad = dw + config["weight_decay"] * w
             config["t"] = step = config.get("t", 0) + 1
             exp_avg = config.get("m", 0.0) * config["beta1"] + (1 - config["beta1"]) * grad
             exp_avg_sq = config.get("v", 0.0) * config["beta2"] + (1 - config["beta2"]) * grad * grad
             config["m"], config["v"] = exp_avg, exp_avg_sq
             step_size = config["learning_rate"] / (1 - config["beta1"] ** step)
             denom = np.sqrt(exp_avg_sq) / math.sqrt(1 - config["beta2"] ** step) + config["eps"]
             next_w = w - step_size * exp_avg / denom
             """),
            ("import numpy as np\n\nnp.set_printoptions", "import math\n\nimport numpy as np\n\nnp.set_printoptions"),
        ),
    ),
    Case(
        "lists_shuffle_and_other_spellings",  # a list of batches from rng.shuffle, a while loop, answers as text
        (
            ("BLOCK:minibatches", """
             idx = np.arange(len(X))
             if rng is not None:
                 rng.shuffle(idx)
             return [(X[idx[i:i + batch_size]], y[idx[i:i + batch_size]]) for i in range(0, len(X), batch_size)]
             """),
            ("BLOCK:train", """
             rng = np.random.default_rng(seed)
             state = {name: {**config} for name in net.params}
             history = []
             epoch = 0
             while epoch < epochs and (not history or np.isfinite(history[-1])):
                 total, count = 0.0, 0
                 for X_batch, y_batch in minibatches(X, y, batch_size, rng):
                     loss, grads = net.loss(X_batch, y_batch)
                     total, count = total + loss, count + 1
                     for name, value in list(net.params.items()):
                         net.params[name], state[name] = update_rule(value, grads[name], state[name])
                 history.append(total / count)
                 epoch += 1
             """),
            ("ANSWER_BATCHES_PER_EPOCH = 16  # SOLUTION", "ANSWER_BATCHES_PER_EPOCH = int(np.ceil(1000 / 64))"),
            ('ANSWER_BIAS_CORRECTION = "b"  # SOLUTION', 'ANSWER_BIAS_CORRECTION = "(B)"'),
            ("ANSWER_BEST_LR = 0.1  # SOLUTION", "ANSWER_BEST_LR = 1e-1"),
        ),
    ),
]

#: one grading run: the alternatives rewrite different functions
ALTERNATIVE_RUNS = [combine(*ALTERNATIVES)]
