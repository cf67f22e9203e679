"""Hidden tests: the short-answer globals of section 8 (numbers and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_relu_grad_at_zero(submission):
    """ANSWER_RELU_GRAD_AT_ZERO: the convention for ReLU's derivative at exactly 0."""
    assert_answer_number(submission, "ANSWER_RELU_GRAD_AT_ZERO", 0.0, rtol=0.0, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_sigmoid_max_grad(submission):
    """ANSWER_SIGMOID_MAX_GRAD: the largest value of the sigmoid's derivative."""
    assert_answer_number(submission, "ANSWER_SIGMOID_MAX_GRAD", 0.25, rtol=1e-6, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_sigmoid_10_layer_bound(submission):
    """ANSWER_SIGMOID_10_LAYER_BOUND: the largest gradient factor through 10 sigmoids (vanishing gradients)."""
    assert_answer_number(submission, "ANSWER_SIGMOID_10_LAYER_BOUND", 0.25**10, rtol=1e-2, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_dead_relu(submission):
    """ANSWER_DEAD_RELU: what happens to a ReLU unit that is negative on every input."""
    assert_answer_choice(submission, "ANSWER_DEAD_RELU", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_softmax_shift(submission):
    """ANSWER_SOFTMAX_SHIFT: why softmax subtracts the row maximum."""
    assert_answer_choice(submission, "ANSWER_SOFTMAX_SHIFT", "c")
