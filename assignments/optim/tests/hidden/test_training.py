"""Hidden tests: the training loop and the learning-rate experiment, re-run by the judge.

The judge's runs use the reference training loop and two-layer net (reference/optim.py, the
same net as the notebook's) on the public digits training set, and call the STUDENT's
`sgd_momentum` in the worker for every parameter update (the sweep calls it once per step on
all the parameters flattened into one vector, `reference.train_flat`: for an element-wise rule,
as all four are, the same computation in a quarter of the calls). So:

* `train` is checked by running the student's `train` (in the worker) and the judge's loop
  with the same student update rule: only the loop can make them differ;
* the sweep's conclusions (which rates diverge, which is best) are checked against the
  judge's own run of the notebook's protocol with the student's rule, so a student is
  judged on the experiment their own optimizer gives. The notebook's printed numbers and
  `sweep_results` are never evidence for these answers.

A rate's result is its last epoch's mean training loss; it diverged when that is not finite
or above the untrained net's loss. For the shipped grid and a correct rule the verdicts sit
far from that threshold (the diverging rate ends near 6.1, the others at least 4e-4 below the
start, the best at 0.78 against 1.42 for the next), while float differences between CPUs are
about 1e-12 here, so the verdicts do not depend on the machine
(tests/test_optim_variants.py checks the margins). A judge run is cut off after SWEEP_SECONDS.
"""

import math
import time

import numpy as np
import pytest

from grader.course import datasets
from grader.course.testing import assert_answer_number, assert_close
from grader.judge.remote import Handle, type_name

LEARNING_RATES = [1e-3, 1e-2, 1e-1, 1.0, 10.0]  # the notebook's grid
PROTOCOL = {"hidden_dim": 50, "epochs": 3, "batch_size": 64, "seed": 0}
MOMENTUM = 0.9
SWEEP_SECONDS = 40.0
_SWEEPS: dict = {}  # one judge run of the sweep per grading run (this module is re-imported per run)


def _same_rate(key: object, lr: float) -> bool:
    """A sweep key names the learning rate `lr` (relative 1e-9: rates are written as literals)."""
    return isinstance(key, (int, float)) and math.isclose(key, lr, rel_tol=1e-9, abs_tol=0.0)


class _Deadline(Exception):
    pass


def remote_rule(submission, name, deadline=None):
    """The student's update rule `name`, called in the worker, as a judge-side callable."""
    fn = getattr(submission, name)

    def rule(w, dw, config):
        if deadline is not None and time.monotonic() > deadline:
            raise _Deadline
        got = fn(w, dw, config)
        assert isinstance(got, tuple) and len(got) == 2, f"{name}(w, dw, config) must return (next_w, config)"
        next_w, new_config = got
        assert isinstance(new_config, dict), f"{name} must return its config dict"
        assert np.shape(next_w) == w.shape, f"{name}: next_w has shape {np.shape(next_w)}, expected {w.shape}"
        next_w = np.asarray(next_w, dtype=np.float64)  # shape checked first: never widen a huge answer
        return next_w, new_config

    return rule


def _digits():
    split = datasets.load("digits")
    return split.X_train, split.y_train


def _run_sweep(submission, reference):
    X, y = _digits()
    rule = remote_rule(submission, "sgd_momentum", time.monotonic() + SWEEP_SECONDS)
    try:
        finals = reference.run_sweep(X, y, LEARNING_RATES, rule, extra_config={"momentum": MOMENTUM}, flat=True,
                                     **PROTOCOL)
    except _Deadline:
        raise AssertionError(f"the judge's re-run of the sweep with your sgd_momentum took more than "
                             f"{SWEEP_SECONDS:g} s") from None
    net = reference.TwoLayerNet(X.shape[1], PROTOCOL["hidden_dim"], 10, seed=PROTOCOL["seed"])
    return finals, net.loss(X, y)[0]


def judge_sweep(submission, reference):
    """{rate: last epoch's mean loss} and the initial loss, from the judge's run with the student's sgd_momentum.

    Run once per grading; a failure (the student's rule raising, a malformed reply, the time
    limit) is kept too and given to every test that needs the run, without running it again.
    """
    key = id(submission)
    if key not in _SWEEPS:
        try:
            _SWEEPS[key] = _run_sweep(submission, reference)
        except Exception as e:
            _SWEEPS[key] = e
    got = _SWEEPS[key]
    if isinstance(got, Exception):
        raise got.with_traceback(None)
    return got


def _fmt(finals, initial, reference):
    return ", ".join(f"{lr:g}: {loss:.3g}{' (diverged)' if reference.diverged(loss, initial) else ''}"
                     for lr, loss in finals.items())


# --------------------------------------------------------------------------- train


def _student_train(submission, X, y, config, epochs, batch_size, seed):
    net = submission.TwoLayerNet(X.shape[1], 20, 10, seed=seed)
    history = submission.train(net, X.copy(), y.copy(), submission.sgd_momentum, dict(config),
                               epochs, batch_size, seed + 1)
    assert isinstance(history, (list, tuple, np.ndarray)), (
        f"train must return the list of epoch losses, got {type(history).__name__}"
    )
    assert np.size(history) <= epochs, f"train returned {np.size(history)} values for {epochs} epochs"
    return np.asarray(history, dtype=np.float64), net.params


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_train_matches_reference_loop(submission, reference, rng):
    """train: one config per parameter, the generator made once from seed, one mean loss per epoch (vs the judge's loop)."""
    X, y = _digits()
    rows = rng.choice(len(X), 300, replace=False)
    X, y = X[rows], y[rows]
    seed = int(rng.integers(0, 1000))
    config = {"learning_rate": 0.05, "momentum": 0.9}
    history, params = _student_train(submission, X, y, config, 3, 32, seed)
    net = reference.TwoLayerNet(X.shape[1], 20, 10, seed=seed)
    expected = reference.train(net, X, y, remote_rule(submission, "sgd_momentum"), dict(config), 3, 32, seed + 1)
    what = "train(net, X, y, sgd_momentum, {'learning_rate': 0.05, 'momentum': 0.9}, epochs=3, batch_size=32, seed)"
    assert_close(history, np.array(expected), rtol=1e-8, atol=1e-12,
                 name=f"the epoch losses returned by {what}")
    assert isinstance(params, dict), f"net.params after train: {type(params).__name__}"
    for k, v in net.params.items():
        assert_close(params.get(k), v, rtol=1e-8, atol=1e-12, name=f"net.params['{k}'] after {what}")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_train_stops_when_diverged(submission, rng):
    """train stops after the first epoch whose mean loss is not finite, and returns the losses so far."""
    X, y = _digits()
    rows = rng.choice(len(X), 200, replace=False)
    with np.errstate(all="ignore"):
        history, _ = _student_train(submission, X[rows], y[rows], {"learning_rate": 1e200, "momentum": 0.9},
                                    6, 20, int(rng.integers(0, 1000)))
    assert len(history) >= 1, "train returned no epoch losses"
    assert not math.isfinite(history[-1]), (
        f"train with learning_rate 1e200: epoch losses {history.tolist()}; expected the run to diverge to inf or nan"
    )
    assert np.all(np.isfinite(history[:-1])) and len(history) < 6, (
        f"train with learning_rate 1e200 returned {len(history)} epoch losses {history.tolist()}; expected it to "
        "stop after the first epoch whose mean loss is not finite"
    )


# --------------------------------------------------------------------------- the sweep


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_sweep_results(submission, reference):
    """sweep_results holds every rate's result (its last epoch's loss), agreeing with the judge's re-run (diverged runs: both diverged)."""
    finals, initial = judge_sweep(submission, reference)
    got = submission.sweep_results
    if isinstance(got, Handle) and type_name(got) == "dict":  # float keys do not travel as data
        got = dict(list(got.items()))
    assert isinstance(got, dict), f"sweep_results must be a dict {{learning rate: last epoch's loss}}, got {type_name(got)}"
    missing = [lr for lr in finals if not any(_same_rate(k, lr) for k in got)]
    assert not missing, f"sweep_results has no entry for the rates {missing}"
    for lr, expected in finals.items():
        value = next(v for k, v in got.items() if _same_rate(k, lr))
        assert isinstance(value, (int, float, np.floating)), f"sweep_results[{lr:g}] must be a number"
        value = float(value)
        if reference.diverged(expected, initial):
            assert reference.diverged(value, initial), (
                f"sweep_results[{lr:g}] = {value:.4g}, but this rate diverged in the judge's run ({_fmt(finals, initial, reference)})"
            )
        else:
            assert_close(value, expected, rtol=1e-6, atol=1e-9,
                         name=f"sweep_results[{lr:g}] (the judge's run: {_fmt(finals, initial, reference)})")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_answer_first_diverging_lr(submission, reference):
    """ANSWER_FIRST_DIVERGING_LR is the smallest rate that diverged in the judge's re-run of your sweep."""
    finals, initial = judge_sweep(submission, reference)
    first, _ = reference.sweep_conclusions(finals, initial)
    try:
        assert_answer_number(submission, "ANSWER_FIRST_DIVERGING_LR", 0.0 if first is None else first,
                             rtol=1e-6, atol=0.0)
    except AssertionError as e:
        raise AssertionError(f"{e} (the judge's run with your sgd_momentum: {_fmt(finals, initial, reference)})") from None


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_answer_best_lr(submission, reference):
    """ANSWER_BEST_LR is the rate with the lowest result among those that did not diverge, in the judge's re-run."""
    finals, initial = judge_sweep(submission, reference)
    _, best = reference.sweep_conclusions(finals, initial)
    assert best is not None, f"every rate diverged in the judge's run with your sgd_momentum ({_fmt(finals, initial, reference)})"
    try:
        assert_answer_number(submission, "ANSWER_BEST_LR", best, rtol=1e-6, atol=0.0)
    except AssertionError as e:
        raise AssertionError(f"{e} (the judge's run with your sgd_momentum: {_fmt(finals, initial, reference)})") from None
