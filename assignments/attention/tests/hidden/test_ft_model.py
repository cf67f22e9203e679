"""Hidden tests: the notebook's fine-tuned `ft_model`, on held-out digits 5-9.

Accuracy is computed here from scores the model returns for the judge's held-out images in
eval() mode. The baseline is judge-side: RowTransformers trained from scratch on the same 100
public images with the notebook's budget (reference.BUDGET), mean over three seeds, computed
once per judge process. ft_model must beat it by MARGIN: the solution is about 0.89 against a
baseline near 0.48, so float differences between CPUs cannot move either across the line.
"""

import numpy as np
import pytest

from grader.course import datasets
from grader.course.testing import checkpoint_arrays, remote_accuracy, remote_model
from grader.judge.torch_remote import RemoteTorch

FULL_MARKS = 0.80  # held-out accuracy for full points (chance is 0.20)
ZERO_MARKS = 0.40  # partial credit rises linearly from here to FULL_MARKS
MARGIN = 0.10      # over the from-scratch baseline


def _ft_model(rt, submission):
    return remote_model(rt, submission, "ft_model", "fine-tune the pretrained network and leave it in ft_model")


def _accuracy(rt, model, heldout):
    X, y = heldout("digits59_few")
    return remote_accuracy(rt, model, X, y, (8, 8), 5, "ft_model scores", "held-out digits 5-9")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_ft_model_encoder_unchanged(submission, reference):
    """ft_model's parameters outside head are the checkpoint's, bit for bit, and frozen."""
    rt = RemoteTorch(submission)
    ckpt = checkpoint_arrays(reference)
    params = rt.parameters(_ft_model(rt, submission))
    for k in ckpt:
        if k.startswith("head."):
            continue
        assert k in params, f"ft_model has no parameter {k}: fine-tune the pretrained RowTransformer"
        assert np.array_equal(params[k].value, ckpt[k]), (
            f"ft_model's {k} differs from the checkpoint: the encoder must stay frozen"
        )
        assert not params[k].requires_grad, f"ft_model's {k}: requires_grad is True; the encoder must be frozen"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_ft_model_head(submission, reference):
    """ft_model.head maps 48 features to the 5 classes and is not the pretrained 0-4 head."""
    rt = RemoteTorch(submission)
    params = rt.parameters(_ft_model(rt, submission))
    assert "head.weight" in params, "ft_model has no head.weight"
    shape = params["head.weight"].value.shape
    assert shape == (5, 48), f"ft_model's head.weight has shape {shape}, expected (5, 48)"
    assert not np.array_equal(params["head.weight"].value, checkpoint_arrays(reference)["head.weight"]), (
        "ft_model's head.weight is the pretrained head for the digits 0-4: replace head and train the new one"
    )


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
def test_ft_model_accuracy(submission, heldout, credit):
    """ft_model reaches 80% on held-out digits 5-9 (partial credit from 40%; chance is 20%)."""
    rt = RemoteTorch(submission)
    acc = _accuracy(rt, _ft_model(rt, submission), heldout)
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"ft_model accuracy on held-out digits 5-9: {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    if acc < FULL_MARKS:
        credit.award((acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
                     f"ft_model accuracy on held-out digits 5-9: {acc:.3f}; full marks need {FULL_MARKS:.2f}")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_ft_model_beats_training_from_scratch(submission, reference, heldout):
    """ft_model beats a RowTransformer trained from scratch on the same 100 images with the same budget, by 0.10."""
    rt = RemoteTorch(submission)
    acc = _accuracy(rt, _ft_model(rt, submission), heldout)
    split = datasets.load("digits59_few")
    X_test, y_test = heldout("digits59_few")
    baseline = reference.scratch_baseline_accuracy(split.X_train, split.y_train, X_test, y_test)
    budget = reference.BUDGET
    assert acc > baseline + MARGIN, (
        f"ft_model accuracy on held-out digits 5-9: {acc:.3f}, not above {baseline:.3f} + {MARGIN:.2f}; "
        f"{baseline:.3f} is the mean accuracy of the same network trained from scratch on the same images "
        f"({budget['epochs']} epochs, lr {budget['lr']}, batches of {budget['batch_size']})"
    )
