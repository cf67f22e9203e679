"""Hidden tests: batch normalization against PyTorch, judge-side, in float64.

The reference is `torch.nn.functional.batch_norm`, which updates `running_mean` and
`running_var` in place exactly as the student's `bn_param` must be updated (biased variance
for normalising, unbiased for the running update, running = (1 - m) * running + m * batch).
Gradients come from torch.autograd on the same inputs. Every call into the notebook runs with
`submission.refusing("torch")`: batch norm is written in NumPy.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.course.testing import assert_close, numeric_gradient

RTOL, ATOL = 1e-7, 1e-10  # same float64 formula, another summation order
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8  # central differences, h = 1e-5


def _torch_bn(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """(out, running_mean, running_var) from PyTorch; the inputs are not changed."""
    rm = torch.tensor(running_mean, dtype=torch.float64)
    rv = torch.tensor(running_var, dtype=torch.float64)
    with torch.no_grad():
        out = F.batch_norm(torch.from_numpy(x), rm, rv, torch.from_numpy(gamma), torch.from_numpy(beta),
                           training=training, momentum=momentum, eps=eps)
    return out.numpy(), rm.numpy(), rv.numpy()


def _torch_grads(x, gamma, beta, dout, eps=1e-5):
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    out.backward(torch.from_numpy(dout))
    return xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def _forward(submission, x, gamma, beta, bn_param):
    """The student's forward; bn_param is updated in place like in the notebook."""
    got = submission.refusing("torch").batchnorm_forward(x.copy(), gamma.copy(), beta.copy(), bn_param)
    assert isinstance(got, tuple) and len(got) == 2, (
        f"batchnorm_forward must return (out, cache), got {type(got).__name__}"
    )
    return got


def _running(bn_param, key, d):
    value = bn_param.get(key)
    assert value is not None, f"bn_param['{key}'] is missing after a batchnorm_forward call"
    value = np.asarray(value)
    assert value.shape == (d,), f"bn_param['{key}']: shape {value.shape}, expected {(d,)}"
    return value


def _case(rng, n=6, d=5, scale=2.0, shift=1.0):
    x = scale * rng.standard_normal((n, d)) + shift
    return x, rng.standard_normal(d), rng.standard_normal(d)


def _stats(rng, d):
    return rng.standard_normal(d), rng.uniform(0.5, 2.0, size=d)


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_batchnorm_forward_train(submission, rng):
    """Train mode normalises with the batch mean and the BIASED batch variance (matches F.batch_norm)."""
    for n, eps in [(6, 1e-3), (4, 0.1)]:
        x, gamma, beta = _case(rng, n=n)
        rm, rv = _stats(rng, x.shape[1])
        bn_param = {"mode": "train", "eps": eps, "momentum": 0.1,
                    "running_mean": rm.copy(), "running_var": rv.copy()}
        out, _ = _forward(submission, x, gamma, beta, bn_param)
        ref, _, _ = _torch_bn(x, gamma, beta, rm, rv, training=True, eps=eps)
        assert_close(out, ref, rtol=RTOL, atol=ATOL, name=f"train-mode out (N = {n}, eps = {eps})")


def _steps(submission, rng, momentum, steps=4, n=5, d=4):
    """Run `steps` training batches through both; yield (step, student bn_param, torch stats)."""
    rm, rv = _stats(rng, d)
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": rm.copy(), "running_var": rv.copy()}
    for step in range(1, steps + 1):
        x, gamma, beta = _case(rng, n=n, d=d, scale=float(rng.uniform(0.5, 3.0)), shift=float(rng.normal()))
        _forward(submission, x, gamma, beta, bn_param)
        _, rm, rv = _torch_bn(x, gamma, beta, rm, rv, training=True, momentum=momentum)
        yield step, bn_param, rm, rv


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_running_mean(submission, rng):
    """running_mean = (1 - momentum) * running_mean + momentum * batch mean, over several steps."""
    momentum = 0.3
    for step, bn_param, rm, _ in _steps(submission, rng, momentum):
        assert_close(_running(bn_param, "running_mean", rm.size), rm, rtol=RTOL, atol=ATOL,
                     name=f"running_mean after training step {step} (momentum = {momentum}, "
                          "the weight of the new batch)")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_batchnorm_running_var(submission, rng):
    """running_var is updated with the UNBIASED batch variance (N - 1), over several steps."""
    momentum = 0.3
    for step, bn_param, _, rv in _steps(submission, rng, momentum):
        assert_close(_running(bn_param, "running_var", rv.size), rv, rtol=RTOL, atol=ATOL,
                     name=f"running_var after training step {step} (momentum = {momentum}; PyTorch "
                          "updates it with the UNBIASED batch variance, N - 1)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_defaults(submission, rng):
    """Without eps, momentum and running statistics: eps 1e-5, momentum 0.1, running stats from 0 and 1."""
    d = 4
    x, gamma, beta = _case(rng, n=5, d=d, scale=0.01)  # variance ~1e-4: eps = 1e-5 shows
    bn_param = {"mode": "train"}
    out, _ = _forward(submission, x, gamma, beta, bn_param)
    ref, rm, rv = _torch_bn(x, gamma, beta, np.zeros(d), np.ones(d), training=True)
    assert_close(out, ref, rtol=RTOL, atol=ATOL, name="train-mode out with the default eps = 1e-5")
    assert_close(_running(bn_param, "running_mean", d), rm, rtol=RTOL, atol=ATOL,
                 name="running_mean after one step from bn_param = {'mode': 'train'} "
                      "(starts at zeros; default momentum 0.1)")
    assert_close(_running(bn_param, "running_var", d), rv, rtol=RTOL, atol=ATOL,
                 name="running_var after one step from bn_param = {'mode': 'train'} "
                      "(starts at ones, as in PyTorch; default momentum 0.1)")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_batchnorm_test_mode(submission, rng):
    """Test mode normalises with the running statistics and leaves them unchanged."""
    x, gamma, beta = _case(rng, n=7)
    d = x.shape[1]
    rm, rv = _stats(rng, d)
    bn_param = {"mode": "test", "eps": 1e-5, "momentum": 0.1, "running_mean": rm.copy(), "running_var": rv.copy()}
    out, _ = _forward(submission, x, gamma, beta, bn_param)
    ref, _, _ = _torch_bn(x, gamma, beta, rm, rv, training=False)
    assert_close(out, ref, rtol=RTOL, atol=ATOL, name="test-mode out (normalised with the running statistics)")
    assert_close(_running(bn_param, "running_mean", d), rm, rtol=0.0, atol=0.0,
                 name="running_mean after a test-mode call (must not change)")
    assert_close(_running(bn_param, "running_var", d), rv, rtol=0.0, atol=0.0,
                 name="running_var after a test-mode call (must not change)")


def _backward(submission, rng):
    x, gamma, beta = _case(rng, n=7, d=4)
    dout = rng.standard_normal(x.shape)
    _, cache = _forward(submission, x, gamma, beta, {"mode": "train"})
    got = submission.refusing("torch").batchnorm_backward(dout.copy(), cache)
    assert isinstance(got, tuple) and len(got) == 3, (
        f"batchnorm_backward must return (dx, dgamma, dbeta), got {type(got).__name__}"
    )
    return got, _torch_grads(x, gamma, beta, dout)


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_dx(submission, rng):
    """batchnorm_backward's dx matches torch.autograd (it flows through the batch mean and variance)."""
    (dx, _, _), (ref, _, _) = _backward(submission, rng)
    assert_close(dx, ref, rtol=RTOL, atol=ATOL, name="dx")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_dgamma(submission, rng):
    """batchnorm_backward's dgamma = sum over the batch of dout * xhat."""
    (_, dgamma, _), (_, ref, _) = _backward(submission, rng)
    assert_close(dgamma, ref, rtol=RTOL, atol=ATOL, name="dgamma")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_dbeta(submission, rng):
    """batchnorm_backward's dbeta = sum over the batch of dout."""
    (_, _, dbeta), (_, _, ref) = _backward(submission, rng)
    assert_close(dbeta, ref, rtol=RTOL, atol=ATOL, name="dbeta")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_batchnorm_backward_numeric(submission, rng):
    """batchnorm_backward agrees with numeric gradients of your own train-mode batchnorm_forward."""
    x, gamma, beta = _case(rng, n=4, d=3)
    dout = rng.standard_normal(x.shape)
    _, cache = _forward(submission, x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = submission.refusing("torch").batchnorm_backward(dout.copy(), cache)
    fwd = submission.refusing("torch").batchnorm_forward
    args = {"x": x.copy(), "gamma": gamma.copy(), "beta": beta.copy()}
    for name, analytic in [("dx", dx), ("dgamma", dgamma), ("dbeta", dbeta)]:
        key = name[1:]

        def f(v, key=key):
            a = {**args, key: v}
            return fwd(a["x"], a["gamma"], a["beta"], {"mode": "train"})[0]

        num = numeric_gradient(f, args[key].copy(), dout)
        assert_close(analytic, num, rtol=NUM_RTOL, atol=NUM_ATOL,
                     name=f"{name} (vs numeric gradient of your batchnorm_forward)")
