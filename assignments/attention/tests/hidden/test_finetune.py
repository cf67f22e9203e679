"""Hidden tests: prepare_for_finetuning and finetune on the pretrained RowTransformer.

The judge calls the student's functions in the worker with numpy arrays and compares the
model's parameters with the checkpoint judge-side (reference.load_checkpoint): the frozen
encoder must be bit-identical after fine-tuning. The head after finetune is compared with the
head the judge's own fine-tuning (reference.expected_head) gives from the same starting head and
data, with the frozen encoder in eval() mode. That run uses one batch of all 100 images, so the
order of the examples (a DataLoader's, or randperm's) does not matter; a relative tolerance
covers float rounding (another summation order), while dropout left on or another optimizer
move the head far more. The order across epochs is seen through the heads of runs on two
sequences in batches of one: runs that differ only in their batch orders end in different heads,
and the same run in the same worker gives the same bits.
"""

import numpy as np
import pytest

from grader.course import datasets
from grader.course.testing import assert_close
from grader.judge.torch_remote import RemoteTorch

EPOCHS, LR, BATCH_SIZE = 2, 0.1, 20
HEAD_RTOL, HEAD_ATOL = 1e-3, 1e-5
FULL_BATCH_EPOCHS, FULL_BATCH = 5, 100  # test_finetune_matches_the_judges_run: five steps on every image
HEAD = ("head.weight", "head.bias")


def _data():
    split = datasets.load("digits59_few")
    return split.X_train.astype(np.float32).reshape(-1, 8, 8), split.y_train.astype(np.int64)


def _checkpoint(reference):
    return {k: v.numpy() for k, v in reference.load_checkpoint().items()}


def _prepared(rt, submission, num_classes=5):
    rt.torch.manual_seed(0)
    model = submission.prepare_for_finetuning(submission.load_pretrained_transformer(), num_classes)
    assert model is not None, "prepare_for_finetuning must return the model"
    return model


def _finetune(submission, model, seed=0, epochs=EPOCHS):
    X, y = _data()
    out = submission.finetune(model, X, y, epochs, LR, BATCH_SIZE, seed)
    assert out is not None, "finetune must return the model"
    return out


def _encoder_keys(ckpt):
    return [k for k in ckpt if not k.startswith("head.")]


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_prepare_freezes_encoder(submission, reference):
    """After prepare_for_finetuning every parameter outside head has requires_grad False and its pretrained value."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    params = rt.parameters(_prepared(rt, submission))
    missing = [k for k in _encoder_keys(ckpt) if k not in params]
    assert not missing, f"the prepared model has no parameter {missing[0]}: keep the pretrained encoder"
    encoder = [k for k in params if not k.startswith("head.")]
    trainable = [k for k in encoder if params[k].requires_grad]
    assert not trainable, (
        f"{trainable[0]}: requires_grad is True after prepare_for_finetuning ({len(trainable)} of "
        f"{len(encoder)} encoder parameters); freeze every pretrained parameter"
    )
    for k in _encoder_keys(ckpt):
        assert np.array_equal(params[k].value, ckpt[k]), (
            f"{k} differs from the checkpoint after prepare_for_finetuning: keep the pretrained weights"
        )


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_head_shape(submission):
    """The new head is an nn.Linear(in_features, num_classes): head.weight (num_classes, 48), scores (N, num_classes)."""
    rt = RemoteTorch(submission)
    for k in (3, 7):
        model = _prepared(rt, submission, k)
        assert rt.isinstance(model.head, rt.torch.nn.Linear), (
            f"prepare_for_finetuning(model, {k}).head is a {rt.type_name(model.head)}, expected nn.Linear"
        )
        params = rt.parameters(model)
        for name, shape in [("head.weight", (k, 48)), ("head.bias", (k,))]:
            assert name in params, f"prepare_for_finetuning(model, {k}) has no {name}"
            got = params[name].value.shape
            assert got == shape, f"prepare_for_finetuning(model, {k}): {name} has shape {got}, expected {shape}"
        model.eval()
        out = rt.forward(model, np.zeros((2, 8, 8)), "scores")
        assert out.shape == (2, k), f"prepare_for_finetuning(model, {k}): scores of shape {out.shape}, expected (2, {k})"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_prepare_head_is_new_and_trainable(submission, reference):
    """head is a new layer (not the pretrained 0-4 head, even with 5 classes) whose weight and bias require gradients."""
    rt = RemoteTorch(submission)
    params = rt.parameters(_prepared(rt, submission))
    for name in HEAD:
        assert name in params, f"the prepared model has no {name}"
    assert not np.array_equal(params["head.weight"].value, _checkpoint(reference)["head.weight"]), (
        "head.weight is still the pretrained head for the digits 0-4: replace head with a new nn.Linear"
    )
    for name in HEAD:
        assert params[name].requires_grad, f"{name}: requires_grad is False; the new head must be trainable"


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_finetune_keeps_encoder(submission, reference):
    """After finetune every encoder parameter is bit-identical to the checkpoint and still frozen."""
    rt = RemoteTorch(submission)
    ckpt = _checkpoint(reference)
    model = _finetune(submission, _prepared(rt, submission))
    params = rt.parameters(model)
    encoder = _encoder_keys(ckpt)
    changed = [k for k in encoder if k not in params or not np.array_equal(params[k].value, ckpt[k])]
    assert not changed, (
        f"{changed[0]} changed during finetune ({len(changed)} of {len(encoder)} encoder parameters changed): "
        "the frozen encoder must not be updated"
    )
    unfrozen = [k for k in encoder if params[k].requires_grad]
    assert not unfrozen, f"{unfrozen[0]}: requires_grad is True after finetune; the encoder must stay frozen"


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_trains_head(submission):
    """finetune changes the new head's weight and bias, and returns the model in eval() mode."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    before = rt.parameters(model)
    tuned = _finetune(submission, model)
    after = rt.parameters(tuned)
    for name in HEAD:
        assert name in after, f"the fine-tuned model has no {name}"
        assert after[name].value.shape == before[name].value.shape, (
            f"{name}: shape {after[name].value.shape} after finetune, {before[name].value.shape} before"
        )
        assert not np.array_equal(after[name].value, before[name].value), (
            f"{name} did not change during finetune: the head must be trained (give the optimizer the "
            "parameters that require gradients)"
        )
    in_training = [name or "the model" for name, m in rt.named_modules(tuned) if m.training is not False]
    assert not in_training, f"after finetune, {in_training[0]} is in train() mode: return the model in eval() mode"


@pytest.mark.points(2)
@pytest.mark.visibility("visible")
def test_finetune_matches_the_judges_run(submission, reference):
    """finetune gives the head the judge's fine-tuning gives from the same start (full batches): encoder in
    eval() mode, SGD with momentum 0.9 on the cross-entropy."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    start = rt.parameters(model)
    X, y = _data()
    assert len(X) == FULL_BATCH
    tuned = submission.finetune(model, X, y, FULL_BATCH_EPOCHS, LR, FULL_BATCH, 0)
    assert tuned is not None, "finetune must return the model"
    after = rt.parameters(tuned)
    weight, bias = reference.expected_head(start["head.weight"].value, start["head.bias"].value, X, y,
                                           FULL_BATCH_EPOCHS, LR, FULL_BATCH, 0)
    case = f"after finetune(..., epochs={FULL_BATCH_EPOCHS}, lr={LR}, batch_size={FULL_BATCH}, seed=0)"
    hint = ("; the judge's run keeps the frozen encoder in eval() mode (dropout off) and uses "
            "SGD(lr, momentum=0.9) on the head with the mean cross-entropy")
    try:
        assert_close(after["head.weight"].value, weight, rtol=HEAD_RTOL, atol=HEAD_ATOL, name=f"head.weight {case}")
        assert_close(after["head.bias"].value, bias, rtol=HEAD_RTOL, atol=HEAD_ATOL, name=f"head.bias {case}")
    except AssertionError as e:
        raise AssertionError(f"{e}{hint}") from None


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_seeded(submission):
    """finetune with the same seed gives the same head; another seed gives another one."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    heads = []
    for seed in (3, 3, 4):
        tuned = _finetune(submission, rt.deepcopy(model), seed=seed, epochs=1)
        heads.append(rt.parameters(tuned)["head.weight"].value)
    assert np.array_equal(heads[0], heads[1]), (
        "head.weight after finetune(..., seed=3) differs between two runs from the same model: shuffle "
        "with torch.randperm(N, generator=torch.Generator().manual_seed(seed)), and keep dropout off"
    )
    assert not np.array_equal(heads[0], heads[2]), (
        "head.weight after finetune is the same with seed=3 and seed=4: the seed must choose the batches"
    )


ORDER_SEEDS = range(16)  # each seed's (epoch 1, epoch 2) orders of two sequences: 4 pairs, all of them here


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_finetune_shuffles_anew_every_epoch(submission):
    """finetune on two sequences, batch_size=1, epochs=2, seeds 0-15: the heads take at least 3 values
    (one generator for the whole run orders each epoch anew; a new one every epoch repeats the order)."""
    rt = RemoteTorch(submission)
    model = _prepared(rt, submission)
    X, y = _data()
    pick = [0, int(np.flatnonzero(y != y[0])[0])]  # two sequences of two classes
    copy = rt.import_module("copy")
    rt.torch.manual_seed(0)
    heads = set()
    for seed in ORDER_SEEDS:
        tuned = submission.finetune(copy.deepcopy(model), X[pick], y[pick], 2, LR, 1, seed)
        assert tuned is not None, "finetune must return the model"
        heads.add(rt.numpy(tuned.head.weight, "head.weight after finetune").tobytes())
    case = f"finetune(two sequences, epochs=2, batch_size=1) with the seeds 0-{ORDER_SEEDS[-1]}"
    fix = ("create one torch.Generator().manual_seed(seed) before the epoch loop and draw every epoch's "
           "randperm from it")
    assert len(heads) > 1, f"{case} gives the same head.weight for every seed: the seed must choose the batch order; {fix}"
    assert len(heads) >= 3, (
        f"{case} gives only {len(heads)} different head.weight: the second epoch repeats the first epoch's order; {fix}"
    )
