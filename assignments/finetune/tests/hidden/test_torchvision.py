"""Hidden test: the same code on torchvision's resnet18, where torchvision is installed.

prepare_for_finetuning and finetune must rely only on the torchvision ResNet layout (`fc`,
`fc.in_features`, BatchNorm2d layers), not on CompactResNet. The test is skipped (worth 0
points) when the notebook's environment has no torchvision.
"""

import numpy as np
import pytest

from grader.judge.remote import StudentError
from grader.judge.torch_remote import RemoteTorch

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _torchvision_models(rt):
    try:
        return rt.import_module("torchvision.models")
    except StudentError as e:
        raise AssertionError(f"torchvision is installed where the notebook runs, but importing it failed: {e}") from None


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_torchvision_resnet18(submission, rng, installed):
    """prepare_for_finetuning and finetune work unchanged on torchvision.models.resnet18(weights=None)."""
    if not installed("torchvision"):  # the judge's finding, from the sandbox's files: never the notebook's say
        pytest.skip("torchvision is not installed where the notebook runs")
    rt = RemoteTorch(submission)
    models = _torchvision_models(rt)
    rt.torch.manual_seed(0)
    model = models.resnet18(weights=None)
    before = rt.state(model)
    model = submission.prepare_for_finetuning(model, 4)
    assert model is not None, "prepare_for_finetuning must return the model"
    params = rt.parameters(model)
    assert params["fc.weight"].value.shape == (4, 512), (
        f"resnet18 after prepare_for_finetuning(model, 4): fc.weight has shape {params['fc.weight'].value.shape}, "
        "expected (4, 512); read in_features from model.fc"
    )
    trainable = sorted(k for k, p in params.items() if p.requires_grad)
    assert trainable == ["fc.bias", "fc.weight"], (
        f"resnet18 after prepare_for_finetuning: trainable parameters {trainable[:4]}, expected only fc.weight "
        "and fc.bias"
    )
    X = rng.random((8, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=8).astype(np.int64)
    tuned = submission.finetune(model, X, y, 1, 0.01, 4, 0)
    assert tuned is not None, "finetune must return the model"
    after = rt.state(tuned)
    for k, value in before.items():
        if k.startswith("fc."):
            continue
        assert np.array_equal(after[k], value), (
            f"resnet18's {k} changed during finetune: "
            + ("keep frozen BatchNorm layers in eval() mode" if k.endswith(BN_BUFFERS) else "the backbone is frozen")
        )
