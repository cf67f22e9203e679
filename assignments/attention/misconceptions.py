"""The attention assignment's misconceptions (judge-side; never shipped to students).

Probes call the student's softmax, attention, multi-head attention, positional encoding and
layer norm on small fixed, seeded float64 inputs and compare with the named wrong formula,
computed here from the reference's own pieces, within PROBE_RTOL (CS231n relative error; the
same float64 expression up to summation order), requiring it to differ from the right one
beyond that. At most two calls into the notebook per probe. See docs/authoring.md,
"Misconceptions".
"""

from __future__ import annotations

import numpy as np

from grader.course.misconceptions import Misconception, as_float64, same, wrong_not_right

PROBE_RTOL = 1e-7

SOFTMAX = ("test_softmax_matches_torch", "test_softmax_large_scores", "test_softmax_small",
           "test_attention_forward_large_scores")
FORWARD = ("test_attention_forward_unmasked", "test_attention_forward_causal", "test_attention_forward_padding",
           "test_attention_forward_large_scores", "test_attention_small", "test_attention_backward_numeric")
BACKWARD = ("test_attention_backward_dq", "test_attention_backward_dk", "test_attention_backward_numeric")
MHA = ("test_mha_self_attention", "test_mha_cross_attention", "test_mha_masks", "test_mha_weights_per_head",
       "test_multi_head_shapes")
LAYER_NORM = ("test_layer_norm_forward", "test_layer_norm_backward_dx", "test_layer_norm_backward_dgamma_dbeta",
              "test_layer_norm_backward_numeric", "test_layer_norm_small")


def _qkv(seed=8, n=2, lq=3, lk=5, d=4, dv=6):
    rng = np.random.default_rng(seed)
    return (2.0 * rng.standard_normal((n, lq, d)), 2.0 * rng.standard_normal((n, lk, d)),
            rng.standard_normal((n, lk, dv)), rng)


def _weights(submission, q, k, v, mask=None):
    out = submission.attention_forward(q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy())
    return as_float64(out[1]) if isinstance(out, tuple) and len(out) == 2 else None


def softmax_no_shift(submission, reference) -> bool:
    """Right for moderate scores; non-finite for scores around 1000 (exp overflows)."""
    x = np.random.default_rng(1).standard_normal((3, 5))
    if not same(submission.softmax(x.copy(), axis=-1), reference.softmax(x), PROBE_RTOL):
        return False
    big = as_float64(submission.softmax(x + 1000.0, axis=-1))
    return big is not None and big.shape == x.shape and not np.isfinite(big).all()


def softmax_over_queries(submission, reference) -> bool:
    q, k, v, _ = _qkv()
    scores = q @ np.swapaxes(k, -1, -2) / 2.0  # sqrt(d), d = 4
    return wrong_not_right(_weights(submission, q, k, v), reference.softmax(scores, axis=-2),
                           reference.softmax(scores, axis=-1), PROBE_RTOL)


def scores_not_scaled(submission, reference) -> bool:
    q, k, v, _ = _qkv()
    scores = q @ np.swapaxes(k, -1, -2)
    return wrong_not_right(_weights(submission, q, k, v), reference.softmax(scores),
                           reference.softmax(scores / 2.0), PROBE_RTOL)


def mask_multiplies(submission, reference) -> bool:
    q, k, v, _ = _qkv()
    mask = reference.padding_mask([3, 5], 5)
    scores = q @ np.swapaxes(k, -1, -2) / 2.0
    return wrong_not_right(_weights(submission, q, k, v, mask), reference.softmax(scores * mask),
                           reference.softmax(np.where(mask, scores, -np.inf)), PROBE_RTOL)


def causal_mask_upper(submission, reference) -> bool:
    got = as_float64(submission.causal_mask(4))
    return got is not None and np.array_equal(got, np.triu(np.ones((4, 4))))


def backward_softmax_elementwise(submission, reference) -> bool:
    """dscores = weights * dweights: the softmax's Jacobian taken as diagonal."""
    q, k, v, rng = _qkv()
    _, weights = reference.attention_forward(q, k, v)
    dout = rng.standard_normal((2, 3, 6))
    out = submission.attention_backward(dout.copy(), q.copy(), k.copy(), v.copy(), weights.copy())
    dweights = dout @ np.swapaxes(v, -1, -2)
    wrong = (weights * dweights) @ k / 2.0
    return isinstance(out, tuple) and len(out) == 3 and wrong_not_right(
        out[0], wrong, reference.attention_backward(dout, q, k, v, weights)[0], PROBE_RTOL)


def _mha_case(seed=9, n=2, lq=4, lk=4, e=8):
    rng = np.random.default_rng(seed)
    params = {f"W_{s}": rng.standard_normal((e, e)) / np.sqrt(e) for s in "qkvo"}
    params.update({f"b_{s}": 0.1 * rng.standard_normal(e) for s in "qkvo"})
    return rng.standard_normal((n, lq, e)), rng.standard_normal((n, lk, e)), params


def _mha(reference, x_q, x_kv, p, heads, plain_reshape=False):
    def split(x):
        n, length, e = x.shape
        if plain_reshape:
            return x.reshape(n, heads, length, e // heads)
        return x.reshape(n, length, heads, e // heads).transpose(0, 2, 1, 3)

    q = split(x_q @ p["W_q"].T + p["b_q"])
    k, v = split(x_kv @ p["W_k"].T + p["b_k"]), split(x_kv @ p["W_v"].T + p["b_v"])
    out, _ = reference.attention_forward(q, k, v)
    n, h, lq, d = out.shape
    concat = out.reshape(n, lq, h * d) if plain_reshape else out.transpose(0, 2, 1, 3).reshape(n, lq, h * d)
    return concat @ p["W_o"].T + p["b_o"]


def _student_mha(submission, x_q, x_kv, params, heads):
    out = submission.multi_head_attention_forward(x_q.copy(), x_kv.copy(), {k: a.copy() for k, a in params.items()},
                                                  heads)
    return as_float64(out[0]) if isinstance(out, tuple) and len(out) == 2 else None


def mha_plain_reshape(submission, reference) -> bool:
    x_q, _, params = _mha_case()
    got = _student_mha(submission, x_q, x_q, params, 2)
    return wrong_not_right(got, _mha(reference, x_q, x_q, params, 2, plain_reshape=True),
                           _mha(reference, x_q, x_q, params, 2), PROBE_RTOL)


def mha_keys_from_queries(submission, reference) -> bool:
    x_q, x_kv, params = _mha_case()
    got = _student_mha(submission, x_q, x_kv, params, 2)
    return wrong_not_right(got, _mha(reference, x_q, x_q, params, 2), _mha(reference, x_q, x_kv, params, 2),
                           PROBE_RTOL)


def positional_exponent(submission, reference) -> bool:
    """10000^(i/d) for the pair i, where the formula has 10000^(2i/d)."""
    L, d = 6, 8
    angles = np.arange(L)[:, None] / 10000.0 ** (np.arange(d // 2)[None, :] / d)
    wrong = np.zeros((L, d))
    wrong[:, 0::2], wrong[:, 1::2] = np.sin(angles), np.cos(angles)
    return wrong_not_right(submission.positional_encoding(L, d), wrong, reference.positional_encoding(L, d), PROBE_RTOL)


def _ln_inputs(seed=10):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((3, 5)) * 2.0 + 1.0, rng.standard_normal(5) + 1.0, rng.standard_normal(5), \
        rng.standard_normal((3, 5))


def layer_norm_unbiased(submission, reference) -> bool:
    x, gamma, beta, _ = _ln_inputs()
    out = submission.layer_norm_forward(x.copy(), gamma.copy(), beta.copy())
    mean = x.mean(-1, keepdims=True)
    wrong = gamma * (x - mean) / np.sqrt(x.var(-1, keepdims=True, ddof=1) + 1e-5) + beta
    return isinstance(out, tuple) and wrong_not_right(out[0], wrong, reference.layer_norm_forward(x, gamma, beta)[0],
                                                      PROBE_RTOL)


def layer_norm_dx_without_xhat_term(submission, reference) -> bool:
    x, gamma, beta, dout = _ln_inputs()
    out, cache = submission.layer_norm_forward(x.copy(), gamma.copy(), beta.copy())
    if not same(out, reference.layer_norm_forward(x, gamma, beta)[0], PROBE_RTOL):
        return False
    dx = submission.layer_norm_backward(dout.copy(), cache)[0]
    xhat, inv_std, _ = reference.layer_norm_forward(x, gamma, beta)[1]
    dxhat = dout * gamma
    wrong = inv_std / 5 * (5 * dxhat - dxhat.sum(-1, keepdims=True))
    right = reference.layer_norm_backward(dout, reference.layer_norm_forward(x, gamma, beta)[1])[0]
    return wrong_not_right(dx, wrong, right, PROBE_RTOL)


MISCONCEPTIONS = [
    Misconception(
        "softmax_no_shift", "took exp of the raw scores in softmax",
        "exp(1000) overflows. Softmax does not change when the same number is subtracted from every "
        "score along the axis, so subtract the largest first.",
        SOFTMAX, softmax_no_shift),
    Misconception(
        "softmax_over_queries", "normalised the attention weights over the queries instead of the keys",
        "Each query distributes its attention over the keys: for every query, the weights over the "
        "keys (the last axis of the scores) sum to one.",
        FORWARD + MHA, softmax_over_queries),
    Misconception(
        "scores_not_scaled", "left the 1/sqrt(d_k) scale out of the attention scores",
        "A dot product of d random components grows like sqrt(d); dividing by sqrt(d_k) keeps the "
        "scores in the range where the softmax is not saturated.",
        FORWARD + MHA, scores_not_scaled),
    Misconception(
        "mask_multiplies", "multiplied the scores by the mask instead of excluding the masked keys",
        "A score of 0 still gets weight exp(0) in the softmax. A masked key must get weight exactly "
        "0, so its score must become minus infinity before the softmax.",
        FORWARD + MHA, mask_multiplies),
    Misconception(
        "causal_mask_upper", "built the causal mask from the upper triangle",
        "Query i may look at itself and the past, keys j <= i: the lower triangle, diagonal included.",
        ("test_causal_mask",), causal_mask_upper),
    Misconception(
        "backward_softmax_elementwise", "differentiated the softmax as if it acted element by element",
        "Every weight of a row depends on every score of that row (they share the normalisation), "
        "so the gradient of a score subtracts the weighted sum of the row's upstream gradients.",
        BACKWARD, backward_softmax_elementwise),
    Misconception(
        "mha_plain_reshape", "split the heads by a plain reshape to (N, heads, L, d)",
        "The features of one position are what get split into heads: reshape to (N, L, heads, d) "
        "and then swap the axes, and undo it the same way when joining the heads.",
        MHA, mha_plain_reshape),
    Misconception(
        "mha_keys_from_queries", "took the keys and values from the queries' sequence",
        "In cross-attention the queries come from one sequence and the keys and values from the "
        "other (x_kv); only in self-attention are they the same.",
        MHA, mha_keys_from_queries),
    Misconception(
        "positional_exponent", "used 10000^(i/d) instead of 10000^(2i/d) in the positional encoding",
        "Dimensions 2i and 2i + 1 share one frequency, 1 / 10000^(2i/d): the exponent counts "
        "dimensions, not pairs.",
        ("test_positional_encoding", "test_positional_encoding_small"), positional_exponent),
    Misconception(
        "layer_norm_unbiased", "normalised with the unbiased (D - 1) variance in layer norm",
        "Layer norm normalises each example by the biased variance of its features (divide by D), "
        "as PyTorch's does.",
        LAYER_NORM, layer_norm_unbiased),
    Misconception(
        "layer_norm_dx_without_xhat_term", "left the variance's term out of layer norm's dx",
        "Each input moves the mean AND the variance of its row; the variance's path gives the term "
        "with x_hat times the sum of x_hat-weighted upstream gradients.",
        LAYER_NORM, layer_norm_dx_without_xhat_term),
]
