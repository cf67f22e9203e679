"""Hidden tests: the short-answer globals of section 4 (numbers and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_dropout_scale(submission):
    """ANSWER_DROPOUT_SCALE: the factor inverted dropout applies to kept units when p = 0.25."""
    assert_answer_number(submission, "ANSWER_DROPOUT_SCALE", 4 / 3, rtol=1e-3, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_why_inverted(submission):
    """ANSWER_WHY_INVERTED: why dropout scales during training rather than at test time."""
    assert_answer_choice(submission, "ANSWER_WHY_INVERTED", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_eval_mode(submission):
    """ANSWER_EVAL_MODE: what model.eval() changes."""
    assert_answer_choice(submission, "ANSWER_EVAL_MODE", "c")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_running_stats(submission):
    """ANSWER_RUNNING_STATS: what batch norm's running statistics are for."""
    assert_answer_choice(submission, "ANSWER_RUNNING_STATS", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_bn_norm_var(submission):
    """ANSWER_BN_NORM_VAR: the (biased) variance used to normalise the batch [1, 2, 3, 4]."""
    assert_answer_number(submission, "ANSWER_BN_NORM_VAR", 1.25, rtol=1e-3, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_bn_running_var(submission):
    """ANSWER_BN_RUNNING_VAR: the (unbiased) variance of [1, 2, 3, 4] that enters running_var."""
    assert_answer_number(submission, "ANSWER_BN_RUNNING_VAR", 5 / 3, rtol=1e-3, atol=0.0)
