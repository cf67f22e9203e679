"""Hidden tests: gradient clipping by norm, and how far gradients travel back in time.

`clip_grad_norm` is compared with torch.nn.utils.clip_grad_norm_ on the same gradients
(float64): the total norm it returns and the clipped arrays. `grad_norms_through_time` is
compared with torch.autograd through torch.nn.RNN (weights mapped as in test_rnn.py) for the
loss sum(h[:, T-1]). The vanishing-gradient check runs a 30-step sequence whose Wh has every
singular value 0.5: the gradient reaching the first step is then about 0.5**29 ~ 2e-9 of the
last step's (times the conditioning of Wx, a few), and the student's BPTT must reproduce those
tiny numbers (relative tolerance) and show them vanishing (below 1e-6 of the last step's).
"""

import numpy as np
import pytest
import torch

from grader.course.testing import assert_close

RTOL = 1e-8


def _grads(rng, scale):
    return {"Wx": scale * rng.standard_normal((4, 6)), "Wh": scale * rng.standard_normal((6, 6)),
            "b": scale * rng.standard_normal(6)}


def _torch_clip(grads, max_norm):
    params = []
    for g in grads.values():
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return {k: p.grad.numpy() for k, p in zip(grads, params)}, total


def _clip(submission, grads, max_norm):
    given = {k: v.copy() for k, v in grads.items()}
    got = submission.refusing("torch").clip_grad_norm(given, max_norm)
    assert isinstance(got, tuple) and len(got) == 2, "clip_grad_norm must return (clipped, total_norm)"
    clipped, total = got
    assert isinstance(clipped, dict), f"clip_grad_norm: clipped must be a dict, got {type(clipped).__name__}"
    assert isinstance(total, (int, float, np.floating)) and not isinstance(total, bool), (
        f"clip_grad_norm: total_norm must be a number, got {type(total).__name__}"
    )
    return clipped, float(total), given


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_clip_grad_norm_clips(submission, rng):
    """Above max_norm every gradient is scaled by max_norm / (total_norm + 1e-6), as clip_grad_norm_ does."""
    grads = _grads(rng, 2.0)
    clipped, total, _ = _clip(submission, grads, 1.5)
    ref, ref_total = _torch_clip(grads, 1.5)
    assert abs(total - ref_total) <= 1e-10 * ref_total, (
        f"clip_grad_norm total_norm = {total:.8g}, expected {ref_total:.8g} (the 2-norm of all the gradients together, "
        "before clipping)"
    )
    for k in grads:
        assert_close(clipped.get(k), ref[k], rtol=RTOL, atol=1e-12, name=f"clipped['{k}'] (max_norm 1.5)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_clip_grad_norm_below_max(submission, rng):
    """Below max_norm the gradients come back unchanged, and the total norm is still returned."""
    grads = _grads(rng, 0.1)
    clipped, total, _ = _clip(submission, grads, 100.0)
    ref, ref_total = _torch_clip(grads, 100.0)
    assert abs(total - ref_total) <= 1e-10 * ref_total, f"clip_grad_norm total_norm = {total:.8g}, expected {ref_total:.8g}"
    for k in grads:
        assert_close(clipped.get(k), ref[k], rtol=0, atol=0, name=f"clipped['{k}'] (total norm below max_norm 100)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_clip_grad_norm_leaves_its_input(submission, rng):
    """clip_grad_norm returns a new dict and leaves the gradients it was given unchanged."""
    grads = _grads(rng, 3.0)
    _, _, given = _clip(submission, grads, 1.0)
    for k in grads:
        assert_close(given[k], grads[k], rtol=0, atol=0,
                     name=f"grads['{k}'] after clip_grad_norm (the dict passed in must not change)")


def _torch_norms(x, h0, Wx, Wh, b):
    rnn = torch.nn.RNN(Wx.shape[0], Wx.shape[1], batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    tx = torch.tensor(x, requires_grad=True)
    out, _ = rnn(tx, torch.from_numpy(h0[None]))
    out[:, -1].sum().backward()
    return tx.grad.pow(2).sum(dim=(0, 2)).sqrt().numpy()


def _norms(submission, x, h0, Wx, Wh, b):
    got = submission.refusing("torch").grad_norms_through_time(x, h0, Wx, Wh, b)
    if np.size(got) > x.shape[1]:  # refused as it is: a huge answer is never widened to float64
        raise AssertionError(f"grad_norms_through_time: shape {np.shape(got)}, expected {(x.shape[1],)}")
    return np.asarray(got, dtype=np.float64) if isinstance(got, (np.ndarray, list, tuple)) else got


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_grad_norms_through_time(submission, rng):
    """grad_norms_through_time matches torch.autograd: the norm of d sum(h_T) / d x_t for every step t."""
    x = rng.standard_normal((3, 7, 4))
    h0 = rng.standard_normal((3, 5))
    Wx, Wh, b = 0.5 * rng.standard_normal((4, 5)), 0.5 * rng.standard_normal((5, 5)), 0.5 * rng.standard_normal(5)
    assert_close(_norms(submission, x, h0, Wx, Wh, b), _torch_norms(x, h0, Wx, Wh, b), rtol=RTOL, atol=1e-14,
                 name="grad_norms_through_time (T = 7; L = sum of the LAST hidden state)")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_vanishing_gradient_over_30_steps(submission, rng):
    """With every singular value of Wh at 0.5, the gradient from the last step vanishes going back 30 steps."""
    T, D, H = 30, 4, 16
    x = 0.1 * rng.standard_normal((2, T, D))
    Wx = 0.1 * rng.standard_normal((D, H))
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))
    Wh = 0.5 * Q
    h0, b = np.zeros((2, H)), np.zeros(H)
    ref = _torch_norms(x, h0, Wx, Wh, b)
    got = _norms(submission, x, h0, Wx, Wh, b)
    assert_close(got, ref, rtol=1e-6, atol=0.0,
                 name="grad_norms_through_time (T = 30, Wh = 0.5 * orthogonal; the early steps' gradients are tiny "
                      "but not zero)")
    ratio = got[0] / got[-1]
    assert ratio < 1e-6, (
        f"gradient reaching step 0 / gradient at step {T - 1}: {ratio:.3g}; expected it to vanish (below 1e-6; "
        f"the bound is about 0.5**{T - 1})"
    )
