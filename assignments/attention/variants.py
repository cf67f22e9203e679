"""The attention assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_attention_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case, combine

#: code cells holding this are left out of every graded variant (a slow self-check)
DROP_MARKER = "def numeric_gradient("


ATTENTION_FORWARD = ("test_attention_forward_unmasked", "test_attention_forward_causal",
                     "test_attention_forward_padding", "test_attention_forward_large_scores")
MASKED_FORWARD = ("test_attention_forward_causal", "test_attention_forward_padding",
                  "test_attention_forward_large_scores")
MHA = ("test_mha_self_attention", "test_mha_cross_attention", "test_mha_masks", "test_mha_weights_per_head")
SCORES = "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)\n    if mask"

# part 2: fine-tuning
ACCURACY = ("test_ft_model_accuracy", "test_ft_model_beats_training_from_scratch")
MATCHES = "test_finetune_matches_the_judges_run"
ORDER = "test_finetune_shuffles_anew_every_epoch"
FINETUNE_TESTS = ("test_finetune_keeps_encoder", "test_finetune_trains_head", MATCHES, "test_finetune_seeded",
                  ORDER, "test_finetune_small")
FT_MODEL_TESTS = ("test_ft_model_encoder_unchanged", "test_ft_model_head", *ACCURACY)
FREEZE = "    for p in model.parameters():\n        p.requires_grad = False\n"
NEW_HEAD = "    model.head = nn.Linear(model.head.in_features, num_classes)\n"
ENCODER_EVAL = "        model.train()\n        model.encoder.eval()\n"
SHUFFLE = "        for idx in torch.randperm(len(X), generator=generator).split(batch_size):\n"
FT_MODEL = "ft_model = prepare_for_finetuning(load_pretrained_transformer(), num_classes=5)\n"
HEAD_DIFFERS = "head.weight after finetune(..., epochs=5, lr=0.1, batch_size=100, seed=0): max relative error"

BUGS = [
    Case(
        "softmax_without_max_shift",
        (("    shifted = x - np.max(x, axis=axis, keepdims=True)\n", "    shifted = x\n"),),
        {
            "test_softmax_large_scores": "softmax of scores around +-1000:",
            "test_attention_forward_large_scores": "weights (scores in the thousands, padding mask): ",
        },
        diagnoses=frozenset({"softmax_no_shift"}),
    ),
    Case(
        "softmax_over_the_queries",  # the weights of each KEY sum to one
        (("    weights = softmax(scores, axis=-1)\n    out = weights @ v\n",
          "    weights = softmax(scores, axis=-2)\n    out = weights @ v\n"),),
        {
            **{t: "weights (" for t in ATTENTION_FORWARD},
            "test_attention_small": "weights (equal scores)",
        },
        frozenset({"test_attention_backward_numeric", *MHA}),
        diagnoses=frozenset({"softmax_over_queries"}),
    ),
    Case(
        "scores_not_scaled",
        ((SCORES, "    scores = q @ np.swapaxes(k, -1, -2)\n    if mask"),),
        {
            "test_attention_forward_unmasked": "weights (q (2, 3, 4), k (2, 5, 4), v (2, 5, 6), no mask)",
            "test_attention_forward_causal": "weights (q (2, 5, 4), causal mask (5, 5))",
            "test_attention_forward_padding": "weights (q (4, 6, 5)",
            "test_attention_backward_numeric": "vs numeric gradient",
            "test_mha_self_attention": "out (self-attention, x_q (2, 5, 8), 1 heads, no mask)",
        },
        frozenset({"test_attention_forward_large_scores", *MHA}),
        diagnoses=frozenset({"scores_not_scaled"}),
    ),
    Case(
        "mask_multiplies_the_scores",  # masked scores become 0, not -inf: they still get weight
        (("        scores = np.where(mask, scores, -np.inf)\n", "        scores = scores * mask\n"),),
        {
            "test_attention_forward_causal": "weights (q (2, 5, 4), causal mask (5, 5))",
            "test_attention_forward_padding": "padding mask (4, 1, 6)",
            "test_attention_small": "weights (last key masked)",
            "test_mha_masks": "mask): max relative error",
        },
        frozenset({"test_attention_forward_large_scores", "test_attention_backward_numeric", "test_mha_weights_per_head"}),
        diagnoses=frozenset({"mask_multiplies"}),
    ),
    Case(
        "causal_mask_upper_triangle",
        (("    mask = np.tril(np.ones((L, L), dtype=bool))\n", "    mask = np.triu(np.ones((L, L), dtype=bool))\n"),),
        {"test_causal_mask": "causal_mask(4)[0, 1] is True: query i may attend to the keys j <= i only"},
        diagnoses=frozenset({"causal_mask_upper"}),
    ),
    Case(
        "backward_softmax_without_row_sum",  # treats the softmax as elementwise
        (("    dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))\n",
          "    dscores = weights * dweights\n"),),
        {
            "test_attention_backward_dq": "dq (q (2, 4, 3), k (2, 6, 3), v (2, 6, 5), padding mask)",
            "test_attention_backward_dk": "dk (q (2, 4, 3), k (2, 6, 3), v (2, 6, 5), padding mask)",
            "test_attention_backward_numeric": "dq (q (2, 4, 3), padding & causal mask, vs numeric gradient)",
        },
        diagnoses=frozenset({"backward_softmax_elementwise"}),
    ),
    Case(
        "mha_heads_split_by_plain_reshape",  # (N, L, E) -> (N, H, L, d) mixes positions and features
        (
            ('    q = (x_q @ params["W_q"].T + params["b_q"]).reshape(N, Lq, num_heads, d).transpose(0, 2, 1, 3)\n'
             '    k = (x_kv @ params["W_k"].T + params["b_k"]).reshape(N, Lk, num_heads, d).transpose(0, 2, 1, 3)\n'
             '    v = (x_kv @ params["W_v"].T + params["b_v"]).reshape(N, Lk, num_heads, d).transpose(0, 2, 1, 3)\n',
             '    q = (x_q @ params["W_q"].T + params["b_q"]).reshape(N, num_heads, Lq, d)\n'
             '    k = (x_kv @ params["W_k"].T + params["b_k"]).reshape(N, num_heads, Lk, d)\n'
             '    v = (x_kv @ params["W_v"].T + params["b_v"]).reshape(N, num_heads, Lk, d)\n'),
            ("    concat = heads.transpose(0, 2, 1, 3).reshape(N, Lq, E)\n", "    concat = heads.reshape(N, Lq, E)\n"),
        ),
        {
            "test_mha_self_attention": "out (self-attention, x_q (2, 5, 8), 2 heads, no mask)",
            "test_mha_cross_attention": "out (cross-attention, x_q (2, 3, 12), x_kv (2, 6, 12), 3 heads, no mask)",
            "test_mha_masks": "out (self-attention, x_q (3, 6, 8), 2 heads, lengths [6, 2, 4] mask)",
            "test_mha_weights_per_head": "weights (cross-attention, x_q (2, 4, 8), x_kv (2, 6, 8), 2 heads",
        },
        diagnoses=frozenset({"mha_plain_reshape"}),
    ),
    Case(
        "mha_keys_from_the_queries",  # self-attention only: cross-attention takes k and v from x_kv
        (('    k = (x_kv @ params["W_k"].T', '    k = (x_q @ params["W_k"].T'),
         ('    v = (x_kv @ params["W_v"].T', '    v = (x_q @ params["W_v"].T'),
         ("    Lk = x_kv.shape[1]\n", "    Lk = x_q.shape[1]\n")),
        {
            "test_mha_cross_attention": "out (cross-attention, x_q (2, 3, 12), x_kv (2, 6, 12), 3 heads, no mask)",
            "test_multi_head_shapes": "weights: shape (2, 4, 3, 3), expected (2, 4, 3, 5)",
        },
        # the padding mask of the keys (2, 1, 1, 6) meets scores over the queries (2, 2, 4, 4): numpy raises
        frozenset({"test_mha_weights_per_head"}),
        diagnoses=frozenset({"mha_keys_from_queries"}),
    ),
    Case(
        "positional_exponent_i_over_d",  # 10000^(i/d) for pair i instead of 10000^(2i/d)
        (("    frequencies = 1.0 / 10000.0 ** (np.arange(0, d, 2) / d)\n",
          "    frequencies = 1.0 / 10000.0 ** (np.arange(d // 2) / d)\n"),),
        {
            "test_positional_encoding": "positional_encoding(9, 48): max relative error",
            "test_positional_encoding_small": "positional_encoding(2, 4)",
        },
        diagnoses=frozenset({"positional_exponent"}),
    ),
    Case(
        "layer_norm_unbiased_variance",
        (("    var = x.var(axis=-1, keepdims=True)\n", "    var = x.var(axis=-1, keepdims=True, ddof=1)\n"),),
        {
            "test_layer_norm_forward": "layer norm out (x (4, 10)): max relative error",
            "test_layer_norm_backward_dx": "layer norm dx (x (4, 10))",
            "test_layer_norm_small": "layer norm of [1, 2, 3, 4]",
        },
        frozenset({"test_layer_norm_backward_dgamma_dbeta", "test_layer_norm_backward_numeric"}),
        diagnoses=frozenset({"layer_norm_unbiased"}),
    ),
    Case(
        "layer_norm_dx_without_the_xhat_term",
        (("    dx = inv_std / D * (D * dxhat - dxhat.sum(axis=-1, keepdims=True)\n"
          "                        - xhat * np.sum(dxhat * xhat, axis=-1, keepdims=True))\n",
          "    dx = inv_std / D * (D * dxhat - dxhat.sum(axis=-1, keepdims=True))\n"),),
        {
            "test_layer_norm_backward_dx": "layer norm dx (x (4, 10)): max relative error",
            "test_layer_norm_backward_numeric": "layer norm dx (x (3, 5), vs numeric gradient)",
        },
        diagnoses=frozenset({"layer_norm_dx_without_xhat_term"}),
    ),
    Case(
        "attention_forward_calls_torch",
        (
            (
                "BLOCK:attention_forward",
                """
                import torch
                tq, tk = torch.from_numpy(q), torch.from_numpy(k)
                scores = (tq @ tk.transpose(-1, -2) / q.shape[-1] ** 0.5).numpy()
                if mask is not None:
                    scores = np.where(mask, scores, -np.inf)
                weights = softmax(scores, axis=-1)
                out = weights @ v
                """,
            ),
        ),
        # the numeric test differentiates the forward as run without torch (by hand), so it fails too
        {**{t: "must be written without torch" for t in (*ATTENTION_FORWARD, "test_attention_backward_numeric")},
         **{t: "without torch" for t in MHA}},
    ),
    # ---- part 2
    Case(
        "prepare_does_not_freeze",
        ((FREEZE, ""),),
        {
            "test_prepare_freezes_encoder": "requires_grad is True after prepare_for_finetuning",
            "test_finetune_keeps_encoder": "changed during finetune",
            "test_ft_model_encoder_unchanged": "differs from the checkpoint: the encoder must stay frozen",
            "test_prepare_small": "trainable parameters after prepare_for_finetuning",
        },
        frozenset({MATCHES, "test_finetune_seeded", *ACCURACY}),
    ),
    Case(
        "prepare_keeps_the_pretrained_head",  # "it has 5 outputs already": unfreezes the 0-4 head
        ((NEW_HEAD, "    model.head.requires_grad_(True)\n"),),
        {
            "test_prepare_head_shape": "head.weight has shape (5, 48), expected (3, 48)",
            "test_prepare_head_is_new_and_trainable": "head.weight is still the pretrained head",
            "test_prepare_small": "new head: 48 -> 5, expected 48 -> 3",
            "test_finetune_small": "expected shape (4, 2), got shape (4, 5)",
        },
        frozenset(ACCURACY),
    ),
    Case(
        "finetune_encoder_left_in_train_mode",  # dropout stays on in the frozen encoder
        ((ENCODER_EVAL, "        model.train()\n"),),
        {MATCHES: HEAD_DIFFERS},
        frozenset({"test_finetune_seeded", *ACCURACY}),
    ),
    Case(
        "finetune_with_adam",
        (("    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)\n",
          "    optimizer = torch.optim.Adam(params, lr=lr)\n"),),
        {MATCHES: HEAD_DIFFERS},
        frozenset(ACCURACY),
    ),
    Case(
        "finetune_unseeded_shuffle",
        ((SHUFFLE, "        for idx in torch.randperm(len(X)).split(batch_size):\n"),),
        {"test_finetune_seeded": "differs between two runs from the same model"},
    ),
    Case(
        "new_generator_every_epoch",  # every epoch repeats the first epoch's order
        (("    generator = torch.Generator().manual_seed(seed)\n    for epoch in range(epochs):\n",
          "    for epoch in range(epochs):\n        generator = torch.Generator().manual_seed(seed)\n"),),
        {ORDER: "create one torch.Generator().manual_seed(seed) before the epoch loop"},
    ),
    Case(
        "finetune_without_optimizer_step",
        (("            optimizer.step()\n", ""),),
        {
            "test_finetune_trains_head": "head.weight did not change during finetune",
            MATCHES: HEAD_DIFFERS,
            "test_ft_model_accuracy": "ft_model accuracy on held-out digits 5-9",
            "test_ft_model_beats_training_from_scratch": "the same network trained from scratch",
        },
        frozenset({"test_finetune_seeded", ORDER}),  # an untrained head is the same for every seed
    ),
    Case(
        "ft_model_without_pretrained_weights",  # the architecture, but random frozen weights
        ((FT_MODEL, "ft_model = prepare_for_finetuning(RowTransformer(num_classes=5), num_classes=5)\n"),),
        {
            "test_ft_model_encoder_unchanged": "differs from the checkpoint",
            "test_ft_model_accuracy": "ft_model accuracy on held-out digits 5-9",
            "test_ft_model_beats_training_from_scratch": "not above",
        },
    ),
    Case(
        "answer_frozen_dropout_wrong",
        (('ANSWER_FROZEN_DROPOUT = "c"  # SOLUTION', 'ANSWER_FROZEN_DROPOUT = "a"'),),
        {"test_answer_frozen_dropout": "ANSWER_FROZEN_DROPOUT = 'a' is not correct"},
    ),
]

ALTERNATIVES = [
    Case(
        "attention_with_einsum_and_a_large_negative",
        (
            (
                "BLOCK:attention_forward",
                """
                scores = np.einsum("...id,...jd->...ij", q, k) / np.sqrt(q.shape[-1])
                if mask is not None:
                    scores = np.where(np.broadcast_to(mask, scores.shape), scores, -1e30)
                weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
                weights /= weights.sum(axis=-1, keepdims=True)
                out = np.einsum("...ij,...jd->...id", weights, v)
                """,
            ),
            (
                "BLOCK:softmax",
                """
                m = np.max(x, axis=axis, keepdims=True)
                out = np.exp(x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))
                """,
            ),
        ),
    ),
    Case(
        "mha_one_head_at_a_time_layer_norm_by_the_chain_rule_positions_by_loops",
        (
            (
                "BLOCK:multi_head_attention_forward",
                """
                E = x_q.shape[-1]
                d = E // num_heads
                outs, all_weights = [], []
                for h in range(num_heads):
                    rows = slice(h * d, (h + 1) * d)
                    qh = x_q @ params["W_q"][rows].T + params["b_q"][rows]
                    kh = x_kv @ params["W_k"][rows].T + params["b_k"][rows]
                    vh = x_kv @ params["W_v"][rows].T + params["b_v"][rows]
                    oh, wh = attention_forward(qh, kh, vh, mask)
                    outs.append(oh)
                    all_weights.append(wh)
                out = np.concatenate(outs, axis=-1) @ params["W_o"].T + params["b_o"]
                weights = np.stack(all_weights, axis=1)
                """,
            ),
            (
                "BLOCK:layer_norm_backward",
                """
                xhat, inv_std, gamma = cache
                D = xhat.shape[-1]
                flat = dout.reshape(-1, D)
                dgamma = np.sum(flat * xhat.reshape(-1, D), axis=0)
                dbeta = np.sum(flat, axis=0)
                dxhat = dout * gamma
                xmu = xhat / inv_std
                dvar = np.sum(dxhat * xmu, axis=-1, keepdims=True) * -0.5 * inv_std ** 3
                dmean = -np.sum(dxhat * inv_std, axis=-1, keepdims=True) - 2.0 * dvar * np.mean(xmu, axis=-1, keepdims=True)
                dx = dxhat * inv_std + dvar * 2.0 * xmu / D + dmean / D
                """,
            ),
            (
                "BLOCK:positional_encoding",
                """
                pe = np.zeros((L, d))
                for p in range(L):
                    for i in range(0, d, 2):
                        angle = p * np.exp(-np.log(10000.0) * i / d)
                        pe[p, i], pe[p, i + 1] = np.sin(angle), np.cos(angle)
                """,
            ),
        ),
    ),
    Case(
        "finetune_whole_model_in_eval_mode",  # the head has no dropout: eval() everywhere is the same
        ((ENCODER_EVAL, "        model.eval()\n"),),
    ),
    Case(
        "finetune_with_a_dataloader",
        (
            (
                "BLOCK:prepare_for_finetuning",
                """
                model.requires_grad_(False)
                model.head = nn.Linear(model.head.in_features, num_classes)
                """,
            ),
            (
                "BLOCK:finetune",
                """
                dataset = torch.utils.data.TensorDataset(torch.from_numpy(np.asarray(X, dtype=np.float32)),
                                                         torch.from_numpy(np.asarray(y, dtype=np.int64)))
                loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                                     generator=torch.Generator().manual_seed(seed))
                optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()),
                                            lr=lr, momentum=0.9)
                loss_fn = nn.CrossEntropyLoss()
                model.eval()
                for epoch in range(epochs):
                    for xb, yb in loader:
                        optimizer.zero_grad()
                        loss_fn(model(xb), yb).backward()
                        optimizer.step()
                """,
            ),
        ),
    ),
]


# Mistakes in separate functions whose tests are disjoint and that nothing else calls are graded
# together (notebook_variants.combine checks that their `fails` are disjoint); the rest one by one.
ISOLATED = ("causal_mask_upper_triangle", "positional_exponent_i_over_d", "layer_norm_dx_without_the_xhat_term",
            "answer_frozen_dropout_wrong")
BUG_RUNS = [combine(*(c for c in BUGS if c.id in ISOLATED)), *(c for c in BUGS if c.id not in ISOLATED)]

# Correct alternatives are graded together where their edits do not touch the same code: one run each.
ALTERNATIVE_RUNS = [combine(*(c for c in ALTERNATIVES if c.id != "finetune_whole_model_in_eval_mode")),
                    *(c for c in ALTERNATIVES if c.id == "finetune_whole_model_in_eval_mode")]
RUNS = BUG_RUNS
