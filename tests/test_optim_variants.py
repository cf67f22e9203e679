"""The optim assignment's tests, checked against known-buggy and known-good notebooks.

Each case starts from assignments/optim/solution.ipynb, applies one small edit (a typical
student mistake, or a correct alternative), and is graded for real with
`grade submit` (its public verdicts equal to its kit's: notebook_variants.VariantSuite): a bug must lose points on exactly the tests it should
(every other test keeps full marks), each message naming the wrong quantity; an alternative
must keep full marks. Mistakes in different functions share a grading run (`combine`): 14
mistakes in 3 runs, the 2 alternatives in one, about 10 s each (the judge re-runs the learning-rate sweep through the
student's sgd_momentum in every run).

Also here, cheap: reference/optim.py against torch.optim, the sweep's margins, and the
notebooks against their generator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from notebook_variants import ROOT, VariantSuite, load_module

pytestmark = pytest.mark.slow

SUITE = VariantSuite("optim")
# read by other tests and bench/ (test_scores_across_isa, test_cluster, batch_class, ...)
SOLUTION, STARTER, BUGS, ALTERNATIVES = SUITE.solution, SUITE.starter, SUITE.bugs, SUITE.alternatives
ASSIGNMENT = SUITE.root
RUNS = SUITE.catalogue.module.RUNS
# the common fixtures and tests (notebook_variants.VariantSuite.tests)
globals().update(SUITE.tests(max_score=43))


# --------------------------------------------------------------------------- cheap checks


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam"])
def test_reference_rules_match_torch(rule):
    """reference/optim.py's rules against torch.optim over 50 steps with weight decay (float64)."""
    torch = pytest.importorskip("torch")
    ref = load_module("optim_reference", ROOT / "reference" / "optim.py")
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4))
    p = torch.tensor(w.copy(), requires_grad=True)
    config = {"learning_rate": 0.03, "weight_decay": 0.1}
    make = {
        "sgd": lambda: torch.optim.SGD([p], lr=0.03, weight_decay=0.1),
        "sgd_momentum": lambda: torch.optim.SGD([p], lr=0.03, momentum=0.9, weight_decay=0.1),
        "nesterov": lambda: torch.optim.SGD([p], lr=0.03, momentum=0.9, weight_decay=0.1, nesterov=True),
        "rmsprop": lambda: torch.optim.RMSprop([p], lr=0.03, weight_decay=0.1),
        "adam": lambda: torch.optim.Adam([p], lr=0.03, weight_decay=0.1),
    }
    opt = make[rule]()
    fn = ref.sgd_momentum if rule == "nesterov" else getattr(ref, rule)
    if rule == "nesterov":
        config["nesterov"] = True
    for _ in range(50):
        g = rng.standard_normal(w.shape)
        w, config = fn(w, g, config)
        p.grad = torch.from_numpy(g.copy())
        opt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_flat_training_is_per_parameter_training(rule):
    """train_flat (one rule call per step on the flattened parameters, as the judge's sweep runs)
    computes exactly what train (one config per parameter) computes."""
    from grader.course import datasets

    ref = load_module("optim_reference", ROOT / "reference" / "optim.py")
    split = datasets.load("digits")
    X, y = split.X_train[:300], split.y_train[:300]
    config = {"learning_rate": 0.01, "weight_decay": 0.01}
    nets = [ref.TwoLayerNet(64, 20, 10, seed=4) for _ in range(2)]
    a = ref.train(nets[0], X, y, ref.RULES[rule], config, 2, 32, 5)
    b = ref.train_flat(nets[1], X, y, ref.RULES[rule], config, 2, 32, 5)
    assert a == b
    for k in nets[0].params:
        assert np.array_equal(nets[0].params[k], nets[1].params[k]), k


def test_sweep_verdicts_have_margins():
    """The shipped grid's verdicts are far from the divergence threshold, so no CPU flips them."""
    from grader.course import datasets

    ref = load_module("optim_reference", ROOT / "reference" / "optim.py")
    split = datasets.load("digits")
    X, y = split.X_train, split.y_train
    finals = ref.run_sweep(X, y, [1e-3, 1e-2, 1e-1, 1.0, 10.0], ref.sgd_momentum, extra_config={"momentum": 0.9})
    initial = ref.TwoLayerNet(64, 50, 10, seed=0).loss(X, y)[0]
    assert ref.sweep_conclusions(finals, initial) == (10.0, 0.1)
    for lr, loss in finals.items():
        assert not math.isfinite(loss) or abs(loss - initial) > 4e-4, (lr, loss, initial)
    assert finals[10.0] > initial + 1.0  # diverged by far
    assert finals[0.1] < 0.6 * min(v for k, v in finals.items() if k != 0.1)  # the best by a wide margin


def test_minibatch_size_message_says_what_is_left_over():
    """The hidden test's message: the rows left over when there are some, and that there are
    none (so no empty last batch) when N is a multiple of the batch size."""
    hidden = load_module("optim_hidden_minibatches", ASSIGNMENT / "tests" / "hidden" / "test_minibatches.py")
    X, y = hidden._data(48)
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)] + [(X[:0], y[:0])]
    with pytest.raises(AssertionError, match=r"expected \[16, 16, 16\] \(N is a multiple of 16: no rows are left over"):
        hidden._check_order(batches, X, y, np.arange(48), 16, "minibatches(X, y, 16) with N = 48")
    X, y = hidden._data(50)
    with pytest.raises(AssertionError, match=r"\(the last batch holds the 2 rows left over\)"):
        hidden._check_order(batches[:3], X, y, np.arange(50), 16, "minibatches(X, y, 16) with N = 50")
