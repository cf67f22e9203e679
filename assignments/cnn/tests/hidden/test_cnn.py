"""Hidden tests: the PyTorch part. build_cnn's architecture, predict_scores, and cnn_model's
accuracy on held-out digits.

The judge cannot hold torch objects: models come back as handles. It inspects them by
iterating `model.modules()` (each module comes back as a handle whose class name
`grader.judge.remote.type_name` reads) and reading plain attributes such as `in_channels`, and it
runs them through the notebook's `predict_scores(model, X)`, which takes and returns NumPy.
"""

import numpy as np
import pytest

from grader.judge.remote import Handle, SubmissionError, type_name

FULL_MARKS = 0.95  # held-out accuracy for full points
ZERO_MARKS = 0.70  # partial credit rises linearly from here to FULL_MARKS
MIN_CONVS = 2


def _modules(model, what: str) -> list:
    """The modules of `model` (itself included), as handles; an AssertionError if it is no nn.Module."""
    assert isinstance(model, Handle), f"{what} is {type_name(model)}, expected an nn.Module"
    try:
        return list(model.modules())
    except SubmissionError:
        raise AssertionError(f"{what} is a {type_name(model)}, not an nn.Module (it has no .modules())") from None


def _convs(model, what: str) -> list:
    modules = _modules(model, what)
    convs = [m for m in modules if type_name(m).endswith("Conv2d")]
    names = ", ".join(type_name(m) for m in modules[:20]) + (", ..." if len(modules) > 20 else "")
    assert len(convs) >= MIN_CONVS, (
        f"{what} has {len(convs)} Conv2d layer{'' if len(convs) == 1 else 's'}, at least {MIN_CONVS} are "
        f"required (its modules: {names})"
    )
    return convs


def _scores(submission, model, X, what: str) -> np.ndarray:
    scores = submission.predict_scores(model, X)
    assert isinstance(scores, np.ndarray), (
        f"predict_scores({what}, X) must return a NumPy array, got {type_name(scores)}"
        + (" (convert with .numpy())" if type_name(scores) == "Tensor" else "")
    )
    assert np.all(np.isfinite(scores)), f"predict_scores({what}, X): scores contain NaN or inf"
    return scores


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_build_cnn_has_two_conv_layers(submission):
    """build_cnn(1, 10) contains at least two nn.Conv2d layers."""
    _convs(submission.build_cnn(1, 10), "build_cnn(1, 10)")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_build_cnn_channels_and_classes(submission, rng):
    """build_cnn(in_channels, num_classes) takes (N, in_channels, 8, 8) and gives scores (N, num_classes)."""
    for channels, classes in [(1, 10), (3, 7)]:
        what = f"build_cnn({channels}, {classes})"
        model = submission.build_cnn(channels, classes)
        first = _convs(model, what)[0]
        assert first.in_channels == channels, (
            f"{what}: its first Conv2d has in_channels = {first.in_channels}, expected {channels}"
        )
        X = rng.random((5, channels, 8, 8)).astype(np.float32)
        scores = _scores(submission, model, X, what)
        assert scores.shape == (5, classes), (
            f"predict_scores({what}, X) for X {X.shape}: scores of shape {scores.shape}, expected {(5, classes)}"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_cnn_model_has_two_conv_layers(submission):
    """The trained cnn_model is a CNN with at least two nn.Conv2d layers."""
    _convs(submission.cnn_model, "cnn_model")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_predict_scores_in_eval_mode(submission, heldout):
    """predict_scores gives the same scores for the same digits, alone or in a batch (model.eval())."""
    X, _ = heldout("digits")
    X = X[:64].reshape(-1, 1, 8, 8).astype(np.float32)
    model = submission.cnn_model
    first = _scores(submission, model, X, "cnn_model")
    again = _scores(submission, model, X, "cnn_model")
    part = _scores(submission, model, X[:5].copy(), "cnn_model")
    assert first.shape == again.shape == (64, 10) and part.shape == (5, 10), (
        f"predict_scores(cnn_model, X): scores of shape {first.shape} for X {X.shape}, expected (64, 10)"
    )
    for name, a, b in [("twice on the same 64 digits", first, again),
                       ("for 5 digits alone and within a batch of 64", part, first[:5])]:
        diff = float(np.max(np.abs(a - b)))
        assert diff <= 1e-4 * (1.0 + float(np.max(np.abs(b)))), (
            f"predict_scores(cnn_model, X) gave different scores {name} (max difference {diff:.3g}): "
            "call model.eval() first, so that dropout and batch norm behave as in evaluation"
        )


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_cnn_model_accuracy(submission, heldout, credit):
    """cnn_model reaches 95% accuracy on held-out digits (partial credit from 70%)."""
    X, y = heldout("digits")
    X = X.reshape(-1, 1, 8, 8).astype(np.float32)
    scores = _scores(submission, submission.cnn_model, X, "cnn_model")
    assert scores.shape == (len(X), 10), (
        f"predict_scores(cnn_model, X): scores of shape {scores.shape}, expected {(len(X), 10)}"
    )
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"cnn_model accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    # Always awarded with its message, so that full marks show the accuracy too (grade report plots it).
    credit.award(
        (acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
        f"cnn_model accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}",
    )
