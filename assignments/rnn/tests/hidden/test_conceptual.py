"""Hidden tests: the short-answer globals of section 7 (numbers and multiple choice)."""

import pytest

from grader.course.testing import assert_answer_choice, assert_answer_number


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_vanishing_bound(submission):
    """ANSWER_VANISHING_BOUND: the most of the gradient that survives 10 steps back when sigma_max(Wh) = 0.5."""
    assert_answer_number(submission, "ANSWER_VANISHING_BOUND", 0.5**10, rtol=1e-2, atol=0.0)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_rnn_params(submission):
    """ANSWER_RNN_PARAMS: parameters of a vanilla RNN with D = 8, H = 32."""
    assert_answer_number(submission, "ANSWER_RNN_PARAMS", 8 * 32 + 32 * 32 + 32, rtol=0.0, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_lstm_fix(submission):
    """ANSWER_LSTM_FIX: why gradients survive longer in an LSTM."""
    assert_answer_choice(submission, "ANSWER_LSTM_FIX", "b")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_answer_clipping(submission):
    """ANSWER_CLIPPING: what clipping the gradient norm fixes."""
    assert_answer_choice(submission, "ANSWER_CLIPPING", "b")
