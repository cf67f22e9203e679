"""Public tests for `finetune`: the shapes and flags your functions must produce.

The hidden tests fine-tune with your code and compare every frozen parameter and batch-norm
statistic with the checkpoint, check the head, try your code on torchvision's resnet18 (where
installed), and measure ft_model on held-out digits 5-9 against training from scratch.
"""

import numpy as np
import pytest


def _named_parameters(submission, model):
    torch = submission.torch
    return [(name, p.requires_grad) for name, p in torch.builtins.list(model.named_parameters())]


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_pretrained_resnet_loads(submission):
    """load_pretrained_resnet() gives the CompactResNet with the checkpoint's 5-class head."""
    model = submission.load_pretrained_resnet()
    assert (model.fc.in_features, model.fc.out_features) == (128, 5), (
        f"pretrained fc: {model.fc.in_features} -> {model.fc.out_features}, expected 128 -> 5; "
        "is data/resnet_digits04.pt there? (grade data finetune)"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_small(submission):
    """After prepare_for_finetuning(model, 3) only fc.weight (3, 128) and fc.bias (3,) require gradients."""
    model = submission.prepare_for_finetuning(submission.load_pretrained_resnet(), 3)
    assert model is not None, "prepare_for_finetuning must return the model"
    trainable = sorted(name for name, flag in _named_parameters(submission, model) if flag)
    assert trainable == ["fc.bias", "fc.weight"], (
        f"trainable parameters after prepare_for_finetuning: {trainable[:5]}, expected ['fc.bias', 'fc.weight']"
    )
    assert (model.fc.in_features, model.fc.out_features) == (128, 3), (
        f"new fc: {model.fc.in_features} -> {model.fc.out_features}, expected 128 -> 3"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_small(submission):
    """finetune takes numpy arrays and returns the model, whose scores for 4 images have shape (4, 2)."""
    model = submission.prepare_for_finetuning(submission.load_pretrained_resnet(), 2)
    X = np.linspace(0.0, 1.0, 8 * 64, dtype=np.float32).reshape(8, 1, 8, 8)
    y = np.array([0, 1] * 4, dtype=np.int64)
    model = submission.finetune(model, X, y, 1, 0.01, 4, 0)
    assert model is not None, "finetune must return the model"
    model.eval()
    out = model(submission.torch.from_numpy(X[:4])).detach().numpy()
    assert isinstance(out, np.ndarray) and out.shape == (4, 2), (
        "scores of the fine-tuned model for 4 images: expected shape (4, 2), got "
        + (f"shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
    )
