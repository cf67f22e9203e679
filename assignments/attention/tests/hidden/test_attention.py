"""Hidden tests: softmax, masks and scaled dot-product attention by hand, against PyTorch in float64.

The functions under test are called through `submission.refusing("torch")`. Expected values
come from `torch.nn.functional.scaled_dot_product_attention` (and autograd for gradients) on
the judge's side; attention weights, which PyTorch's function does not return, from
`torch.softmax` of the masked scores. The backward tests hand the student's
attention_backward the judge's weights, so a wrong forward does not cost the backward's points;
the numeric test differentiates the student's forward as run in the worker without torch (by
hand: every value a test uses comes from the judge or from that worker).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course.testing import assert_close, numeric_gradient

# Reference comparisons: float64 sums of the same products in another order.
RTOL, ATOL = 1e-7, 1e-10
# Numeric gradients (central differences, h = 1e-5).
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _qkv(rng, batch, Lq, Lk, d, dv):
    return rng.standard_normal((*batch, Lq, d)), rng.standard_normal((*batch, Lk, d)), rng.standard_normal((*batch, Lk, dv))


def _lengths(rng, N, L):
    lengths = rng.integers(1, L + 1, size=N)
    lengths[0] = L  # one full sequence, one of length 1
    lengths[-1] = 1
    return lengths


def _pad(lengths, L):
    return (np.arange(L)[None, :] < np.asarray(lengths)[:, None])[:, None, :]


def _torch_attention(q, k, v, mask=None, dout=None):
    """PyTorch's out and weights (and, given dout, dq, dk, dv), as float64 NumPy."""
    tq, tk, tv = _t(q, True), _t(k, True), _t(v, True)
    tmask = None if mask is None else torch.tensor(np.asarray(mask))
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask)
    scores = tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if tmask is not None:
        scores = scores.masked_fill(~tmask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).detach().numpy()
    if dout is None:
        return out.detach().numpy(), weights
    out.backward(_t(dout))
    return out.detach().numpy(), weights, tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _forward(submission, q, k, v, mask, what):
    got = submission.refusing("torch").attention_forward(q.copy(), k.copy(), v.copy(),
                                                          None if mask is None else mask.copy())
    assert isinstance(got, tuple) and len(got) == 2, (
        f"attention_forward must return (out, weights), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
    )
    return got


# ----------------------------------------------------------------------------- softmax and masks


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_matches_torch(submission, rng):
    """softmax matches torch.softmax along the last axis and along axis 0."""
    strict = submission.refusing("torch")
    x = rng.standard_normal((3, 4, 5))
    assert_close(strict.softmax(x.copy(), -1), torch.softmax(_t(x), -1).numpy(), rtol=RTOL, atol=ATOL,
                 name="softmax(x, axis=-1) of x (3, 4, 5)")
    assert_close(strict.softmax(x.copy(), 0), torch.softmax(_t(x), 0).numpy(), rtol=RTOL, atol=ATOL,
                 name="softmax(x, axis=0) of x (3, 4, 5)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_large_scores(submission, rng):
    """softmax of scores around +-1000 is finite and correct (shift by the maximum)."""
    x = 1000.0 * rng.standard_normal((4, 6))
    x[0] = [1000.0, 1001.0, 999.0, 1000.5, -1000.0, 0.0]
    assert_close(submission.refusing("torch").softmax(x.copy(), -1), torch.softmax(_t(x), -1).numpy(),
                 rtol=RTOL, atol=ATOL, name="softmax of scores around +-1000")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_causal_mask(submission):
    """causal_mask(L) is the (L, L) boolean lower triangle: True where key j <= query i."""
    strict = submission.refusing("torch")
    for L in (1, 4, 7):
        got = strict.causal_mask(L)
        expected = np.tril(np.ones((L, L), dtype=bool))
        assert isinstance(got, np.ndarray) and got.dtype == bool, (
            f"causal_mask({L}) must be a boolean array, got {getattr(got, 'dtype', type(got).__name__)}"
        )
        assert got.shape == expected.shape, f"causal_mask({L}): shape {got.shape}, expected {expected.shape}"
        bad = np.argwhere(got != expected)
        assert not len(bad), (
            f"causal_mask({L})[{bad[0][0]}, {bad[0][1]}] is {bool(got[tuple(bad[0])])}: query i may attend "
            "to the keys j <= i only"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_padding_mask(submission):
    """padding_mask(lengths, L) has shape (N, 1, L), True for the first lengths[n] keys of sequence n."""
    lengths = np.array([3, 1, 5, 4])
    got = submission.refusing("torch").padding_mask(lengths.copy(), 5)
    expected = _pad(lengths, 5)
    assert isinstance(got, np.ndarray) and got.dtype == bool, (
        f"padding_mask must be a boolean array, got {getattr(got, 'dtype', type(got).__name__)}"
    )
    assert got.shape == expected.shape, f"padding_mask([3, 1, 5, 4], 5): shape {got.shape}, expected (4, 1, 5)"
    bad = np.argwhere(got != expected)
    assert not len(bad), (
        f"padding_mask([3, 1, 5, 4], 5)[{bad[0][0]}, 0, {bad[0][2]}] is {bool(got[tuple(bad[0])])}: key j of "
        "sequence n is real when j < lengths[n]"
    )


# ----------------------------------------------------------------------------- forward


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_attention_forward_unmasked(submission, rng):
    """attention_forward without a mask matches scaled_dot_product_attention: batch axes, Lq != Lk, dv != d."""
    for batch, Lq, Lk, d, dv in [((2,), 3, 5, 4, 6), ((2, 3), 4, 4, 8, 2), ((), 1, 6, 3, 3)]:
        q, k, v = _qkv(rng, batch, Lq, Lk, d, dv)
        out, weights = _forward(submission, q, k, v, None, "unmasked")
        ref_out, ref_weights = _torch_attention(q, k, v)
        case = f"q {q.shape}, k {k.shape}, v {v.shape}"
        assert_close(weights, ref_weights, rtol=RTOL, atol=ATOL, name=f"weights ({case}, no mask)")
        assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name=f"out ({case}, no mask)")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_attention_forward_causal(submission, rng):
    """attention_forward with causal_mask(L) matches scaled_dot_product_attention(..., is_causal=True)."""
    for batch, L, d in [((2,), 5, 4), ((2, 2), 4, 6)]:
        q, k, v = _qkv(rng, batch, L, L, d, d)
        mask = np.tril(np.ones((L, L), dtype=bool))
        out, weights = _forward(submission, q, k, v, mask, "causal")
        tq, tk, tv = _t(q), _t(k), _t(v)
        ref_out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True).numpy()
        case = f"q {q.shape}, causal mask ({L}, {L})"
        assert_close(weights, _torch_attention(q, k, v, mask)[1], rtol=RTOL, atol=ATOL, name=f"weights ({case})")
        assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name=f"out ({case})")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_attention_forward_padding(submission, rng):
    """attention_forward with a padding mask (N, 1, Lk), and with padding & causal, matches PyTorch."""
    N, L, d = 4, 6, 5
    q, k, v = _qkv(rng, (N,), L, L, d, 3)
    lengths = _lengths(rng, N, L)
    pad = _pad(lengths, L)
    for mask, kind in [(pad, "padding mask (4, 1, 6)"), (pad & np.tril(np.ones((L, L), dtype=bool)),
                                                         "padding & causal mask (4, 6, 6)")]:
        out, weights = _forward(submission, q, k, v, mask, kind)
        ref_out, ref_weights = _torch_attention(q, k, v, mask)
        case = f"q {q.shape}, lengths {lengths.tolist()}, {kind}"
        assert_close(weights, ref_weights, rtol=RTOL, atol=ATOL, name=f"weights ({case})")
        assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name=f"out ({case})")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_forward_large_scores(submission, rng):
    """attention_forward stays finite and correct when the scores are in the thousands (masked too)."""
    N, L, d = 2, 5, 4
    q, k, v = _qkv(rng, (N,), L, L, d, d)
    q = 2000.0 * q
    mask = _pad([5, 3], L)
    out, weights = _forward(submission, q, k, v, mask, "large")
    ref_out, ref_weights = _torch_attention(q, k, v, mask)
    assert_close(weights, ref_weights, rtol=RTOL, atol=ATOL, name="weights (scores in the thousands, padding mask)")
    assert_close(out, ref_out, rtol=RTOL, atol=ATOL, name="out (scores in the thousands, padding mask)")


# ----------------------------------------------------------------------------- backward


BACKWARD = [((2,), 4, 6, 3, 5, "padding"), ((2, 2), 5, 5, 4, 3, "padding & causal"), ((3,), 4, 4, 2, 2, None)]


def _check_backward(submission, rng, which):
    strict = submission.refusing("torch")
    for batch, Lq, Lk, d, dv, kind in BACKWARD:
        q, k, v = _qkv(rng, batch, Lq, Lk, d, dv)
        mask = None
        if kind is not None:
            lengths = np.maximum(1, rng.integers(1, Lk + 1, size=batch[0]))
            mask = _pad(lengths, Lk)
            if len(batch) == 2:
                mask = mask[:, None]
            if "causal" in kind:
                mask = mask & np.tril(np.ones((Lq, Lk), dtype=bool))
        dout = rng.standard_normal((*batch, Lq, dv))
        _, weights, ref_dq, ref_dk, ref_dv = _torch_attention(q, k, v, mask, dout)
        got = strict.attention_backward(dout.copy(), q.copy(), k.copy(), v.copy(), weights.copy())
        assert isinstance(got, tuple) and len(got) == 3, (
            f"attention_backward must return (dq, dk, dv), got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        )
        expected = {"dq": ref_dq, "dk": ref_dk, "dv": ref_dv}[which]
        case = f"q {q.shape}, k {k.shape}, v {v.shape}, {kind or 'no'} mask"
        assert_close(got[("dq", "dk", "dv").index(which)], expected, rtol=RTOL, atol=ATOL, name=f"{which} ({case})")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_backward_dq(submission, rng):
    """attention_backward's dq matches PyTorch's autograd (masks included)."""
    _check_backward(submission, rng, "dq")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_backward_dk(submission, rng):
    """attention_backward's dk matches PyTorch's autograd (masks included)."""
    _check_backward(submission, rng, "dk")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_attention_backward_dv(submission, rng):
    """attention_backward's dv = weights^T dout matches PyTorch's autograd."""
    _check_backward(submission, rng, "dv")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_attention_backward_numeric(submission, rng):
    """attention_backward agrees with numeric gradients of your own attention_forward (padding & causal mask)."""
    N, L, d = 2, 4, 3
    q, k, v = _qkv(rng, (N,), L, L, d, 2)
    mask = _pad([4, 2], L) & np.tril(np.ones((L, L), dtype=bool))
    strict = submission.refusing("torch")
    out, weights = strict.attention_forward(q.copy(), k.copy(), v.copy(), mask.copy())
    dout = rng.standard_normal(np.shape(out))
    dq, dk, dv = strict.attention_backward(dout.copy(), q.copy(), k.copy(), v.copy(), weights)
    forward = strict.attention_forward
    num_dq = numeric_gradient(lambda x: forward(x, k, v, mask)[0], q.copy(), dout)
    num_dk = numeric_gradient(lambda x: forward(q, x, v, mask)[0], k.copy(), dout)
    num_dv = numeric_gradient(lambda x: forward(q, k, x, mask)[0], v.copy(), dout)
    case = "q (2, 4, 3), padding & causal mask, vs numeric gradient"
    assert_close(dq, num_dq, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"dq ({case})")
    assert_close(dk, num_dk, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"dk ({case})")
    assert_close(dv, num_dv, rtol=NUM_RTOL, atol=NUM_ATOL, name=f"dv ({case})")
