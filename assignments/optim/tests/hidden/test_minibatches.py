"""Hidden tests: `minibatches`, the order of its rows and the size of its batches.

The generator the student's function shuffles with is made in the worker
(`np.random.default_rng(seed)` through the notebook's own numpy) and passed in as a handle;
the judge computes the expected order with its own `np.random.default_rng(seed)`, which
draws the same permutations. Row i of X holds the numbers 1000 * i + j, and y[i] = i, so a
row that lost its label, or a label in the wrong place, shows in the message.
"""

import numpy as np
import pytest

from grader.judge.remote import Handle


def _data(n, d=3):
    X = 1000.0 * np.arange(n)[:, None] + np.arange(d)[None, :]
    return X, np.arange(n)


def _batches(submission, X, y, batch_size, rng=None, what="minibatches"):
    got = submission.minibatches(X.copy(), y.copy(), batch_size, rng)
    items = list(got) if isinstance(got, (Handle, list, tuple)) else None
    assert items is not None, f"{what} must yield (X_batch, y_batch) pairs, got {type(got).__name__}"
    out = []
    for i, item in enumerate(items):
        assert isinstance(item, tuple) and len(item) == 2, (
            f"{what}: item {i} is a {type(item).__name__}, expected a pair (X_batch, y_batch)"
        )
        xb, yb = item
        assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray), (
            f"{what}: batch {i} is ({type(xb).__name__}, {type(yb).__name__}), expected two arrays"
        )
        assert len(xb) == len(yb), f"{what}: batch {i} has {len(xb)} rows of X and {len(yb)} labels"
        out.append((xb, yb))
    return out


def _worker_rng(submission, seed):
    return submission.np.random.default_rng(seed)


def _check_order(batches, X, y, order, batch_size, what):
    sizes = [len(yb) for _, yb in batches]
    n = len(order)
    expected_sizes = [min(batch_size, n - s) for s in range(0, n, batch_size)]
    left = (f"the last batch holds the {n % batch_size} rows left over" if n % batch_size
            else f"N is a multiple of {batch_size}: no rows are left over, so no partial or empty batch")
    assert sizes == expected_sizes, f"{what}: batch sizes {sizes}, expected {expected_sizes} ({left})"
    for i, (xb, yb) in enumerate(batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        rows = (xb[:, 0] // 1000).astype(int)
        if not np.array_equal(rows, yb):
            raise AssertionError(f"{what}: in batch {i} the labels no longer belong to their rows (rows "
                                 f"{rows[:6].tolist()}..., labels {yb[:6].tolist()}...); shuffle X and y "
                                 "with the same order")
        if not np.array_equal(yb, y[idx]) or not np.array_equal(xb, X[idx]):
            raise AssertionError(f"{what}: batch {i} holds rows {yb[:8].tolist()}..., expected "
                                 f"{y[idx][:8].tolist()}... (the order rng.permutation(N) of the generator given)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_minibatches_in_order(submission):
    """Without a generator the rows come in their order, in batches of batch_size and a last partial batch."""
    X, y = _data(23)
    _check_order(_batches(submission, X, y, 5), X, y, np.arange(23), 5, "minibatches(X, y, 5) with N = 23")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_minibatches_last_batch(submission):
    """The last batch holds the N % batch_size rows left over; no empty batch when batch_size divides N."""
    for n, bs in [(50, 16), (48, 16), (7, 10)]:
        X, y = _data(n)
        _check_order(_batches(submission, X, y, bs), X, y, np.arange(n), bs, f"minibatches(X, y, {bs}) with N = {n}")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_minibatches_shuffled(submission, rng):
    """With a generator the rows come in the order rng.permutation(N), X and y shuffled together."""
    seed = int(rng.integers(0, 2**31))
    X, y = _data(37)
    batches = _batches(submission, X, y, 8, _worker_rng(submission, seed))
    order = np.random.default_rng(seed).permutation(37)
    _check_order(batches, X, y, order, 8, f"minibatches(X, y, 8, rng) with N = 37 (rng = default_rng({seed}))")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_minibatches_new_order_each_epoch(submission, rng):
    """The same generator passed for two epochs gives two different orders: its first and second permutation."""
    seed = int(rng.integers(0, 2**31))
    X, y = _data(30)
    gen = _worker_rng(submission, seed)
    judge = np.random.default_rng(seed)
    for epoch in (1, 2):
        batches = _batches(submission, X, y, 7, gen)
        _check_order(batches, X, y, judge.permutation(30), 7,
                     f"minibatches(X, y, 7, rng), epoch {epoch} with the same generator (use the rng given, "
                     "don't make a new one)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_minibatches_stochastic_and_full_batch(submission, rng):
    """batch_size 1 gives N batches of one row (stochastic GD); batch_size N gives one batch (batch GD)."""
    seed = int(rng.integers(0, 2**31))
    X, y = _data(12)
    order = np.random.default_rng(seed).permutation(12)
    _check_order(_batches(submission, X, y, 1, _worker_rng(submission, seed)), X, y, order, 1,
                 "minibatches(X, y, 1, rng) with N = 12")
    _check_order(_batches(submission, X, y, 12, _worker_rng(submission, seed)), X, y, order, 12,
                 "minibatches(X, y, 12, rng) with N = 12")
