"""Hidden test: the trained `best_net`, measured on the judge's held-out digits."""

import numpy as np
import pytest

FULL_MARKS = 0.90  # held-out accuracy for full points
ZERO_MARKS = 0.50  # partial credit rises linearly from here to FULL_MARKS


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_best_net_accuracy(submission, heldout, credit):
    """best_net reaches 90% accuracy on held-out digits (partial credit from 50%)."""
    X, y = heldout("digits")
    scores = submission.best_net.loss(X)
    assert isinstance(scores, np.ndarray), (
        f"best_net.loss(X) must return the scores array, got {type(scores).__name__}"
    )
    assert scores.shape == (len(X), 10), (
        f"best_net.loss(X) scores: shape {scores.shape}, expected {(len(X), 10)}"
    )
    assert np.all(np.isfinite(scores)), "best_net.loss(X) scores contain NaN or inf"
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"best_net accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    # Always awarded with its message, so that full marks show the accuracy too (grade report plots it).
    credit.award(
        (acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
        f"best_net accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}",
    )
