"""Hidden tests: the short-answer globals of section 8 that do not depend on the sweep.

(ANSWER_FIRST_DIVERGING_LR and ANSWER_BEST_LR are checked in test_training.py, against the
judge's re-run of the sweep.)
"""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_batches_per_epoch(submission):
    """ANSWER_BATCHES_PER_EPOCH: updates per epoch with N = 1000 and batch_size = 64 (the last batch counts)."""
    assert_answer_number(submission, "ANSWER_BATCHES_PER_EPOCH", 16, rtol=0.0, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_momentum_factor(submission):
    """ANSWER_MOMENTUM_FACTOR: the velocity's limit for a constant gradient, in units of g, with momentum 0.9."""
    assert_answer_number(submission, "ANSWER_MOMENTUM_FACTOR", 10.0, rtol=1e-3, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_bias_correction(submission):
    """ANSWER_BIAS_CORRECTION: why Adam divides by 1 - beta**t."""
    assert_answer_choice(submission, "ANSWER_BIAS_CORRECTION", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_too_large_lr(submission):
    """ANSWER_TOO_LARGE_LR: what goes wrong with too large a learning rate."""
    assert_answer_choice(submission, "ANSWER_TOO_LARGE_LR", "a")
