"""Hidden tests: the short-answer globals of section 4 (a number and multiple choice)."""

import numpy as np
import pytest

NUMBER_TYPES = (int, float, np.integer, np.floating)


def _answer(submission, name):
    value = getattr(submission, name)
    assert value is not None, f"{name} is None: answer it in the last code cell"
    return value


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
def test_answer_trainable_params(submission):
    """ANSWER_TRAINABLE_PARAMS: the trainable parameters left by prepare_for_finetuning(model, 5)."""
    value = _answer(submission, "ANSWER_TRAINABLE_PARAMS")
    assert isinstance(value, NUMBER_TYPES) and not isinstance(value, (bool, np.bool_)), (
        f"ANSWER_TRAINABLE_PARAMS must be a number, got {type(value).__name__}"
    )
    assert float(value) == 645, f"ANSWER_TRAINABLE_PARAMS = {float(value):g} is not correct"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_why_freeze(submission):
    """ANSWER_WHY_FREEZE: why freeze the backbone with 100 labelled images."""
    _check_choice(submission, "ANSWER_WHY_FREEZE", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_frozen_bn(submission):
    """ANSWER_FROZEN_BN: what train() mode does to the running statistics of frozen BatchNorm layers."""
    _check_choice(submission, "ANSWER_FROZEN_BN", "c")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_weights_only(submission):
    """ANSWER_WEIGHTS_ONLY: why load checkpoints with weights_only=True."""
    _check_choice(submission, "ANSWER_WEIGHTS_ONLY", "b")
