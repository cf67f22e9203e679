"""The rnn assignment's misconceptions (judge-side; never shipped to students).

Probes call the student's RNN and LSTM steps, BPTT and clipping on small fixed, seeded
float64 inputs and compare with the named wrong formula, computed here by plain NumPy, within
PROBE_RTOL (CS231n relative error; the same float64 expression up to summation order),
requiring it to differ from the right one beyond that. Probes of a backward pass use the
student's own forward cache, so the backward mistake is judged on its own. At most two calls
into the notebook per probe. See docs/authoring.md, "Misconceptions".
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, as_float64, same, wrong_not_right

PROBE_RTOL = 1e-7
N, T, D, H = 3, 4, 4, 5

RNN_STEP = ("test_rnn_step_backward", "test_rnn_step_backward_numeric")
RNN_BPTT = ("test_rnn_backward", "test_rnn_backward_last_step_only", "test_rnn_backward_numeric")
RNN_FWD = ("test_rnn_forward", "test_rnn_forward_small")
LSTM_FWD = ("test_lstm_step_forward", "test_lstm_step_forward_small")
LSTM_BWD = ("test_lstm_step_backward", "test_lstm_step_backward_cell_only", "test_lstm_step_backward_numeric")
CLIP = ("test_clip_grad_norm_clips", "test_clip_grad_norm_small", "test_clip_grad_norm_leaves_its_input")
NORMS = ("test_grad_norms_through_time", "test_vanishing_gradient_over_30_steps")


def _params(hidden=H, seed=2):
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal((D, hidden)), 0.5 * rng.standard_normal((H, hidden)),
            0.2 * rng.standard_normal(hidden), rng)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------------------- vanilla RNN


def rnn_step_dwh_uses_next_h(submission, reference) -> bool:
    Wx, Wh, b, rng = _params()
    x, prev_h, dnext = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    next_h, cache = submission.rnn_step_forward(x.copy(), prev_h.copy(), Wx.copy(), Wh.copy(), b.copy())
    dWh = submission.rnn_step_backward(dnext.copy(), cache)[3]
    right_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    if not same(next_h, right_h, PROBE_RTOL):
        return False
    da = dnext * (1 - right_h**2)
    return wrong_not_right(dWh, right_h.T @ da, prev_h.T @ da, PROBE_RTOL)


def _sequence(seed=3):
    Wx, Wh, b, rng = _params(seed=seed)
    return rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), Wx, Wh, b, rng.standard_normal((N, T, H))


def _bptt(x, h0, Wx, Wh, b, dh, carry=True, accumulate_dwx=True):
    """(dx, dWx) of BPTT through the right forward pass, with the named mistakes."""
    hs, prev = [], h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        hs.append(prev)
    dx, dWx, dprev = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(h0)
    for t in reversed(range(T)):
        da = (dh[:, t] + (dprev if carry else 0.0)) * (1 - hs[t] ** 2)
        dx[:, t], dprev = da @ Wx.T, da @ Wh.T
        dWx = dWx + x[:, t].T @ da if accumulate_dwx else x[:, t].T @ da
    return dx, dWx


def _student_bptt(submission):
    x, h0, Wx, Wh, b, dh = _sequence()
    _, cache = submission.rnn_forward(x.copy(), h0.copy(), Wx.copy(), Wh.copy(), b.copy())
    out = submission.rnn_backward(dh.copy(), cache)
    return out, (x, h0, Wx, Wh, b, dh)


def bptt_drops_carry(submission, reference) -> bool:
    (dx, *_), inputs = _student_bptt(submission)
    return wrong_not_right(dx, _bptt(*inputs, carry=False)[0], _bptt(*inputs)[0], PROBE_RTOL)


def bptt_dwx_overwritten(submission, reference) -> bool:
    (dx, _, dWx, *_), inputs = _student_bptt(submission)
    right_dx, right = _bptt(*inputs)
    return same(dx, right_dx, PROBE_RTOL) and wrong_not_right(
        dWx, _bptt(*inputs, accumulate_dwx=False)[1], right, PROBE_RTOL)


def rnn_forward_stores_previous(submission, reference) -> bool:
    x, h0, Wx, Wh, b, _ = _sequence()
    h, _ = submission.rnn_forward(x.copy(), h0.copy(), Wx.copy(), Wh.copy(), b.copy())
    right, prev = np.zeros((N, T, H)), h0
    for t in range(T):
        prev = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        right[:, t] = prev
    wrong = np.concatenate([h0[:, None], right[:, :-1]], axis=1)
    return wrong_not_right(h, wrong, right, PROBE_RTOL)


# ----------------------------------------------------------------------------- LSTM


def _lstm_inputs(seed=4):
    Wx, Wh, b, rng = _params(hidden=4 * H, seed=seed)
    return (rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)), Wx, Wh, b,
            rng.standard_normal((N, H)), rng.standard_normal((N, H)))


def _lstm(x, prev_h, prev_c, Wx, Wh, b, order="ifgo"):
    a = x @ Wx + prev_h @ Wh + b
    blocks = dict(zip(order, (a[:, k * H:(k + 1) * H] for k in range(4))))
    i, f, o, g = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"]), np.tanh(blocks["g"])
    next_c = f * prev_c + i * g
    return o * np.tanh(next_c), next_c, (i, f, g, o, np.tanh(next_c))


def lstm_gates_cs231n_order(submission, reference) -> bool:
    x, prev_h, prev_c, Wx, Wh, b, *_ = _lstm_inputs()
    _, next_c, _ = submission.lstm_step_forward(x.copy(), prev_h.copy(), prev_c.copy(), Wx.copy(), Wh.copy(), b.copy())
    wrong = _lstm(x, prev_h, prev_c, Wx, Wh, b, order="ifog")[1]
    return wrong_not_right(next_c, wrong, _lstm(x, prev_h, prev_c, Wx, Wh, b)[1], PROBE_RTOL)


def _lstm_backward(x, prev_h, prev_c, Wx, Wh, b, dnext_h, dnext_c, h_to_c=True, forget=True, o_tanh=False):
    """(dx, dprev_c) with the named mistakes."""
    _, _, (i, f, g, o, tanh_c) = _lstm(x, prev_h, prev_c, Wx, Wh, b)
    do = dnext_h * tanh_c
    dc = dnext_c + (dnext_h * o * (1 - tanh_c**2) if h_to_c else 0.0)
    do_a = do * (1 - o**2) if o_tanh else do * o * (1 - o)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dc * i * (1 - g**2), do_a], axis=1)
    return da @ Wx.T, dc * f if forget else dc


def _student_lstm_backward(submission):
    inputs = _lstm_inputs()
    x, prev_h, prev_c, Wx, Wh, b, dnext_h, dnext_c = inputs
    next_h, next_c, cache = submission.lstm_step_forward(x.copy(), prev_h.copy(), prev_c.copy(), Wx.copy(), Wh.copy(),
                                                         b.copy())
    if not same(next_c, _lstm(x, prev_h, prev_c, Wx, Wh, b)[1], PROBE_RTOL):
        return None, inputs  # a forward mistake: the backward pass is not judged here
    out = submission.lstm_step_backward(dnext_h.copy(), dnext_c.copy(), cache)
    return (as_float64(out[0]), as_float64(out[2])), inputs


def lstm_backward_misses_h_to_c(submission, reference) -> bool:
    got, inputs = _student_lstm_backward(submission)
    right = _lstm_backward(*inputs)
    return got is not None and wrong_not_right(got[0], _lstm_backward(*inputs, h_to_c=False)[0], right[0], PROBE_RTOL)


def lstm_dprev_c_without_forget(submission, reference) -> bool:
    got, inputs = _student_lstm_backward(submission)
    right = _lstm_backward(*inputs)
    return got is not None and same(got[0], right[0], PROBE_RTOL) and wrong_not_right(
        got[1], _lstm_backward(*inputs, forget=False)[1], right[1], PROBE_RTOL)


def lstm_output_gate_tanh_derivative(submission, reference) -> bool:
    got, inputs = _student_lstm_backward(submission)
    right = _lstm_backward(*inputs)
    return got is not None and wrong_not_right(got[0], _lstm_backward(*inputs, o_tanh=True)[0], right[0], PROBE_RTOL)


# ----------------------------------------------------------------------------- clipping, norms


def _grads():
    rng = np.random.default_rng(6)
    return {"Wx": 3.0 * rng.standard_normal((4, 3)), "Wh": 0.1 * rng.standard_normal((3, 3)), "b": rng.standard_normal(3)}


def _clip(submission, grads, max_norm=1.5):
    out = submission.clip_grad_norm(grads, max_norm)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], dict)):
        return None, None
    return out


def clip_per_tensor(submission, reference) -> bool:
    grads = _grads()
    clipped, _ = _clip(submission, {k: g.copy() for k, g in grads.items()})
    if clipped is None or set(clipped) != set(grads):
        return False
    total = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    return all(wrong_not_right(clipped[k], g * min(1.0, 1.5 / (np.linalg.norm(g) + 1e-6)), g * 1.5 / (total + 1e-6),
                               PROBE_RTOL) for k, g in grads.items() if k == "Wx")


def clip_in_place(submission, reference) -> bool:
    """The dict passed in comes back scaled (the student's function changed its arrays)."""
    grads = _grads()
    given = {k: g.copy() for k, g in grads.items()}
    clipped, _ = _clip(submission, given)
    total = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    return clipped is not None and all(
        wrong_not_right(given[k], g * 1.5 / (total + 1e-6), g, PROBE_RTOL) for k, g in grads.items())


def clip_returns_new_norm(submission, reference) -> bool:
    grads = _grads()
    clipped, norm = _clip(submission, {k: g.copy() for k, g in grads.items()})
    total = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    return clipped is not None and wrong_not_right(norm, total * 1.5 / (total + 1e-6), total, PROBE_RTOL)


def grad_norms_of_every_state(submission, reference) -> bool:
    """The norms for L = the sum of every hidden state, where the question is the last one's."""
    x, h0, Wx, Wh, b, _ = _sequence()
    got = submission.grad_norms_through_time(x.copy(), h0.copy(), Wx.copy(), Wh.copy(), b.copy())
    last = np.zeros((N, T, H))
    last[:, -1] = 1.0
    norms = [np.sqrt(np.sum(_bptt(x, h0, Wx, Wh, b, dh)[0] ** 2, axis=(0, 2))) for dh in (np.ones((N, T, H)), last)]
    return wrong_not_right(got, norms[0], norms[1], PROBE_RTOL)


MISCONCEPTIONS = [
    Misconception(
        "rnn_step_dwh_uses_next_h", "used the new hidden state instead of the previous one in dWh",
        "Wh multiplies prev_h in a = x Wx + prev_h Wh + b, so its gradient pairs prev_h with da; "
        "next_h is the step's output, not its input.",
        RNN_STEP + RNN_BPTT, rnn_step_dwh_uses_next_h),
    Misconception(
        "bptt_drops_carry", "left the gradient from later time steps out of backpropagation through time",
        "h_t feeds the loss directly and also the next step. Its gradient is the sum of both: the "
        "upstream gradient at t plus what flows back from step t + 1.",
        RNN_BPTT + NORMS, bptt_drops_carry),
    Misconception(
        "bptt_dwx_overwritten", "assigned dWx at every time step instead of adding to it",
        "The same Wx is used at every time step, so each step contributes to its gradient; add "
        "them up over the sequence.",
        RNN_BPTT, bptt_dwx_overwritten),
    Misconception(
        "rnn_forward_stores_previous", "stored each step's input state instead of its output in h",
        "h[:, t] is the hidden state after step t has read x[:, t]: store it after the step, not before.",
        RNN_FWD + ("test_rnn_backward_numeric",), rnn_forward_stores_previous),
    Misconception(
        "lstm_gates_cs231n_order", "sliced the LSTM gates in CS231n's order (i, f, o, g)",
        "This assignment follows PyTorch: the four blocks of the pre-activation are input, forget, "
        "cell (g) and output gates, in that order.",
        LSTM_FWD + LSTM_BWD, lstm_gates_cs231n_order),
    Misconception(
        "lstm_backward_misses_h_to_c", "left the path from next_h to next_c out of the cell gradient",
        "next_h = o * tanh(next_c), so next_c receives gradient from next_h as well as from dnext_c; "
        "add both before going further back.",
        LSTM_BWD, lstm_backward_misses_h_to_c),
    Misconception(
        "lstm_dprev_c_without_forget", "passed the cell gradient back without the forget gate",
        "next_c = f * prev_c + i * g: prev_c is scaled by the forget gate, so its gradient is too.",
        LSTM_BWD, lstm_dprev_c_without_forget),
    Misconception(
        "lstm_output_gate_tanh_derivative", "used tanh's derivative for the output gate",
        "The output gate is a sigmoid, whose derivative is o (1 - o); 1 - o^2 belongs to tanh (the g gate).",
        LSTM_BWD, lstm_output_gate_tanh_derivative),
    Misconception(
        "clip_per_tensor", "clipped each gradient by its own norm",
        "Clipping by the global norm measures all gradients together and scales them by one common "
        "factor, so their directions relative to each other are kept.",
        CLIP, clip_per_tensor),
    Misconception(
        "clip_in_place", "scaled the caller's gradient arrays in place",
        "clip_grad_norm returns new arrays; the gradients passed in must stay as they were.",
        CLIP, clip_in_place),
    Misconception(
        "clip_returns_new_norm", "returned the norm after clipping instead of before",
        "The norm returned is the one that was measured, before scaling: it tells how large the "
        "gradient was, which is what you monitor.",
        CLIP, clip_returns_new_norm),
    Misconception(
        "grad_norms_of_every_state", "backpropagated from the sum of every hidden state",
        "The question is how the LAST hidden state depends on each input: the upstream gradient is 1 "
        "on the last step only and 0 elsewhere.",
        NORMS, grad_norms_of_every_state),
]
