"""The rnn assignment's variant catalogue (judge-side; never shipped to students).

BUGS: the solution with one typical mistake each, the tests each must fail (with the text
their messages must hold) and the misconceptions each must be diagnosed with; ALTERNATIVES:
correct variants that must keep full marks and get no diagnosis. Read by
grader.authoring.variants (`grade validate --variants`, tests/test_rnn_variants.py).
"""

from __future__ import annotations

from grader.authoring.variants import Case, combine

#: code cells holding this are left out of every graded variant (a slow self-check)
DROP_MARKER = "rel_error("


ACCURACY = "test_seq_model_accuracy"

DWH_FROM_NEXT_H = Case(
    "rnn_step_dWh_uses_next_h",
    (("    dWh = prev_h.T @ da\n    db = da.sum(axis=0)\n    # END SOLUTION\n    return dx, dprev_h, dWx, dWh, db",
      "    dWh = next_h.T @ da\n    db = da.sum(axis=0)\n    # END SOLUTION\n    return dx, dprev_h, dWx, dWh, db"),),
    {
        "test_rnn_step_backward": "rnn_step_backward dWh: max relative error",
        "test_rnn_step_backward_numeric": "rnn_step_backward dWh (vs numeric gradient)",
        "test_rnn_backward": "rnn_backward dWh (x (3, 6, 4), upstream gradient on every step)",
        "test_rnn_backward_last_step_only": "rnn_backward dWh (upstream gradient on the last step only)",
        "test_rnn_backward_numeric": "rnn_backward dWh (vs numeric gradient)",
    },
    diagnoses=frozenset({"rnn_step_dwh_uses_next_h"}),
)
BPTT_DROPS_CARRY = Case(
    "bptt_ignores_the_gradient_from_the_next_step",
    (("rnn_step_backward(dh[:, t] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t], cache[t])"),),
    {
        "test_rnn_backward": "rnn_backward dx (x (3, 6, 4), upstream gradient on every step)",
        "test_rnn_backward_last_step_only": "rnn_backward dx (upstream gradient on the last step only)",
        "test_rnn_backward_numeric": "rnn_backward dx (vs numeric gradient)",
        "test_grad_norms_through_time": "grad_norms_through_time (T = 7; L = sum of the LAST hidden state)",
        "test_vanishing_gradient_over_30_steps": "grad_norms_through_time (T = 30, Wh = 0.5 * orthogonal",
    },
    diagnoses=frozenset({"bptt_drops_carry"}),
)
BPTT_OVERWRITES_DWX = Case(
    "bptt_dWx_overwritten_at_each_step",
    (("        dWx += dWx_t\n", "        dWx = dWx_t\n"),),
    {
        "test_rnn_backward": "rnn_backward dWx (x (3, 6, 4)",
        "test_rnn_backward_last_step_only": "rnn_backward dWx (upstream gradient on the last step only)",
        "test_rnn_backward_numeric": "rnn_backward dWx (vs numeric gradient)",
    },
    diagnoses=frozenset({"bptt_dwx_overwritten"}),
)
FORWARD_STORES_PREVIOUS = Case(
    "rnn_forward_stores_the_previous_state",  # h[:, t] = h_{t-1}: h0 first, the last state lost
    (("        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)\n        h[:, t] = prev_h\n",
      "        h[:, t] = prev_h\n        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)\n"),),
    {
        "test_rnn_forward": "h (x (3, 6, 4), h0 (3, 5)): max relative error",
        "test_rnn_forward_small": "h: max relative error",
        # the numeric gradient of this forward is not what the (correct) backward computes
        "test_rnn_backward_numeric": "rnn_backward dx (vs numeric gradient)",
    },
    diagnoses=frozenset({"rnn_forward_stores_previous"}),
)
LSTM_CS231N_ORDER = Case(
    "lstm_gates_in_cs231n_order",  # i, f, o, g, consistently in both passes
    (
        ("    g = np.tanh(a[:, 2 * H:3 * H])\n    o = sigmoid(a[:, 3 * H:])\n",
         "    o = sigmoid(a[:, 2 * H:3 * H])\n    g = np.tanh(a[:, 3 * H:])\n"),
        ("[di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)]",
         "[di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)]"),
    ),
    {
        "test_lstm_step_forward": "next_c (x (4, 3), H = 5); your gates are in CS231n's order (i, f, o, g), "
                                  "PyTorch's is (i, f, g, o)",
        "test_lstm_step_backward": "lstm_step_backward dx: max relative error",
        "test_lstm_step_backward_cell_only": "lstm_step_backward dx (dnext_h = 0)",
        "test_lstm_step_forward_small": "next_c (f * prev_c + i * g)",
    },
    diagnoses=frozenset({"lstm_gates_cs231n_order"}),
)
LSTM_NO_H_TO_C = Case(
    "lstm_backward_misses_the_path_from_h_to_c",
    (("    dc = dnext_c + dnext_h * o * (1.0 - tanh_c**2)\n", "    dc = dnext_c\n"),),
    {
        "test_lstm_step_backward": "lstm_step_backward dx: max relative error",
        "test_lstm_step_backward_numeric": "lstm_step_backward dx (vs numeric gradient)",
    },
    diagnoses=frozenset({"lstm_backward_misses_h_to_c"}),
)
LSTM_DPREV_C = Case(
    "lstm_dprev_c_without_the_forget_gate",
    (("    dprev_c = dc * f\n", "    dprev_c = dc\n"),),
    {
        "test_lstm_step_backward": "lstm_step_backward dprev_c: max relative error",
        "test_lstm_step_backward_cell_only": "lstm_step_backward dprev_c (dnext_h = 0)",
        "test_lstm_step_backward_numeric": "lstm_step_backward dprev_c (vs numeric gradient)",
    },
    diagnoses=frozenset({"lstm_dprev_c_without_forget"}),
)
LSTM_OUTPUT_GATE_TANH_DERIVATIVE = Case(
    "lstm_output_gate_with_the_tanh_derivative",
    (("do * o * (1 - o)]", "do * (1 - o**2)]"),),
    {
        "test_lstm_step_backward": "lstm_step_backward dx: max relative error",
        "test_lstm_step_backward_numeric": "lstm_step_backward dx (vs numeric gradient)",
    },
    diagnoses=frozenset({"lstm_output_gate_tanh_derivative"}),
)
CLIP_PER_TENSOR = Case(
    "clip_each_gradient_by_its_own_norm",
    (("    clipped = {k: g * scale if scale < 1.0 else g.copy() for k, g in grads.items()}\n",
      "    clipped = {k: g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for k, g in grads.items()}\n"),),
    {
        "test_clip_grad_norm_clips": "clipped['Wx'] (max_norm 1.5): max relative error",
        "test_clip_grad_norm_small": "clipped['Wx']: max relative error",
    },
    diagnoses=frozenset({"clip_per_tensor"}),
)
CLIP_IN_PLACE = Case(
    "clip_scales_the_given_arrays_in_place",
    (("    clipped = {k: g * scale if scale < 1.0 else g.copy() for k, g in grads.items()}\n",
      "    if scale < 1.0:\n        for g in grads.values():\n            g *= scale\n    clipped = grads\n"),),
    {"test_clip_grad_norm_leaves_its_input": "grads['Wx'] after clip_grad_norm (the dict passed in must not change)"},
    diagnoses=frozenset({"clip_in_place"}),
)
CLIP_RETURNS_NEW_NORM = Case(
    "clip_returns_the_norm_after_clipping",
    (("    return clipped, total_norm",
      "    return clipped, float(np.sqrt(sum(np.sum(g**2) for g in clipped.values())))"),),
    {
        "test_clip_grad_norm_clips": "clip_grad_norm total_norm = 1.49999",
        "test_clip_grad_norm_small": "total_norm = 1, expected sqrt(52) = 7.2111",
    },
    diagnoses=frozenset({"clip_returns_new_norm"}),
)
NORMS_OF_ALL_STATES = Case(
    "grad_norms_for_the_sum_of_every_hidden_state",
    (("    dh = np.zeros_like(h)\n    dh[:, -1] = 1.0\n", "    dh = np.ones_like(h)\n"),),
    {
        "test_grad_norms_through_time": "grad_norms_through_time (T = 7; L = sum of the LAST hidden state)",
        "test_vanishing_gradient_over_30_steps": "grad_norms_through_time (T = 30",
    },
    diagnoses=frozenset({"grad_norms_of_every_state"}),
)
NOT_RECURRENT = Case(
    "classifier_averages_the_rows_without_a_recurrent_layer",
    (("BLOCK:build_sequence_classifier", """
      class MeanClassifier(nn.Module):
          def __init__(self):
              super().__init__()
              self.hidden = nn.Linear(input_size, hidden_size)
              self.fc = nn.Linear(hidden_size, num_classes)

          def forward(self, x):
              return self.fc(torch.relu(self.hidden(x)).mean(dim=1))

      model = MeanClassifier()
      """),),
    {
        "test_build_sequence_classifier": "build_sequence_classifier(input_size=5, hidden_size=7, num_classes=4) has "
                                          "no nn.GRU or nn.LSTM layer (its modules: Linear, MeanClassifier)",
        "test_seq_model_is_recurrent": "seq_model has no nn.GRU or nn.LSTM layer",
    },
    frozenset({ACCURACY}),
)
VANISHING_BOUND_WRONG = Case(
    "answer_vanishing_bound_multiplied",
    (("ANSWER_VANISHING_BOUND = 0.5**10  # SOLUTION", "ANSWER_VANISHING_BOUND = 0.5 * 10"),),
    {"test_answer_vanishing_bound": "ANSWER_VANISHING_BOUND = 5 is not correct"},
)

BUGS = [DWH_FROM_NEXT_H, BPTT_DROPS_CARRY, BPTT_OVERWRITES_DWX, FORWARD_STORES_PREVIOUS, LSTM_CS231N_ORDER,
        LSTM_NO_H_TO_C, LSTM_DPREV_C, LSTM_OUTPUT_GATE_TANH_DERIVATIVE, CLIP_PER_TENSOR, CLIP_IN_PLACE,
        CLIP_RETURNS_NEW_NORM, NORMS_OF_ALL_STATES, NOT_RECURRENT, VANISHING_BOUND_WRONG]
#: one grading run each; within a run the cases touch different functions and tests
RUNS = [
    combine(DWH_FROM_NEXT_H, LSTM_CS231N_ORDER, CLIP_PER_TENSOR, NOT_RECURRENT, VANISHING_BOUND_WRONG),
    combine(BPTT_DROPS_CARRY, LSTM_NO_H_TO_C, CLIP_IN_PLACE),
    combine(BPTT_OVERWRITES_DWX, LSTM_DPREV_C, CLIP_RETURNS_NEW_NORM),
    combine(FORWARD_STORES_PREVIOUS, LSTM_OUTPUT_GATE_TANH_DERIVATIVE, NORMS_OF_ALL_STATES),
]

ALTERNATIVES = [
    Case(
        "inlined_and_vectorised",  # BPTT without the step function, one sigmoid for three gates, einsum
        (
            ("BLOCK:rnn_backward", """
             N, T, H = dh.shape
             Wx, Wh = cache[0][2], cache[0][3]
             dx = np.empty((N, T, Wx.shape[0]))
             dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
             carry = np.zeros((N, H))
             for t in range(T - 1, -1, -1):
                 x_t, h_prev, _, _, h_t = cache[t]
                 da = (dh[:, t] + carry) * (1.0 - h_t * h_t)
                 dx[:, t] = np.einsum("nh,dh->nd", da, Wx)
                 carry = da @ Wh.T
                 dWx += np.einsum("nd,nh->dh", x_t, da)
                 dWh += h_prev.T @ da
                 db += np.einsum("nh->h", da)
             dh0 = carry
             """),
            ("BLOCK:lstm_step_forward", """
             H = prev_h.shape[1]
             a = x @ Wx + prev_h @ Wh + b
             ifo = sigmoid(np.concatenate([a[:, :2 * H], a[:, 3 * H:]], axis=1))
             i, f, o = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:]
             g = np.tanh(a[:, 2 * H:3 * H])
             next_c = prev_c * f + g * i
             next_h = np.tanh(next_c) * o
             cache = {"x": x, "h": prev_h, "c": prev_c, "Wx": Wx, "Wh": Wh, "gates": (i, f, g, o), "next_c": next_c}
             """),
            ("BLOCK:lstm_step_backward", """
             i, f, g, o = cache["gates"]
             t = np.tanh(cache["next_c"])
             dc = dnext_c + dnext_h * o * (1.0 - t * t)
             da = np.hstack([dc * g * i * (1 - i), dc * cache["c"] * f * (1 - f), dc * i * (1 - g * g),
                             dnext_h * t * o * (1 - o)])
             dx, dprev_h, dprev_c = da @ cache["Wx"].T, da @ cache["Wh"].T, dc * f
             dWx, dWh, db = cache["x"].T @ da, cache["h"].T @ da, np.sum(da, axis=0)
             """),
            ("BLOCK:clip_grad_norm", """
             flat = np.concatenate([np.ravel(g) for g in grads.values()])
             total_norm = float(np.linalg.norm(flat))
             factor = min(1.0, max_norm / (total_norm + 1e-6))
             clipped = {name: factor * value for name, value in grads.items()}
             """),
            ("BLOCK:grad_norms_through_time", """
             h, cache = rnn_forward(x, h0, Wx, Wh, b)
             upstream = np.zeros(h.shape)
             upstream[:, x.shape[1] - 1, :] = 1.0
             norms = np.linalg.norm(rnn_backward(upstream, cache)[0], axis=(0, 2))
             """),
        ),
    ),
    Case(
        "lstm_classifier_from_h_n",  # nn.LSTM, its final hidden state h_n, answers spelled differently
        (
            ("BLOCK:build_sequence_classifier", """
             class LSTMClassifier(nn.Module):
                 def __init__(self):
                     super().__init__()
                     self.lstm = nn.LSTM(input_size=input_size, hidden_size=hidden_size, batch_first=True)
                     self.head = nn.Linear(hidden_size, num_classes)

                 def forward(self, x):
                     _, (h_n, _) = self.lstm(x)
                     return self.head(h_n[-1])

             model = LSTMClassifier()
             """),
            ("optimizer = torch.optim.Adam(seq_model.parameters(), lr=0.02)\nshuffle = torch.Generator().manual_seed(1)\n"
             "X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)\nfor epoch in range(10):\n",
             "optimizer = torch.optim.Adam(seq_model.parameters(), lr=0.02)\nshuffle = torch.Generator().manual_seed(1)\n"
             "X_t, y_t = torch.from_numpy(X_train), torch.from_numpy(y_train)\nfor epoch in range(15):\n"),
            ("ANSWER_RNN_PARAMS = 8 * 32 + 32 * 32 + 32  # SOLUTION", "ANSWER_RNN_PARAMS = 1312"),
            ('ANSWER_LSTM_FIX = "b"  # SOLUTION', 'ANSWER_LSTM_FIX = " (B) "'),
            ("ANSWER_VANISHING_BOUND = 0.5**10  # SOLUTION", "ANSWER_VANISHING_BOUND = 0.000977"),
        ),
    ),
]

#: one grading run: the alternatives rewrite different functions
ALTERNATIVE_RUNS = [combine(*ALTERNATIVES)]
