"""Hidden tests: build_regularized_cnn and the trained `reg_model`, through handles.

The model stays in the worker; `RemoteTorch` sends numpy batches in and gets numpy scores back.
Tests that switch the model to train() mode work on a worker-side deep copy, so the student's
`reg_model` (its running statistics included) is never changed by them. Accuracy is computed
here, on the judge's held-out digits, in eval() mode.
"""

import numpy as np
import pytest

from grader.judge.torch_remote import RemoteTorch

FULL_MARKS = 0.95  # held-out accuracy for full points
ZERO_MARKS = 0.50  # partial credit rises linearly from here to FULL_MARKS
DROPOUTS = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d")


def _images(X):
    return np.asarray(X, dtype=np.float32).reshape(-1, 1, 8, 8)


def _scores(rt, model, X, n_classes, what):
    out = rt.forward(model, X, what)
    assert out.shape == (len(X), n_classes), f"{what}: shape {out.shape}, expected {(len(X), n_classes)}"
    assert np.all(np.isfinite(out)), f"{what}: contains NaN or inf"
    return out.astype(np.float64)


def _layers(rt, model, what):
    """Assert that `model` has batch norm and dropout; return the dropout layers' p values."""
    bns = rt.modules_of(model, "BatchNorm2d")
    assert bns, f"{what} has no nn.BatchNorm2d layer"
    drops = rt.modules_of(model, *DROPOUTS)
    assert drops, f"{what} has no nn.Dropout layer"
    return [float(m.p) for _, m in drops]


def _reg_model(rt, submission):
    model = submission.reg_model
    assert model is not None, "reg_model is None: train your CNN and leave it in reg_model"
    assert rt.isinstance(model, rt.torch.nn.Module), "reg_model must be a torch.nn.Module"
    return model


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_build_regularized_cnn(submission, rng):
    """build_regularized_cnn(in_channels, num_classes, p_drop) has BatchNorm2d and Dropout(p_drop) and the right output shape."""
    rt = RemoteTorch(submission)
    model = submission.build_regularized_cnn(in_channels=3, num_classes=7, p_drop=0.3)
    what = "build_regularized_cnn(in_channels=3, num_classes=7, p_drop=0.3)"
    ps = _layers(rt, model, what)
    assert any(abs(p - 0.3) < 1e-12 for p in ps), (
        f"{what}: no dropout layer has p = p_drop = 0.3 (found p = {', '.join(f'{p:g}' for p in ps)})"
    )
    model.eval()
    _scores(rt, model, rng.random((4, 3, 8, 8)), 7, f"{what} scores for 4 images of 3x8x8")
    default = submission.build_regularized_cnn()
    default.eval()
    _scores(rt, default, rng.random((2, 1, 8, 8)), 10, "build_regularized_cnn() scores for 2 images of 1x8x8")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_reg_model_layers(submission):
    """reg_model has nn.BatchNorm2d and nn.Dropout layers."""
    rt = RemoteTorch(submission)
    _layers(rt, _reg_model(rt, submission), "reg_model")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_reg_model_eval_deterministic(submission, heldout):
    """In eval() mode reg_model is deterministic: the same input gives the same scores."""
    rt = RemoteTorch(submission)
    model = rt.deepcopy(_reg_model(rt, submission))
    model.eval()
    X = _images(heldout("digits")[0][:64])
    a = _scores(rt, model, X, 10, "reg_model scores in eval() mode")
    b = _scores(rt, model, X, 10, "reg_model scores in eval() mode")
    assert np.array_equal(a, b), (
        f"reg_model in eval() mode gave different scores for the same input (max difference "
        f"{np.abs(a - b).max():.3g}): dropout must be off in eval() mode (F.dropout needs "
        "training=self.training)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_reg_model_eval_batch_independent(submission, heldout):
    """In eval() mode one example's scores do not depend on the rest of its batch (batch norm uses running statistics)."""
    rt = RemoteTorch(submission)
    model = rt.deepcopy(_reg_model(rt, submission))
    model.eval()
    X = _images(heldout("digits")[0][:48])
    together = _scores(rt, model, X, 10, "reg_model scores in eval() mode")
    alone = _scores(rt, model, X[:4], 10, "reg_model scores in eval() mode")
    reordered = _scores(rt, model, X[::-1][:20], 10, "reg_model scores in eval() mode")
    diff = max(np.abs(together[:4] - alone).max(), np.abs(together[::-1][:20] - reordered).max())
    scale = max(1.0, float(np.abs(together).max()))
    assert diff <= 1e-4 * scale, (
        f"reg_model in eval() mode: the scores of an example change with the other examples in its "
        f"batch (max difference {diff:.3g}); batch norm must normalise with its running statistics "
        "in eval() mode"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_reg_model_train_stochastic(submission, heldout):
    """In train() mode reg_model's dropout is active: the same input gives different scores."""
    rt = RemoteTorch(submission)
    model = rt.deepcopy(_reg_model(rt, submission))
    model.train()
    X = _images(heldout("digits")[0][:64])
    a = _scores(rt, model, X, 10, "reg_model scores in train() mode")
    b = _scores(rt, model, X, 10, "reg_model scores in train() mode")
    assert not np.array_equal(a, b), (
        "reg_model in train() mode gave the same scores twice for the same input: its dropout drops "
        "nothing while training (p_drop = 0, or dropout not applied in forward)"
    )


@pytest.mark.points(4)
@pytest.mark.visibility("visible")
def test_reg_model_accuracy(submission, heldout, credit):
    """reg_model reaches 95% accuracy on held-out digits in eval() mode (partial credit from 50%)."""
    rt = RemoteTorch(submission)
    model = _reg_model(rt, submission)
    model.eval()
    X, y = heldout("digits")
    scores = _scores(rt, model, _images(X), 10, "reg_model scores on held-out digits")
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"reg_model accuracy on held-out digits (eval mode): {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    # Always awarded with its message, so that full marks show the accuracy too (grade report plots it).
    credit.award(
        (acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
        f"reg_model accuracy on held-out digits (eval mode): {acc:.3f}; full marks need {FULL_MARKS:.2f}",
    )
