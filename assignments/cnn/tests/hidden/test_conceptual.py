"""Hidden tests: the short-answer globals of section 5 (numbers and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_conv_out_width(submission):
    """ANSWER_CONV_OUT_WIDTH: the output-size formula with padding and stride."""
    assert_answer_number(submission, "ANSWER_CONV_OUT_WIDTH", 1 + (32 + 2 * 2 - 5) // 3, rtol=0.0, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_conv_params(submission):
    """ANSWER_CONV_PARAMS: the weights and biases of nn.Conv2d(3, 16, kernel_size=5)."""
    assert_answer_number(submission, "ANSWER_CONV_PARAMS", 16 * 3 * 5 * 5 + 16, rtol=0.0, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_maxpool_grad(submission):
    """ANSWER_MAXPOOL_GRAD: where a max-pooling window's gradient goes."""
    assert_answer_choice(submission, "ANSWER_MAXPOOL_GRAD", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_weight_sharing(submission):
    """ANSWER_WEIGHT_SHARING: what sharing a filter across positions buys."""
    assert_answer_choice(submission, "ANSWER_WEIGHT_SHARING", "b")
