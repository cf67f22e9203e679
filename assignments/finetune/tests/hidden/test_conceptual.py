"""Hidden tests: the short-answer globals of section 4 (a number and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_trainable_params(submission):
    """ANSWER_TRAINABLE_PARAMS: the trainable parameters left by prepare_for_finetuning(model, 5)."""
    assert_answer_number(submission, "ANSWER_TRAINABLE_PARAMS", 645, rtol=0.0, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_why_freeze(submission):
    """ANSWER_WHY_FREEZE: why freeze the backbone with 100 labelled images."""
    assert_answer_choice(submission, "ANSWER_WHY_FREEZE", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_frozen_bn(submission):
    """ANSWER_FROZEN_BN: what train() mode does to the running statistics of frozen BatchNorm layers."""
    assert_answer_choice(submission, "ANSWER_FROZEN_BN", "c")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_weights_only(submission):
    """ANSWER_WEIGHTS_ONLY: why load checkpoints with weights_only=True."""
    assert_answer_choice(submission, "ANSWER_WEIGHTS_ONLY", "b")
