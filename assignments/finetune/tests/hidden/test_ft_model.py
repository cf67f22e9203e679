"""Hidden tests: the notebook's fine-tuned `ft_model`, on held-out digits 5-9.

Accuracy is computed here from scores the model returns for the judge's held-out images in
eval() mode. The baseline is judge-side: CompactResNets trained from scratch on the same 100
public images with the notebook's budget (reference.BUDGET), mean over three seeds, computed
once per judge process.
"""

import numpy as np
import pytest

from grader.course import datasets
from grader.course.testing import checkpoint_arrays, remote_accuracy, remote_model
from grader.judge.torch_remote import RemoteTorch

FULL_MARKS = 0.90  # held-out accuracy for full points (chance is 0.20)
ZERO_MARKS = 0.50  # partial credit rises linearly from here to FULL_MARKS
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _ft_model(rt, submission):
    return remote_model(rt, submission, "ft_model", "fine-tune the pretrained network and leave it in ft_model")


def _accuracy(rt, model, heldout):
    X, y = heldout("digits59_few")
    return remote_accuracy(rt, model, X, y, (1, 8, 8), 5, "ft_model scores", "held-out digits 5-9")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_ft_model_backbone_unchanged(submission, reference):
    """ft_model's parameters outside fc are the checkpoint's, bit for bit, and frozen."""
    rt = RemoteTorch(submission)
    ckpt = checkpoint_arrays(reference)
    params = rt.parameters(_ft_model(rt, submission))
    for k in ckpt:
        if k.startswith("fc.") or k.endswith(BN_BUFFERS):
            continue
        assert k in params, f"ft_model has no parameter {k}: fine-tune the pretrained CompactResNet"
        assert np.array_equal(params[k].value, ckpt[k]), (
            f"ft_model's {k} differs from the checkpoint: the backbone must stay frozen"
        )
        assert not params[k].requires_grad, f"ft_model's {k}: requires_grad is True; the backbone must be frozen"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_ft_model_batchnorm_statistics_unchanged(submission, reference):
    """ft_model's BatchNorm running statistics are the checkpoint's, bit for bit."""
    rt = RemoteTorch(submission)
    ckpt = checkpoint_arrays(reference)
    state = rt.state(_ft_model(rt, submission))
    for k in ckpt:
        if k.endswith(BN_BUFFERS):
            assert k in state, f"ft_model has no buffer {k}"
            assert np.array_equal(state[k], ckpt[k]), (
                f"ft_model's {k} differs from the checkpoint: frozen BatchNorm layers must stay in eval() "
                "mode while fine-tuning"
            )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_ft_model_head(submission, reference):
    """ft_model.fc maps 128 features to the 5 classes and is not the pretrained 0-4 head."""
    rt = RemoteTorch(submission)
    params = rt.parameters(_ft_model(rt, submission))
    assert "fc.weight" in params, "ft_model has no fc.weight"
    shape = params["fc.weight"].value.shape
    assert shape == (5, 128), f"ft_model's fc.weight has shape {shape}, expected (5, 128)"
    assert not np.array_equal(params["fc.weight"].value, checkpoint_arrays(reference)["fc.weight"]), (
        "ft_model's fc.weight is the pretrained head for the digits 0-4: replace fc and train the new one"
    )


@pytest.mark.points(3)
@pytest.mark.visibility("visible")
def test_ft_model_accuracy(submission, heldout, credit):
    """ft_model reaches 90% on held-out digits 5-9 (partial credit from 50%; chance is 20%)."""
    rt = RemoteTorch(submission)
    acc = _accuracy(rt, _ft_model(rt, submission), heldout)
    credit.measured(acc, FULL_MARKS)
    assert acc > ZERO_MARKS, (
        f"ft_model accuracy on held-out digits 5-9: {acc:.3f}; full marks need {FULL_MARKS:.2f}, "
        f"partial credit starts above {ZERO_MARKS:.2f}"
    )
    # Always awarded with its message, so that full marks show the accuracy too (grade report plots it).
    credit.award((acc - ZERO_MARKS) / (FULL_MARKS - ZERO_MARKS),
                 f"ft_model accuracy on held-out digits 5-9: {acc:.3f}; full marks need {FULL_MARKS:.2f}")


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_ft_model_beats_training_from_scratch(submission, reference, heldout):
    """ft_model beats a CompactResNet trained from scratch on the same 100 images with the same budget."""
    rt = RemoteTorch(submission)
    acc = _accuracy(rt, _ft_model(rt, submission), heldout)
    split = datasets.load("digits59_few")
    X_test, y_test = heldout("digits59_few")
    baseline = reference.scratch_baseline_accuracy(split.X_train, split.y_train, X_test, y_test)
    budget = reference.BUDGET
    assert acc > baseline, (
        f"ft_model accuracy on held-out digits 5-9: {acc:.3f}, not above {baseline:.3f}, the mean accuracy of "
        f"the same network trained from scratch on the same images ({budget['epochs']} epochs, lr "
        f"{budget['lr']}, batches of {budget['batch_size']})"
    )
