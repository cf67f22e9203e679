"""The rnn assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/rnn/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative), and is graded for real with
`grade submit` (its public verdicts equal to its kit's: notebook_variants.VariantSuite): a bug must lose points on exactly the tests it should
(every other test keeps full marks), each message naming the wrong quantity; an alternative
must keep full marks. Mistakes in different functions share a grading run (`combine`): 14
mistakes in 4 runs, the 2 alternatives in one. Every variant is graded without the notebook's two "check" cells (they
only print comparisons with PyTorch and cost a few seconds); the GRU still trains in each run.

Also here, cheap: reference/rnn.py against PyTorch, and the notebooks against their generator.
"""

from __future__ import annotations

import numpy as np
import pytest
from notebook_variants import ROOT, VariantSuite, load_module

pytestmark = pytest.mark.slow

SUITE = VariantSuite("rnn")
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives
RUNS = SUITE.catalogue.module.RUNS
# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=43))


# --------------------------------------------------------------------------- cheap checks


def test_reference_matches_torch():
    """reference/rnn.py: the RNN (BPTT) against nn.RNN, the LSTM cell against nn.LSTMCell, clipping
    against clip_grad_norm_, all in float64."""
    torch = pytest.importorskip("torch")
    ref = load_module("rnn_reference", ROOT / "reference" / "rnn.py")
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4))
    Wx, Wh, b = 0.5 * rng.standard_normal((3, 4)), 0.5 * rng.standard_normal((4, 4)), 0.5 * rng.standard_normal(4)
    h, cache = ref.rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(h.shape)
    grads = ref.rnn_backward(dh, cache)
    rnn = torch.nn.RNN(3, 4, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        rnn.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0[None], requires_grad=True)
    out, _ = rnn(tx, th0)
    out.backward(torch.from_numpy(dh))
    np.testing.assert_allclose(h, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    expected = [tx.grad, th0.grad[0], rnn.weight_ih_l0.grad.T, rnn.weight_hh_l0.grad.T, rnn.bias_ih_l0.grad]
    for mine, theirs in zip(grads, expected):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10, atol=1e-12)

    xl, hl, cl = rng.standard_normal((3, 2)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    Wxl, Whl, bl = rng.standard_normal((2, 16)), rng.standard_normal((4, 16)), rng.standard_normal(16)
    next_h, next_c, lcache = ref.lstm_step_forward(xl, hl, cl, Wxl, Whl, bl)
    dnh, dnc = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    lgrads = ref.lstm_step_backward(dnh, dnc, lcache)
    cell = torch.nn.LSTMCell(2, 4).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(Wxl.T))
        cell.weight_hh.copy_(torch.from_numpy(Whl.T))
        cell.bias_ih.copy_(torch.from_numpy(bl))
        cell.bias_hh.zero_()
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (xl, hl, cl))
    t_h, t_c = cell(tx, (th, tc))
    (t_h * torch.from_numpy(dnh) + t_c * torch.from_numpy(dnc)).sum().backward()
    np.testing.assert_allclose(next_h, t_h.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(next_c, t_c.detach().numpy(), rtol=1e-12, atol=1e-14)
    expected = [tx.grad, th.grad, tc.grad, cell.weight_ih.grad.T, cell.weight_hh.grad.T, cell.bias_ih.grad]
    for mine, theirs in zip(lgrads, expected):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10, atol=1e-12)

    g = {"a": 3 * rng.standard_normal((3, 3)), "b": rng.standard_normal(2)}
    params = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for p, v in zip(params, g.values()):
        p.grad = torch.from_numpy(v.copy())
    total = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
    clipped, mine = ref.clip_grad_norm(g, 1.0)
    assert abs(mine - total) < 1e-12 * total
    for p, v in zip(params, clipped.values()):
        np.testing.assert_allclose(v, p.grad.numpy(), rtol=1e-12, atol=1e-14)
