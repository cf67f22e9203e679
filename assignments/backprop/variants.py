"""The backprop assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_backprop_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case

ACCURACY = "test_best_net_accuracy"


# Tests of TwoLayerNet that compare with the reference (they see any layer's bug).
NET_GRADS = ("test_two_layer_net_grads", "test_two_layer_net_grads_with_reg")
NET_NUMERIC = ("test_two_layer_net_grads_numeric", "test_two_layer_net_grads_numeric_with_reg")

BUGS = [
    Case(
        "affine_backward_missing_db",
        (("    db = dout.sum(axis=0)\n", "    db = np.zeros_like(b)\n"),),
        {
            "test_affine_backward_db": "db",
            "test_affine_backward_numeric": "db (vs numeric gradient)",
            "test_affine_backward_small": "db",
            **{t: "grads['b" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
    ),
    Case(
        "affine_backward_db_averaged",
        (("    db = dout.sum(axis=0)\n", "    db = dout.sum(axis=0) / x.shape[0]\n"),),
        {
            "test_affine_backward_db": "db",
            "test_affine_backward_numeric": "db (vs numeric gradient)",
            "test_affine_backward_small": "db",
            **{t: "grads['b" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
        diagnoses=frozenset({"db_averaged"}),
    ),
    Case(
        "affine_backward_dx_flattened",
        (("    dx = (dout @ w.T).reshape(x.shape)\n", "    dx = dout @ w.T\n"),),
        {
            "test_affine_backward_dx": "dx: shape",
            "test_affine_backward_numeric": "dx",
            "test_affine_backward_small": "dx: shape",
        },
    ),
    Case(
        "affine_backward_dw_averaged",
        (("    dw = x_flat.T @ dout\n", "    dw = x_flat.T @ dout / x.shape[0]\n"),),
        {
            "test_affine_backward_dw": "dw",
            "test_affine_backward_numeric": "dw (vs numeric gradient)",
            "test_affine_backward_small": "dw",
            **{t: "grads['W" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
        diagnoses=frozenset({"dw_averaged"}),
    ),
    Case(
        "affine_backward_dw_transposed",
        (("    dw = x_flat.T @ dout\n", "    dw = dout.T @ x_flat\n"),),
        {
            "test_affine_backward_dw": "dw: shape",
            "test_affine_backward_numeric": "dw",
            "test_affine_backward_small": "dw: shape",
        },
        # TwoLayerNet then adds reg * W (D, H) to a (H, D) gradient and raises.
        frozenset({"test_two_layer_net_loss", "test_two_layer_net_loss_with_reg", *NET_GRADS, *NET_NUMERIC,
                   ACCURACY}),
    ),
    Case(
        "affine_forward_without_bias",
        (("    out = x_flat @ w + b\n", "    out = x_flat @ w\n"),),
        {
            "test_affine_forward": "out",
            "test_affine_forward_small": "out",
            "test_affine_backward_numeric": "db (vs numeric gradient)",
            "test_two_layer_net_scores": "scores",
            "test_two_layer_net_loss": "loss",
            "test_two_layer_net_loss_with_reg": "loss",
            **{t: "grads[" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
    ),
    Case(
        "relu_backward_passes_gradient_at_zero",
        (("    dx = dout * (x > 0)\n", "    dx = dout * (x >= 0)\n"),),
        {"test_relu_backward_at_zero": "relu dx at x == 0", "test_relu_small": "relu dx"},
        diagnoses=frozenset({"relu_grad_at_zero"}),
    ),
    Case(
        "relu_backward_ignores_mask",
        (("    dx = dout * (x > 0)\n", "    dx = dout.copy()\n"),),
        {
            "test_relu_backward": "relu dx",
            "test_relu_backward_at_zero": "relu dx at x == 0",
            "test_relu_backward_numeric": "relu dx (vs numeric gradient)",
            "test_relu_small": "relu dx",
            **{t: "grads['" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
        diagnoses=frozenset({"relu_no_mask"}),
    ),
    Case(
        "sigmoid_naive_nan",
        (("BLOCK:sigmoid_forward", "out = np.exp(x) / (1.0 + np.exp(x))\ncache = out\n"),),
        {
            "test_sigmoid_extreme_inputs": "sigmoid out at x = ±40 ... ±1000: 2 non-finite value(s), first NaN",
            "test_sigmoid_no_overflow": "overflow",
        },
        diagnoses=frozenset({"sigmoid_overflow_nan"}),
    ),
    Case(
        "sigmoid_naive_overflow_warning",
        (("BLOCK:sigmoid_forward", "out = 1.0 / (1.0 + np.exp(-x))\ncache = out\n"),),
        {"test_sigmoid_no_overflow": "sigmoid out: FloatingPointError: overflow"},
    ),
    Case(
        "sigmoid_backward_missing_one_minus_s",
        (("    dx = dout * s * (1.0 - s)\n", "    dx = dout * s\n"),),
        {
            "test_sigmoid_backward": "sigmoid dx",
            "test_sigmoid_backward_numeric": "sigmoid dx (vs numeric gradient)",
            "test_sigmoid_extreme_inputs": "sigmoid dx",
            "test_sigmoid_tanh_small": "sigmoid dx",
        },
        diagnoses=frozenset({"sigmoid_missing_factor"}),
    ),
    Case(
        "tanh_backward_uses_out",
        (("    dx = dout * (1.0 - t**2)\n", "    dx = dout * t\n"),),
        {
            "test_tanh_backward": "tanh dx",
            "test_tanh_backward_numeric": "tanh dx (vs numeric gradient)",
            "test_sigmoid_tanh_small": "tanh dx",
        },
        diagnoses=frozenset({"tanh_uses_output"}),
    ),
    Case(
        "softmax_without_max_shift",
        (("    shifted = scores - scores.max(axis=1, keepdims=True)\n", "    shifted = scores\n"),),
        {"test_softmax_loss_large_scores": "(scores around 1000)"},
        diagnoses=frozenset({"softmax_no_shift"}),
    ),
    Case(
        "softmax_loss_summed",
        (("    loss = -log_probs[np.arange(n), y].mean()\n", "    loss = -log_probs[np.arange(n), y].sum()\n"),),
        {
            "test_softmax_loss_value": "loss",
            "test_softmax_loss_numeric": "dscores (vs numeric gradient)",
            "test_softmax_loss_large_scores": "loss (scores around 1000)",
            "test_softmax_loss_small": "loss",
            "test_two_layer_net_loss": "loss (reg = 0)",
            "test_two_layer_net_loss_with_reg": "loss (reg = 0.7)",
            **{t: "vs numeric gradient of your loss" for t in NET_NUMERIC},
        },
        diagnoses=frozenset({"loss_summed"}),
    ),
    Case(
        "softmax_dscores_not_divided_by_n",
        (("    dscores /= n\n", ""),),
        {
            "test_softmax_loss_dscores": "dscores",
            "test_softmax_loss_numeric": "dscores (vs numeric gradient)",
            "test_softmax_loss_large_scores": "dscores (scores around 1000)",
            "test_softmax_loss_small": "dscores",
            **{t: "grads['" for t in NET_GRADS + NET_NUMERIC},
        },
        frozenset({ACCURACY}),
        diagnoses=frozenset({"dscores_not_averaged"}),
    ),
    Case(
        "net_reg_gradient_missing",
        (('        grads["W1"] += self.reg * W1\n        grads["W2"] += self.reg * W2\n', ""),),
        {
            "test_two_layer_net_grads_with_reg": "grads['W1'] (reg = 0.7)",
            "test_two_layer_net_grads_numeric_with_reg": "grads['W1'] (reg = 0.7, vs numeric",
        },
    ),
    Case(
        "net_reg_gradient_doubled",
        (('        grads["W2"] += self.reg * W2\n', '        grads["W2"] += 2 * self.reg * W2\n'),),
        {
            "test_two_layer_net_grads_with_reg": "grads['W2'] (reg = 0.7)",
            "test_two_layer_net_grads_numeric_with_reg": "grads['W2'] (reg = 0.7, vs numeric",
        },
    ),
    Case(
        "net_reg_missing_from_loss",
        (
            (
                "        loss = data_loss + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))\n",
                "        loss = data_loss\n",
            ),
        ),
        {
            "test_two_layer_net_loss_with_reg": "loss (reg = 0.7)",
            "test_two_layer_net_grads_numeric_with_reg": "vs numeric gradient of your loss",
        },
    ),
    Case(
        "net_without_relu",
        (
            ("        h1, cache_relu = relu_forward(a1)\n", "        h1, cache_relu = a1, None\n"),
            ("        da1 = relu_backward(dh1, cache_relu)\n", "        da1 = dh1\n"),
        ),
        {
            "test_two_layer_net_scores": "scores",
            "test_two_layer_net_loss": "loss (reg = 0)",
            "test_two_layer_net_loss_with_reg": "loss (reg = 0.7)",
            **{t: "grads['" for t in NET_GRADS},
        },
        # A linear classifier's gradients are still consistent with its own loss, and it still
        # reads digits well: only the comparisons with the reference can catch this bug.
        frozenset({ACCURACY}),
    ),
    Case(
        "net_init_unscaled",
        (
            (
                '        self.params["W1"] = weight_scale * rng.standard_normal((input_dim, hidden_dim))\n',
                '        self.params["W1"] = rng.standard_normal((input_dim, hidden_dim))\n',
            ),
        ),
        {"test_two_layer_net_init": "params['W1']: standard deviation"},
        frozenset({ACCURACY}),
    ),
    Case(
        "net_init_unseeded",
        (("        rng = np.random.default_rng(seed)\n", "        rng = np.random.default_rng()\n"),),
        {"test_two_layer_net_init": "same seed differ"},
    ),
    Case(
        "training_one_epoch",
        (("learning_rate, batch_size, epochs = 0.5, 50, 20\n", "learning_rate, batch_size, epochs = 0.5, 50, 1\n"),),
        {ACCURACY: "accuracy on held-out digits"},
    ),
    Case(
        "answer_dead_relu_wrong",
        (('ANSWER_DEAD_RELU = "b"  # SOLUTION', 'ANSWER_DEAD_RELU = "a"  # SOLUTION'),),
        {"test_answer_dead_relu": "ANSWER_DEAD_RELU = 'a' is not correct"},
    ),
    Case(
        "answer_sigmoid_bound_wrong",
        (("ANSWER_SIGMOID_10_LAYER_BOUND = 0.25 ** 10  # SOLUTION", "ANSWER_SIGMOID_10_LAYER_BOUND = 0.25 * 10"),),
        {"test_answer_sigmoid_10_layer_bound": "ANSWER_SIGMOID_10_LAYER_BOUND = 2.5 is not correct"},
    ),
    Case(
        "answer_relu_grad_as_string",
        (("ANSWER_RELU_GRAD_AT_ZERO = 0.0  # SOLUTION", 'ANSWER_RELU_GRAD_AT_ZERO = "0"'),),
        {"test_answer_relu_grad_at_zero": "ANSWER_RELU_GRAD_AT_ZERO must be a number, got str"},
    ),
]

ALTERNATIVES = [
    Case(
        "affine_with_loops",
        (
            (
                "BLOCK:affine_forward",
                """
                n = x.shape[0]
                out = np.zeros((n, w.shape[1]))
                for i in range(n):
                    out[i] = np.dot(x[i].ravel(), w) + b
                cache = (x, w, b)
                """,
            ),
            (
                "BLOCK:affine_backward",
                """
                x, w, b = cache
                n = x.shape[0]
                dx = np.zeros_like(x)
                dw = np.zeros_like(w)
                db = np.zeros_like(b)
                for i in range(n):
                    row = x[i].ravel()
                    dx[i] = (w @ dout[i]).reshape(x[i].shape)
                    dw += np.outer(row, dout[i])
                    db += dout[i]
                """,
            ),
        ),
    ),
    Case(
        "sigmoid_via_logaddexp",
        (("BLOCK:sigmoid_forward", "out = np.exp(-np.logaddexp(0.0, -x))\ncache = out\n"),),
    ),
    Case(
        "sigmoid_via_tanh",
        (("BLOCK:sigmoid_forward", "out = 0.5 * (1.0 + np.tanh(0.5 * x))\ncache = out\n"),),
    ),
    Case(
        "sigmoid_caches_input",
        (
            ("BLOCK:sigmoid_forward", "out = np.exp(-np.logaddexp(0.0, -x))\ncache = x\n"),
            ("BLOCK:sigmoid_backward", "s = np.exp(-np.logaddexp(0.0, -cache))\ndx = dout * s * (1 - s)\n"),
        ),
    ),
    Case(
        "relu_caches_mask",
        (
            ("BLOCK:relu_forward", "mask = x > 0\nout = x * mask\ncache = mask\n"),
            ("BLOCK:relu_backward", "dx = np.where(cache, dout, 0.0)\n"),
        ),
    ),
    Case(
        "softmax_via_probabilities",
        (
            (
                "BLOCK:softmax_loss",
                """
                n = scores.shape[0]
                exp = np.exp(scores - np.max(scores, axis=1, keepdims=True))
                probs = exp / np.sum(exp, axis=1, keepdims=True)
                loss = -np.mean(np.log(probs[np.arange(n), y]))
                dscores = probs.copy()
                dscores[np.arange(n), y] -= 1
                dscores = dscores / n
                """,
            ),
        ),
    ),
    Case(
        "net_init_with_rng_normal",
        (
            (
                "BLOCK:TwoLayerNet",  # the first block of the class: __init__
                """
                rng = np.random.default_rng(seed)
                self.params = {
                    "W1": rng.normal(0.0, weight_scale, size=(input_dim, hidden_dim)),
                    "b1": np.zeros(hidden_dim),
                    "W2": rng.normal(0.0, weight_scale, size=(hidden_dim, num_classes)),
                    "b2": np.zeros(num_classes),
                }
                """,
            ),
        ),
    ),
    Case(
        "answers_as_ints_and_capitals",
        (
            ("ANSWER_RELU_GRAD_AT_ZERO = 0.0  # SOLUTION", "ANSWER_RELU_GRAD_AT_ZERO = 0"),
            ("ANSWER_SIGMOID_10_LAYER_BOUND = 0.25 ** 10  # SOLUTION", "ANSWER_SIGMOID_10_LAYER_BOUND = 9.5e-7"),
            ('ANSWER_DEAD_RELU = "b"  # SOLUTION', 'ANSWER_DEAD_RELU = "B"'),
            ('ANSWER_SOFTMAX_SHIFT = "c"  # SOLUTION', 'ANSWER_SOFTMAX_SHIFT = "(c)"'),
        ),
    ),
]
