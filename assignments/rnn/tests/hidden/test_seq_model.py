"""Hidden tests: build_sequence_classifier and the trained `seq_model`, through handles.

The model stays in the worker; `RemoteTorch` sends numpy sequences (N, T, features) as float32
and gets numpy scores back. Accuracy is computed here, on the judge's held-out digits read as
8 rows of 8 pixels, in eval() mode. The solution reaches about 0.96 on them; FULL_MARKS = 0.90
leaves room for the differences in trained floats between CPUs.
"""

import numpy as np
import pytest

from grader.judge.torch_remote import RemoteTorch

FULL_MARKS = 0.90  # held-out accuracy for full points
ZERO_MARKS = 0.50  # partial credit rises linearly from here to FULL_MARKS
RECURRENT = ("GRU", "LSTM")


def _scores(rt, model, X, n_classes, what):
    out = rt.forward(model, X, what)
    assert out.shape == (len(X), n_classes), f"{what}: shape {out.shape}, expected {(len(X), n_classes)}"
    assert np.all(np.isfinite(out)), f"{what}: contains NaN or inf"
    return out.astype(np.float64)


def _recurrent(rt, model, what):
    layers = rt.modules_of(model, *RECURRENT)
    if not layers:
        names = ", ".join(sorted({rt.type_name(m) for _, m in rt.named_modules(model)}))
        raise AssertionError(f"{what} has no nn.GRU or nn.LSTM layer (its modules: {names})")
    return layers


def _seq_model(rt, submission):
    model = submission.seq_model
    assert model is not None, "seq_model is None: train your classifier and leave it in seq_model"
    assert rt.isinstance(model, rt.torch.nn.Module), "seq_model must be a torch.nn.Module"
    return model


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_build_sequence_classifier(submission, rng):
    """build_sequence_classifier(input_size, hidden_size, num_classes) has a GRU or LSTM and maps (N, T, input_size) to (N, num_classes)."""
    rt = RemoteTorch(submission)
    what = "build_sequence_classifier(input_size=5, hidden_size=7, num_classes=4)"
    model = submission.build_sequence_classifier(input_size=5, hidden_size=7, num_classes=4)
    layers = _recurrent(rt, model, what)
    sizes = sorted({int(m.hidden_size) for _, m in layers})
    assert 7 in sizes, f"{what}: its recurrent layer has hidden_size {sizes}, expected 7"
    model.eval()
    _scores(rt, model, rng.random((3, 6, 5)), 4, f"{what} scores for 3 sequences of 6 steps")
    _scores(rt, model, rng.random((2, 11, 5)), 4, f"{what} scores for 2 sequences of 11 steps")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_seq_model_is_recurrent(submission):
    """seq_model contains an nn.GRU or nn.LSTM layer."""
    rt = RemoteTorch(submission)
    _recurrent(rt, _seq_model(rt, submission), "seq_model")


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_seq_model_accuracy(submission, heldout, credit):
    """seq_model reaches 90% accuracy on held-out digits read row by row (partial credit from 50%)."""
    rt = RemoteTorch(submission)
    model = _seq_model(rt, submission)
    model.eval()
    X, y = heldout("digits")
    scores = _scores(rt, model, X.reshape(-1, 8, 8), 10, "seq_model scores on held-out digits (N, 8, 8)")
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"seq_model accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    # Always awarded with its message, so that full marks show the accuracy too (grade report plots it).
    credit.award((acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
                 f"seq_model accuracy on held-out digits: {acc:.3f}; full marks need {FULL_MARKS:.2f}")
