"""Hidden tests: the short-answer globals of section 8 (numbers and multiple choice)."""

import numpy as np
import pytest

NUMBER_TYPES = (int, float, np.integer, np.floating)


def _answer(submission, name):
    value = getattr(submission, name)
    assert value is not None, f"{name} is None: answer it in the last code cell"
    return value


def _check_number(submission, name, expected, rtol, atol):
    value = _answer(submission, name)
    assert isinstance(value, NUMBER_TYPES) and not isinstance(value, (bool, np.bool_)), (
        f"{name} must be a number, got {type(value).__name__}"
    )
    value = float(value)
    assert abs(value - expected) <= max(atol, rtol * abs(expected)), f"{name} = {value:.6g} is not correct"


def _check_choice(submission, name, expected, options="abcd"):
    value = _answer(submission, name)
    assert isinstance(value, str), f'{name} must be one letter as a string, such as "a"; got {type(value).__name__}'
    letter = value.strip().strip("()").lower()
    assert letter in options and len(letter) == 1, (
        f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}"
    )
    assert letter == expected, f"{name} = {letter!r} is not correct"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_relu_grad_at_zero(submission):
    """ANSWER_RELU_GRAD_AT_ZERO: the convention for ReLU's derivative at exactly 0."""
    _check_number(submission, "ANSWER_RELU_GRAD_AT_ZERO", 0.0, rtol=0.0, atol=1e-12)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_sigmoid_max_grad(submission):
    """ANSWER_SIGMOID_MAX_GRAD: the largest value of the sigmoid's derivative."""
    _check_number(submission, "ANSWER_SIGMOID_MAX_GRAD", 0.25, rtol=1e-6, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_sigmoid_10_layer_bound(submission):
    """ANSWER_SIGMOID_10_LAYER_BOUND: the largest gradient factor through 10 sigmoids (vanishing gradients)."""
    _check_number(submission, "ANSWER_SIGMOID_10_LAYER_BOUND", 0.25**10, rtol=1e-2, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_dead_relu(submission):
    """ANSWER_DEAD_RELU: what happens to a ReLU unit that is negative on every input."""
    _check_choice(submission, "ANSWER_DEAD_RELU", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_softmax_shift(submission):
    """ANSWER_SOFTMAX_SHIFT: why softmax subtracts the row maximum."""
    _check_choice(submission, "ANSWER_SOFTMAX_SHIFT", "c")
