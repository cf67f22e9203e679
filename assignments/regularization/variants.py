"""The regularization assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_regularization_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case

ACCURACY = "test_reg_model_accuracy"
# The solution's train-mode branch of batchnorm_forward, as edited by several cases.
BN_TRAIN_NORMALISE = "        var = x.var(axis=0)\n        std = np.sqrt(var + eps)\n"
BN_RUNNING_VAR = "        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)\n"
BN_RUNNING_MEAN = "        running_mean = (1 - momentum) * running_mean + momentum * mean\n"
DROPOUT_FORWARD_TRAIN = (
    "        mask = (rng.random(x.shape) >= p) / (1.0 - p)\n"
)

BUGS = [
    Case(
        "dropout_scaled_at_test_time",  # the original, non-inverted dropout
        (
            (DROPOUT_FORWARD_TRAIN, "        mask = (rng.random(x.shape) >= p) * 1.0\n"),
            ("        out = x.copy()\n", "        out = x * (1 - p)\n"),
        ),
        {
            "test_dropout_kept_scaling": "kept units in train mode (p = 0.25): out / x = 1.0000, expected 1 / (1 - p)",
            "test_dropout_mean_preserved": "mean of out in train mode",
            "test_dropout_test_mode_identity": "test-mode out",
            "test_dropout_small": "train-mode out on ones with p = 0.5",
        },
        diagnoses=frozenset({"dropout_not_inverted"}),
    ),
    Case(
        "dropout_not_scaled_at_train_time",
        ((DROPOUT_FORWARD_TRAIN, "        mask = rng.random(x.shape) >= p\n"),),
        {
            "test_dropout_kept_scaling": "out / x = 1.0000, expected 1 / (1 - p) = 1.3333",
            "test_dropout_mean_preserved": "mean of out in train mode (p = 0.6)",
            "test_dropout_small": "train-mode out on ones with p = 0.5",
        },
        diagnoses=frozenset({"dropout_not_scaled"}),
    ),
    Case(
        "dropout_p_is_keep_probability",
        ((DROPOUT_FORWARD_TRAIN, "        mask = (rng.random(x.shape) < p) / p\n"),),
        {
            "test_dropout_kept_fraction": "p was used as the probability of KEEPING a unit",
            "test_dropout_kept_scaling": "expected 1 / (1 - p) = 1.3333",
        },
        diagnoses=frozenset({"dropout_p_keeps"}),
    ),
    Case(
        "dropout_backward_draws_a_new_mask",
        (
            ("    cache = (mode, mask)\n", "    cache = (mode, p)\n"),
            (
                "BLOCK:dropout_backward",
                """
                mode, p = cache
                if mode == "train":
                    dx = dout * (np.random.default_rng(7).random(dout.shape) >= p) / (1 - p)  # seeded: an unseeded draw moves the message between runs
                else:
                    dx = dout.copy()
                """,
            ),
        ),
        {
            "test_dropout_backward": "train-mode dx is 0 for",
            "test_dropout_backward_numeric": "vs numeric gradient",
            "test_dropout_backward_small": "train-mode dx",
        },
    ),
    Case(
        "dropout_backward_unscaled",
        (("    dx = dout * mask if mode == \"train\" else dout.copy()\n",
          "    dx = dout * (mask != 0) if mode == \"train\" else dout.copy()\n"),),
        {
            "test_dropout_backward": "train-mode dx (p = 0.35; expected dout * mask / (1 - p)",
            "test_dropout_backward_numeric": "vs numeric gradient",
            "test_dropout_backward_small": "train-mode dx",
        },
        diagnoses=frozenset({"dropout_backward_unscaled"}),
    ),
    Case(
        "dropout_ignores_seed",
        (('        rng = np.random.default_rng(dropout_param.get("seed"))\n',
          "        rng = np.random.default_rng()\n"),),
        {
            "test_dropout_seed": "dropped different units",
            # the numeric gradient of a function that draws a new mask on every call is noise
            "test_dropout_backward_numeric": "vs numeric gradient",
        },
    ),
    Case(
        "bn_running_var_biased",
        ((BN_RUNNING_VAR, "        running_var = (1 - momentum) * running_var + momentum * var\n"),),
        {
            "test_batchnorm_running_var": "running_var after training step 1",
            "test_batchnorm_defaults": "running_var after one step",
            "test_batchnorm_forward_small": "running_var",
        },
        diagnoses=frozenset({"bn_running_var_biased"}),
    ),
    Case(
        "bn_momentum_reversed",  # CS231n's convention with PyTorch's momentum value
        (
            (BN_RUNNING_MEAN, "        running_mean = momentum * running_mean + (1 - momentum) * mean\n"),
            (BN_RUNNING_VAR, "        running_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)\n"),
        ),
        {
            "test_batchnorm_running_mean": "running_mean after training step 1 (momentum = 0.3",
            "test_batchnorm_running_var": "running_var after training step 1",
            "test_batchnorm_defaults": "running_mean after one step",
            "test_batchnorm_forward_small": "running_mean",
        },
        diagnoses=frozenset({"bn_momentum_reversed"}),
    ),
    Case(
        "bn_unbiased_variance_to_normalise",
        (
            (BN_TRAIN_NORMALISE, "        var = x.var(axis=0, ddof=1)\n        std = np.sqrt(var + eps)\n"),
            (BN_RUNNING_VAR, "        running_var = (1 - momentum) * running_var + momentum * var\n"),
        ),
        {
            "test_batchnorm_forward_train": "train-mode out (N = 6",
            "test_batchnorm_defaults": "train-mode out with the default eps",
            "test_batchnorm_forward_small": "train-mode out",
        },
        # the backward pass then differentiates another function than torch's
        frozenset({"test_batchnorm_backward_dx", "test_batchnorm_backward_dgamma", "test_batchnorm_backward_numeric",
                   "test_batchnorm_backward_small"}),
        diagnoses=frozenset({"bn_unbiased_normalise"}),
    ),
    Case(
        "bn_running_stats_in_train_mode",
        (("        xhat = (x - mean) / std\n",
          "        std = np.sqrt(running_var + eps)\n        xhat = (x - running_mean) / std\n"),),
        {
            "test_batchnorm_forward_train": "train-mode out",
            "test_batchnorm_defaults": "train-mode out",
            "test_batchnorm_forward_small": "train-mode out",
        },
        frozenset({"test_batchnorm_backward_dx", "test_batchnorm_backward_dgamma", "test_batchnorm_backward_numeric",
                   "test_batchnorm_backward_small"}),
        diagnoses=frozenset({"bn_running_stats_in_train"}),
    ),
    Case(
        "bn_batch_stats_in_test_mode",
        (("        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta\n",
          "        out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta\n"),),
        {"test_batchnorm_test_mode": "test-mode out (normalised with the running statistics)"},
        diagnoses=frozenset({"bn_batch_stats_in_test"}),
    ),
    Case(
        "bn_eps_outside_sqrt",
        (("        std = np.sqrt(var + eps)\n", "        std = np.sqrt(var) + eps\n"),),
        {
            "test_batchnorm_forward_train": "train-mode out (N = 6, eps = 0.001)",
            "test_batchnorm_defaults": "train-mode out with the default eps",
        },
        # eps then matters wherever the variance is small: a few more tests see it
        frozenset({"test_batchnorm_forward_small", "test_batchnorm_backward_dx", "test_batchnorm_backward_dgamma",
                   "test_batchnorm_backward_numeric"}),
        diagnoses=frozenset({"bn_eps_outside_sqrt"}),
    ),
    Case(
        "bn_dgamma_times_gamma",
        (("    dgamma = (dout * xhat).sum(axis=0)\n", "    dgamma = (dout * xhat * gamma).sum(axis=0)\n"),),
        {
            "test_batchnorm_backward_dgamma": "dgamma",
            "test_batchnorm_backward_numeric": "dgamma (vs numeric gradient",
        },
        diagnoses=frozenset({"bn_dgamma_times_gamma"}),
    ),
    Case(
        "bn_dx_ignores_batch_statistics",
        (("    dx = (n * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0)) / (n * std)\n",
          "    dx = g / std\n"),),
        {
            "test_batchnorm_backward_dx": "dx",
            "test_batchnorm_backward_numeric": "dx (vs numeric gradient",
            "test_batchnorm_backward_small": "dx summed over the batch",
        },
        diagnoses=frozenset({"bn_dx_local_only"}),
    ),
    Case(
        "cnn_dropout_ignores_p_drop",
        (("        nn.Dropout(p_drop),\n", "        nn.Dropout(0.5),\n"),),
        {"test_build_regularized_cnn": "no dropout layer has p = p_drop = 0.3 (found p = 0.5)"},
    ),
    Case(
        "cnn_without_batchnorm",
        (
            ("        nn.BatchNorm2d(16),\n", ""),
            ("        nn.BatchNorm2d(32),\n", ""),
        ),
        {
            "test_build_regularized_cnn": "has no nn.BatchNorm2d layer",
            "test_reg_model_layers": "reg_model has no nn.BatchNorm2d layer",
        },
        frozenset({ACCURACY}),
    ),
    Case(
        "cnn_dropout_always_on",  # F.dropout's `training` defaults to True, whatever the module's mode
        (
            (
                "BLOCK:build_regularized_cnn",
                """
                class AlwaysDropout(nn.Dropout):
                    def forward(self, x):
                        return F.dropout(x, self.p)

                model = nn.Sequential(
                    nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
                    nn.BatchNorm2d(16),
                    nn.ReLU(),
                    nn.Conv2d(16, 32, 3, padding=1, bias=False),
                    nn.BatchNorm2d(32),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Flatten(),
                    AlwaysDropout(p_drop),
                    nn.Linear(32 * 4 * 4, num_classes),
                )
                """,
            ),
        ),
        {"test_reg_model_eval_deterministic": "dropout must be off in eval() mode"},
        # random masks in eval mode also make an example's scores change with its batch
        frozenset({ACCURACY, "test_reg_model_eval_batch_independent"}),
    ),
    Case(
        "cnn_batchnorm_without_running_stats",
        (
            ("        nn.BatchNorm2d(16),\n", "        nn.BatchNorm2d(16, track_running_stats=False),\n"),
            ("        nn.BatchNorm2d(32),\n", "        nn.BatchNorm2d(32, track_running_stats=False),\n"),
        ),
        {"test_reg_model_eval_batch_independent": "must normalise with its running statistics"},
        frozenset({ACCURACY}),
    ),
    Case(
        "reg_model_trained_without_dropout",
        (("reg_model = build_regularized_cnn(p_drop=0.3)\n", "reg_model = build_regularized_cnn(p_drop=0.0)\n"),),
        {"test_reg_model_train_stochastic": "drops nothing while training"},
    ),
    Case(
        "reg_model_barely_trained",
        (("for epoch in range(5):\n", "for epoch in range(1):\n"),
         ("    for idx in torch.randperm(len(X_t), generator=shuffle).split(64):\n",
          "    for idx in torch.randperm(len(X_t), generator=shuffle).split(64)[:2]:\n")),
        {ACCURACY: "reg_model accuracy on held-out digits (eval mode)"},
    ),
    Case(
        "answer_running_var_biased",
        (("ANSWER_BN_RUNNING_VAR = 5 / 3  # SOLUTION", "ANSWER_BN_RUNNING_VAR = 1.25"),),
        {"test_answer_bn_running_var": "ANSWER_BN_RUNNING_VAR = 1.25 is not correct"},
    ),
    Case(
        "answer_dropout_scale_inverted",
        (("ANSWER_DROPOUT_SCALE = 1 / (1 - 0.25)  # SOLUTION", "ANSWER_DROPOUT_SCALE = 0.75"),),
        {"test_answer_dropout_scale": "ANSWER_DROPOUT_SCALE = 0.75 is not correct"},
    ),
]

ALTERNATIVES = [
    Case(
        "dropout_keep_below_one_minus_p",
        ((DROPOUT_FORWARD_TRAIN, "        mask = (rng.random(x.shape) < 1 - p) / (1 - p)\n"),),
    ),
    Case(
        "dropout_binary_mask_scaled_in_backward",
        (
            (
                "BLOCK:dropout_forward",
                """
                rng = np.random.default_rng(dropout_param.get("seed"))
                keep = rng.random(x.shape) < 1 - p if mode == "train" else None
                out = np.where(keep, x / (1 - p), 0.0) if mode == "train" else x
                cache = {"mode": mode, "keep": keep, "p": p}
                """,
            ),
            (
                "BLOCK:dropout_backward",
                """
                if cache["mode"] == "train":
                    dx = np.where(cache["keep"], dout / (1 - cache["p"]), 0.0)
                else:
                    dx = dout
                """,
            ),
        ),
    ),
    Case(
        "bn_two_pass_backward",  # the computational graph, node by node
        (
            (
                "BLOCK:batchnorm_forward",
                """
                if mode == "train":
                    mu = np.mean(x, axis=0)
                    xc = x - mu
                    var = np.mean(xc**2, axis=0)
                    ivar = 1.0 / np.sqrt(var + eps)
                    xhat = xc * ivar
                    out = gamma * xhat + beta
                    running_mean = (1 - momentum) * running_mean + momentum * mu
                    running_var = (1 - momentum) * running_var + momentum * np.sum(xc**2, axis=0) / (n - 1)
                    cache = {"xc": xc, "ivar": ivar, "xhat": xhat, "gamma": gamma, "var": var, "eps": eps}
                else:
                    out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                """,
            ),
            (
                "BLOCK:batchnorm_backward",
                """
                c = cache
                n = dout.shape[0]
                dbeta = np.sum(dout, axis=0)
                dgamma = np.sum(dout * c["xhat"], axis=0)
                dxhat = dout * c["gamma"]
                dxc = dxhat * c["ivar"]
                divar = np.sum(dxhat * c["xc"], axis=0)
                dvar = divar * -0.5 * (c["var"] + c["eps"]) ** -1.5
                dxc += 2.0 * c["xc"] * dvar / n
                dmu = -np.sum(dxc, axis=0)
                dx = dxc + dmu / n
                """,
            ),
        ),
    ),
    Case(
        "bn_running_stats_updated_in_place",
        (
            (BN_RUNNING_MEAN, "        running_mean *= 1 - momentum\n"
                              "        running_mean += momentum * mean\n"),
            (BN_RUNNING_VAR, "        running_var *= 1 - momentum\n"
                             "        running_var += momentum * x.var(axis=0, ddof=1)\n"),
        ),
    ),
    Case(
        "cnn_as_module_class",
        (
            (
                "BLOCK:build_regularized_cnn",
                """
                class SmallCNN(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
                        self.bn1 = nn.BatchNorm2d(16)
                        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
                        self.bn2 = nn.BatchNorm2d(32)
                        self.drop = nn.Dropout2d(p_drop)
                        self.fc = nn.Linear(32 * 4 * 4, num_classes)

                    def forward(self, x):
                        x = F.relu(self.bn1(self.conv1(x)))
                        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
                        return self.fc(torch.flatten(self.drop(x), 1))

                model = SmallCNN()
                """,
            ),
        ),
    ),
    Case(
        "answers_as_fractions_and_capitals",
        (
            ("ANSWER_DROPOUT_SCALE = 1 / (1 - 0.25)  # SOLUTION", "ANSWER_DROPOUT_SCALE = 1.3333"),
            ('ANSWER_EVAL_MODE = "c"  # SOLUTION', 'ANSWER_EVAL_MODE = "(C)"'),
            ("ANSWER_BN_RUNNING_VAR = 5 / 3  # SOLUTION", "ANSWER_BN_RUNNING_VAR = 1.6667"),
        ),
    ),
]
