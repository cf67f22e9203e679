"""Hidden tests: the short-answer globals of section 4 (numbers and multiple choice)."""

import numpy as np
import pytest

NUMBER_TYPES = (int, float, np.integer, np.floating)


def _answer(submission, name):
    value = getattr(submission, name)
    assert value is not None, f"{name} is None: answer it in the last code cell"
    return value


def _check_number(submission, name, expected, rtol):
    value = _answer(submission, name)
    assert isinstance(value, NUMBER_TYPES) and not isinstance(value, (bool, np.bool_)), (
        f"{name} must be a number, got {type(value).__name__}"
    )
    value = float(value)
    assert abs(value - expected) <= rtol * abs(expected), f"{name} = {value:.6g} is not correct"


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
def test_answer_dropout_scale(submission):
    """ANSWER_DROPOUT_SCALE: the factor inverted dropout applies to kept units when p = 0.25."""
    _check_number(submission, "ANSWER_DROPOUT_SCALE", 4 / 3, rtol=1e-3)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_why_inverted(submission):
    """ANSWER_WHY_INVERTED: why dropout scales during training rather than at test time."""
    _check_choice(submission, "ANSWER_WHY_INVERTED", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_eval_mode(submission):
    """ANSWER_EVAL_MODE: what model.eval() changes."""
    _check_choice(submission, "ANSWER_EVAL_MODE", "c")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_running_stats(submission):
    """ANSWER_RUNNING_STATS: what batch norm's running statistics are for."""
    _check_choice(submission, "ANSWER_RUNNING_STATS", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_bn_norm_var(submission):
    """ANSWER_BN_NORM_VAR: the (biased) variance used to normalise the batch [1, 2, 3, 4]."""
    _check_number(submission, "ANSWER_BN_NORM_VAR", 1.25, rtol=1e-3)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_bn_running_var(submission):
    """ANSWER_BN_RUNNING_VAR: the (unbiased) variance of [1, 2, 3, 4] that enters running_var."""
    _check_number(submission, "ANSWER_BN_RUNNING_VAR", 5 / 3, rtol=1e-3)
