"""Hidden tests: softmax cross-entropy loss, its gradient, and stability for large scores."""

import pytest

from grader.course.testing import as_float64, assert_close, numeric_gradient

RTOL, ATOL = 1e-7, 1e-12
NUM_RTOL, NUM_ATOL = 1e-6, 1e-8


def _case(rng, n=8, c=5, scale=2.0):
    return scale * rng.standard_normal((n, c)), rng.integers(0, c, size=n)


def _run(submission, scores, y):
    got = submission.softmax_loss(scores.copy(), y.copy())
    assert isinstance(got, tuple) and len(got) == 2, (
        f"softmax_loss must return (loss, dscores), got {type(got).__name__}"
    )
    return got


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_loss_value(submission, reference, rng):
    """softmax_loss returns the MEAN cross-entropy over the batch."""
    scores, y = _case(rng)
    loss, _ = _run(submission, scores, y)
    ref_loss, _ = reference.softmax_loss(scores, y)
    assert_close(as_float64(loss, (), "loss"), ref_loss, rtol=RTOL, atol=ATOL, name="loss")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_softmax_loss_dscores(submission, reference, rng):
    """softmax_loss's dscores equals (softmax(scores) - onehot(y)) / N."""
    scores, y = _case(rng)
    _, dscores = _run(submission, scores, y)
    _, ref_dscores = reference.softmax_loss(scores, y)
    assert_close(dscores, ref_dscores, rtol=RTOL, atol=ATOL, name="dscores")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_loss_numeric(submission, rng):
    """softmax_loss's dscores agrees with the numeric gradient of your own loss."""
    scores, y = _case(rng, n=4, c=3)
    _, dscores = _run(submission, scores, y)
    num = numeric_gradient(lambda s: submission.softmax_loss(s, y)[0], scores.copy())
    assert_close(dscores, num, rtol=NUM_RTOL, atol=NUM_ATOL, name="dscores (vs numeric gradient)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_softmax_loss_large_scores(submission, reference, rng):
    """softmax_loss is finite and correct for scores around 1000 and for very confident rows."""
    scores, y = _case(rng, n=6, c=4)
    scores = scores + 1000.0
    scores[0] = [1000.0, 960.0, 990.0, 1001.0]  # a confident row: p[y] ~ 1e-18, loss ~ 41
    y[0] = 1
    loss, dscores = _run(submission, scores, y)
    ref_loss, ref_dscores = reference.softmax_loss(scores, y)
    assert_close(
        as_float64(loss, (), "loss"), ref_loss, rtol=RTOL, atol=ATOL,
        name="loss (scores around 1000)",
    )
    assert_close(dscores, ref_dscores, rtol=RTOL, atol=ATOL, name="dscores (scores around 1000)")
