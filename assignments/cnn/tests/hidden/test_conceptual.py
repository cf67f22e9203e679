"""Hidden tests: the short-answer globals of section 5 (numbers and multiple choice)."""

import numpy as np
import pytest

NUMBER_TYPES = (int, float, np.integer, np.floating)


def _answer(submission, name):
    value = getattr(submission, name)
    assert value is not None, f"{name} is None: answer it in the last code cell"
    return value


def _check_number(submission, name, expected):
    value = _answer(submission, name)
    assert isinstance(value, NUMBER_TYPES) and not isinstance(value, (bool, np.bool_)), (
        f"{name} must be a number, got {type(value).__name__}"
    )
    assert abs(float(value) - expected) < 1e-9, f"{name} = {float(value):.6g} is not correct"


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
def test_answer_conv_out_width(submission):
    """ANSWER_CONV_OUT_WIDTH: the output-size formula with padding and stride."""
    _check_number(submission, "ANSWER_CONV_OUT_WIDTH", 1 + (32 + 2 * 2 - 5) // 3)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_conv_params(submission):
    """ANSWER_CONV_PARAMS: the weights and biases of nn.Conv2d(3, 16, kernel_size=5)."""
    _check_number(submission, "ANSWER_CONV_PARAMS", 16 * 3 * 5 * 5 + 16)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_maxpool_grad(submission):
    """ANSWER_MAXPOOL_GRAD: where a max-pooling window's gradient goes."""
    _check_choice(submission, "ANSWER_MAXPOOL_GRAD", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_weight_sharing(submission):
    """ANSWER_WEIGHT_SHARING: what sharing a filter across positions buys."""
    _check_choice(submission, "ANSWER_WEIGHT_SHARING", "b")
