"""Hidden tests: prepare_for_finetuning freezes every pretrained parameter and puts a new head.

The checkpoint is read judge-side (reference.load_checkpoint) and compared with what the
student's model holds in the worker, through `grader.judge.torch_remote.RemoteTorch`.
"""

import numpy as np
import pytest

from grader.judge.torch_remote import RemoteTorch


def _checkpoint(reference):
    return {k: v.numpy() for k, v in reference.load_checkpoint().items()}


def _prepared(submission, num_classes):
    model = submission.prepare_for_finetuning(submission.load_pretrained_resnet(), num_classes)
    assert model is not None, "prepare_for_finetuning must return the model"
    return model


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_prepare_freezes_backbone(submission, reference):
    """After prepare_for_finetuning every parameter outside fc has requires_grad False and its pretrained value."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    params = rt.parameters(_prepared(submission, 5))
    backbone = [k for k in params if not k.startswith("fc.")]
    missing = sorted(k for k in ckpt if k not in params and not k.startswith("fc.")
                     and not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert not missing, f"the prepared model has no parameter {missing[0]}: keep the pretrained backbone"
    trainable = [k for k in backbone if params[k].requires_grad]
    assert not trainable, (
        f"{trainable[0]}: requires_grad is True after prepare_for_finetuning ({len(trainable)} of "
        f"{len(backbone)} backbone parameters); freeze every pretrained parameter"
    )
    for k in backbone:
        assert np.array_equal(params[k].value, ckpt[k]), (
            f"{k} differs from the checkpoint after prepare_for_finetuning: keep the pretrained weights"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_head_shape(submission):
    """The new fc is an nn.Linear(in_features, num_classes): fc.weight (num_classes, 128), scores (N, num_classes)."""
    rt = RemoteTorch(submission)
    for k in (3, 7):
        model = _prepared(submission, k)
        assert rt.isinstance(model.fc, rt.torch.nn.Linear), (
            f"prepare_for_finetuning(model, {k}).fc is a {rt.type_name(model.fc)}, expected nn.Linear"
        )
        params = rt.parameters(model)
        for name, shape in [("fc.weight", (k, 128)), ("fc.bias", (k,))]:
            assert name in params, f"prepare_for_finetuning(model, {k}) has no {name}"
            got = params[name].value.shape
            assert got == shape, f"prepare_for_finetuning(model, {k}): {name} has shape {got}, expected {shape}"
        model.eval()
        out = rt.forward(model, np.zeros((2, 1, 8, 8)), "scores")
        assert out.shape == (2, k), f"prepare_for_finetuning(model, {k}): scores of shape {out.shape}, expected (2, {k})"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_head_is_new_and_trainable(submission, reference):
    """fc is a new layer (not the pretrained 0-4 head, even with 5 classes) whose weight and bias require gradients."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    params = rt.parameters(_prepared(submission, 5))
    for name in ("fc.weight", "fc.bias"):
        assert name in params, f"the prepared model has no {name}"
    assert not np.array_equal(params["fc.weight"].value, ckpt["fc.weight"]), (
        "fc.weight is still the pretrained head for the digits 0-4: replace fc with a new nn.Linear"
    )
    for name in ("fc.weight", "fc.bias"):
        assert params[name].requires_grad, f"{name}: requires_grad is False; the new head must be trainable"
