"""Hidden tests: multi-head attention by hand against torch.nn.MultiheadAttention in float64.

The student's weights dict is mapped onto an nn.MultiheadAttention(E, H, batch_first=True):
in_proj_weight = [W_q; W_k; W_v], in_proj_bias = [b_q; b_k; b_v], out_proj = (W_o, b_o).
Our masks mean True = may attend; PyTorch's key_padding_mask and boolean attn_mask mean
True = masked out, so the judge passes their negations.
"""

import numpy as np
import pytest
import torch

from grader.course.testing import assert_close

RTOL, ATOL = 1e-7, 1e-10


def _params(rng, E):
    params = {f"W_{n}": rng.standard_normal((E, E)) / np.sqrt(E) for n in "qkvo"}
    params.update({f"b_{n}": rng.standard_normal(E) for n in "qkvo"})
    return params


def _torch_mha(x_q, x_kv, params, H, lengths=None, causal=False):
    """nn.MultiheadAttention's output and per-head weights, as float64 NumPy."""
    E = x_q.shape[-1]
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([params["W_q"], params["W_k"], params["W_v"]])))
        mha.in_proj_bias.copy_(torch.tensor(np.concatenate([params["b_q"], params["b_k"], params["b_v"]])))
        mha.out_proj.weight.copy_(torch.tensor(params["W_o"]))
        mha.out_proj.bias.copy_(torch.tensor(params["b_o"]))
        Lq, Lk = x_q.shape[1], x_kv.shape[1]
        key_padding = None if lengths is None else torch.tensor(np.arange(Lk)[None, :] >= np.asarray(lengths)[:, None])
        attn_mask = torch.tensor(~np.tril(np.ones((Lq, Lk), dtype=bool))) if causal else None
        out, weights = mha(torch.tensor(x_q), torch.tensor(x_kv), torch.tensor(x_kv), key_padding_mask=key_padding,
                           attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
    return out.numpy(), weights.numpy()


def _our_mask(N, Lq, Lk, lengths=None, causal=False):
    mask = None
    if lengths is not None:
        mask = (np.arange(Lk)[None, :] < np.asarray(lengths)[:, None])[:, None, :]
    if causal:
        tri = np.tril(np.ones((Lq, Lk), dtype=bool))
        mask = tri if mask is None else mask & tri
    return mask


def _check(submission, rng, N, Lq, Lk, E, H, *, cross, lengths=None, causal=False, check_weights=True,
           check_out=True):
    x_q = rng.standard_normal((N, Lq, E))
    x_kv = rng.standard_normal((N, Lk, E)) if cross else x_q
    params = _params(rng, E)
    mask = _our_mask(N, Lq, Lk, lengths, causal)
    got = submission.refusing("torch").multi_head_attention_forward(
        x_q.copy(), x_kv.copy(), {k: v.copy() for k, v in params.items()}, H, None if mask is None else mask.copy())
    assert isinstance(got, tuple) and len(got) == 2, (
        f"multi_head_attention_forward must return (out, weights), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
    )
    ref_out, ref_weights = _torch_mha(x_q, x_kv, params, H, lengths, causal)
    masks = [m for m, on in (("lengths " + str(list(lengths or [])), lengths is not None), ("causal", causal)) if on]
    case = (f"{'cross' if cross else 'self'}-attention, x_q {x_q.shape}"
            + (f", x_kv {x_kv.shape}" if cross else "") + f", {H} heads, " + (" & ".join(masks) or "no") + " mask")
    if check_weights:
        assert_close(got[1], ref_weights, rtol=RTOL, atol=ATOL, name=f"weights ({case})")
    if check_out:
        assert_close(got[0], ref_out, rtol=RTOL, atol=ATOL, name=f"out ({case})")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_mha_self_attention(submission, rng):
    """multi_head_attention_forward matches nn.MultiheadAttention: self-attention, 1, 2 and 4 heads, no mask."""
    for H in (1, 2, 4):
        _check(submission, rng, 2, 5, 5, 8, H, cross=False, check_weights=False)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_mha_cross_attention(submission, rng):
    """multi_head_attention_forward with queries from x_q and keys and values from x_kv (Lq != Lk)."""
    _check(submission, rng, 2, 3, 6, 12, 3, cross=True, check_weights=False)


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_mha_masks(submission, rng):
    """multi_head_attention_forward with a padding mask, a causal mask and both, mapped onto PyTorch's masks."""
    _check(submission, rng, 3, 6, 6, 8, 2, cross=False, lengths=[6, 2, 4], check_weights=False)
    _check(submission, rng, 2, 5, 5, 8, 4, cross=False, causal=True, check_weights=False)
    _check(submission, rng, 3, 5, 5, 6, 3, cross=False, lengths=[5, 1, 3], causal=True, check_weights=False)


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_mha_weights_per_head(submission, rng):
    """The weights (N, H, Lq, Lk) are each head's, as nn.MultiheadAttention(..., average_attn_weights=False) gives."""
    _check(submission, rng, 2, 4, 6, 8, 2, cross=True, lengths=[6, 3], check_out=False)
    _check(submission, rng, 2, 5, 5, 12, 4, cross=False, causal=True, check_out=False)
