"""Hidden tests: the short-answer globals of the last section (a number and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_mha_params(submission):
    """ANSWER_MHA_PARAMS: the weights and biases of nn.MultiheadAttention(embed_dim=48, num_heads=4)."""
    assert_answer_number(submission, "ANSWER_MHA_PARAMS", 4 * 48 * 48 + 4 * 48, rtol=0.0, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_why_scale(submission):
    """ANSWER_WHY_SCALE: why the scores are divided by sqrt(d)."""
    assert_answer_choice(submission, "ANSWER_WHY_SCALE", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_torch_padding_mask(submission):
    """ANSWER_TORCH_PADDING_MASK: what True means in nn.MultiheadAttention's key_padding_mask."""
    assert_answer_choice(submission, "ANSWER_TORCH_PADDING_MASK", "a")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_trainable_params(submission):
    """ANSWER_TRAINABLE_PARAMS: the trainable parameters left by prepare_for_finetuning(model, 5)."""
    assert_answer_number(submission, "ANSWER_TRAINABLE_PARAMS", 48 * 5 + 5, rtol=0.0, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_frozen_dropout(submission):
    """ANSWER_FROZEN_DROPOUT: what train() mode does to a frozen encoder with dropout."""
    assert_answer_choice(submission, "ANSWER_FROZEN_DROPOUT", "c")
