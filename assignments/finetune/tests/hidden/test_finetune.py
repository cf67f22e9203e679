"""Hidden tests: finetune, run by the judge on the public few-shot images.

The judge calls the student's prepare_for_finetuning and finetune in the worker with numpy
arrays, then compares the model's state_dict with the checkpoint, judge-side: frozen
parameters and every BatchNorm buffer must be bit-identical, the head must have changed.
Batch orders are seen through the heads: runs that differ only in the order of their batches
end in different heads, and the same run in the same worker gives the same bits.
"""

import numpy as np
import pytest

from grader.course import datasets
from grader.judge.torch_remote import RemoteTorch

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
EPOCHS, LR, BATCH_SIZE = 2, 0.05, 20


def _data():
    split = datasets.load("digits59_few")
    return split.X_train.astype(np.float32).reshape(-1, 1, 8, 8), split.y_train.astype(np.int64)


def _checkpoint(reference):
    return {k: v.numpy() for k, v in reference.load_checkpoint().items()}


def _prepared(rt, submission):
    rt.torch.manual_seed(0)
    model = submission.prepare_for_finetuning(submission.load_pretrained_resnet(), 5)
    assert model is not None, "prepare_for_finetuning must return the model"
    return model


def _finetune(submission, model, seed=0, epochs=EPOCHS):
    X, y = _data()
    out = submission.finetune(model, X, y, epochs, LR, BATCH_SIZE, seed)
    assert out is not None, "finetune must return the model"
    return out


def _differences(state, ckpt, keys):
    """[(key, largest change)] for the keys whose value differs from the checkpoint."""
    out = []
    for k in keys:
        a, b = state.get(k), ckpt[k]
        if a is None or a.shape != b.shape:
            out.append((k, float("nan")))
        elif not np.array_equal(a, b):
            out.append((k, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))))
    return out


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_finetune_keeps_backbone(submission, reference):
    """After finetune every frozen parameter is bit-identical to the checkpoint and still frozen."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    model = _finetune(submission, _prepared(rt, submission))
    params = rt.parameters(model)
    backbone = [k for k in ckpt if not k.startswith("fc.") and not k.endswith(BN_BUFFERS)]
    changed = _differences({k: p.value for k, p in params.items()}, ckpt, backbone)
    assert not changed, (
        f"{changed[0][0]} changed during finetune (largest change {changed[0][1]:.3g}; {len(changed)} of "
        f"{len(backbone)} backbone parameters changed): the frozen backbone must not be updated"
    )
    unfrozen = [k for k in backbone if params[k].requires_grad]
    assert not unfrozen, f"{unfrozen[0]}: requires_grad is True after finetune; the backbone must stay frozen"


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_finetune_keeps_batchnorm_statistics(submission, reference):
    """After finetune every BatchNorm running_mean, running_var and num_batches_tracked is the checkpoint's."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    model = _finetune(submission, _prepared(rt, submission))
    state = rt.state(model)
    buffers = [k for k in ckpt if k.endswith(BN_BUFFERS)]
    changed = _differences(state, ckpt, buffers)
    assert not changed, (
        f"{changed[0][0]} changed during finetune (largest change {changed[0][1]:.3g}; {len(changed)} of "
        f"{len(buffers)} BatchNorm buffers changed): a frozen BatchNorm layer in train() mode keeps "
        "updating its running statistics; keep frozen BatchNorm layers in eval() mode"
    )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_trains_head(submission):
    """finetune changes the new head's weight and bias."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    before = rt.parameters(model)
    after = rt.parameters(_finetune(submission, model))
    for name in ("fc.weight", "fc.bias"):
        assert name in after, f"the fine-tuned model has no {name}"
        assert after[name].value.shape == before[name].value.shape, (
            f"{name}: shape {after[name].value.shape} after finetune, {before[name].value.shape} before"
        )
        assert not np.array_equal(after[name].value, before[name].value), (
            f"{name} did not change during finetune: the head must be trained (give the optimizer the "
            "parameters that require gradients)"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_seeded(submission):
    """finetune with the same seed gives the same head; another seed gives another one."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    heads = []
    for seed in (3, 3, 4):
        tuned = _finetune(submission, rt.deepcopy(model), seed=seed, epochs=1)
        heads.append(rt.parameters(tuned)["fc.weight"].value)
    assert np.array_equal(heads[0], heads[1]), (
        "fc.weight after finetune(..., seed=3) differs between two runs from the same model: shuffle "
        "with torch.randperm(N, generator=torch.Generator().manual_seed(seed))"
    )
    assert not np.array_equal(heads[0], heads[2]), (
        "fc.weight after finetune is the same with seed=3 and seed=4: the seed must choose the batches"
    )


ORDER_SEEDS = range(16)  # each seed's (epoch 1, epoch 2) orders of two images: 4 pairs, all of them here


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_shuffles_anew_every_epoch(submission):
    """finetune on two images, batch_size=1, epochs=2, seeds 0-15: the heads take at least 3 values
    (one generator for the whole run orders each epoch anew; a new one every epoch repeats the order)."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    X, y = _data()
    pick = [0, int(np.flatnonzero(y != y[0])[0])]  # two images of two classes
    # at 16x16 the last stage's BatchNorm sees 2x2 values per channel even in a batch of one, so a
    # BatchNorm left in train() mode (its own test's mistake) still runs here
    X = np.ascontiguousarray(X[pick].repeat(2, axis=2).repeat(2, axis=3))
    copy = rt.import_module("copy")
    rt.torch.manual_seed(0)
    heads = set()
    for seed in ORDER_SEEDS:
        tuned = submission.finetune(copy.deepcopy(model), X, y[pick], 2, LR, 1, seed)
        assert tuned is not None, "finetune must return the model"
        heads.add(rt.numpy(tuned.fc.weight, "fc.weight after finetune").tobytes())
    case = f"finetune(two images, epochs=2, batch_size=1) with the seeds 0-{ORDER_SEEDS[-1]}"
    fix = ("create one torch.Generator().manual_seed(seed) before the epoch loop and draw every epoch's "
           "randperm from it")
    assert len(heads) > 1, f"{case} gives the same fc.weight for every seed: the seed must choose the batch order; {fix}"
    assert len(heads) >= 3, (
        f"{case} gives only {len(heads)} different fc.weight: the second epoch repeats the first epoch's order; {fix}"
    )
