"""The finetune assignment's misconceptions (judge-side; never shipped to students).

Probes prepare the student's model in the worker (their prepare_for_finetuning of their
load_pretrained_resnet, torch seeded like the tests), fine-tune it where the mistake is in
finetune, and read its parameters and buffers back through grader.judge.torch_remote; the
checkpoint is the judge's own (reference.load_checkpoint). The evidence is exact (bit-equal
or not, which parameters require gradients, shapes), never a tolerance: each probe checks the
state the wrong code leaves and that the right code could not leave, with every other part
as it should be. Each probe makes at most three prepare/finetune calls on the few-shot set
the tests use, except the batch-order probe: sixteen short runs on two images, like its test. See docs/authoring.md, "Misconceptions".
"""

from __future__ import annotations

import numpy as np

from grader.course import datasets
from grader.course.misconceptions import Misconception, as_float64
from grader.course.testing import checkpoint_arrays
from grader.judge.torch_remote import RemoteTorch

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
HEAD = ("fc.weight", "fc.bias")
EPOCHS, LR, BATCH_SIZE = 1, 0.05, 20

PREPARE = ("test_prepare_freezes_backbone", "test_prepare_head_shape", "test_prepare_head_is_new_and_trainable",
           "test_prepare_small")
FINETUNE = ("test_finetune_keeps_backbone", "test_finetune_keeps_batchnorm_statistics", "test_finetune_trains_head",
            "test_finetune_seeded", "test_finetune_shuffles_anew_every_epoch", "test_finetune_small")
FT_MODEL = ("test_ft_model_backbone_unchanged", "test_ft_model_batchnorm_statistics_unchanged", "test_ft_model_head",
            "test_ft_model_accuracy", "test_ft_model_beats_training_from_scratch")


def _prepare(submission, classes):
    rt = RemoteTorch(submission)
    rt.torch.manual_seed(0)
    model = submission.prepare_for_finetuning(submission.load_pretrained_resnet(), classes)
    return rt, model, rt.parameters(model)


def _backbone(params):
    return [k for k in params if not k.startswith("fc.")]


def _head_ok(params, ckpt, classes):
    """A new, trainable nn.Linear head for `classes` classes."""
    w = params.get("fc.weight")
    return (w is not None and w.value.shape == (classes, ckpt["fc.weight"].shape[1])
            and all(params[k].requires_grad for k in HEAD if k in params)
            and not np.array_equal(w.value[:min(classes, len(ckpt["fc.weight"]))],
                                   ckpt["fc.weight"][:min(classes, len(ckpt["fc.weight"]))]))


def _frozen_pretrained(params, ckpt):
    """Every backbone parameter frozen and bit-equal to the checkpoint."""
    names = _backbone(params)
    return bool(names) and all(not params[k].requires_grad and k in ckpt and np.array_equal(params[k].value, ckpt[k])
                               for k in names)


def prepare_does_not_freeze(submission, reference) -> bool:
    ckpt = checkpoint_arrays(reference)
    _, _, params = _prepare(submission, 3)
    names = _backbone(params)
    return (_head_ok(params, ckpt, 3) and bool(names)
            and all(params[k].requires_grad and np.array_equal(params[k].value, ckpt[k]) for k in names))


def prepare_freezes_new_head(submission, reference) -> bool:
    ckpt = checkpoint_arrays(reference)
    _, _, params = _prepare(submission, 3)
    w = params.get("fc.weight")
    return (_frozen_pretrained(params, ckpt) and w is not None and w.value.shape == (3, ckpt["fc.weight"].shape[1])
            and not any(params[k].requires_grad for k in HEAD if k in params))


def prepare_keeps_pretrained_head(submission, reference) -> bool:
    ckpt = checkpoint_arrays(reference)
    _, _, params = _prepare(submission, 3)
    w = params.get("fc.weight")
    return (_frozen_pretrained(params, ckpt) and w is not None and w.requires_grad
            and np.array_equal(w.value, ckpt["fc.weight"]))


def prepare_head_size_hard_coded(submission, reference) -> bool:
    """Asked for 3 classes, a new head with the pretrained head's 5 outputs."""
    ckpt = checkpoint_arrays(reference)
    _, _, params = _prepare(submission, 3)
    w = params.get("fc.weight")
    return (_frozen_pretrained(params, ckpt) and w is not None and w.requires_grad
            and w.value.shape == ckpt["fc.weight"].shape and not np.array_equal(w.value, ckpt["fc.weight"]))


def _data():
    split = datasets.load("digits59_few")
    return split.X_train.astype(np.float32).reshape(-1, 1, 8, 8), split.y_train.astype(np.int64)


def _finetuned(submission, reference, seed=0):
    """(rt, params before, model after, checkpoint) from a correctly prepared model; None when
    the preparation itself is wrong (then the mistake is not finetune's)."""
    ckpt = checkpoint_arrays(reference)
    rt, model, before = _prepare(submission, 5)
    if not (_frozen_pretrained(before, ckpt) and _head_ok(before, ckpt, 5)):
        return None
    X, y = _data()
    after = submission.finetune(model, X, y, EPOCHS, LR, BATCH_SIZE, seed)
    return rt, before, after, ckpt


def finetune_batchnorm_in_train_mode(submission, reference) -> bool:
    """Backbone parameters untouched, but BatchNorm running statistics moved: forward passes in train()."""
    found = _finetuned(submission, reference)
    if found is None:
        return False
    rt, _, model, ckpt = found
    params, state = rt.parameters(model), rt.state(model)
    buffers = [k for k in ckpt if k.endswith(("running_mean", "running_var"))]
    return (_frozen_pretrained(params, ckpt) and bool(buffers)
            and any(k in state and state[k].shape == ckpt[k].shape and not np.array_equal(state[k], ckpt[k])
                    for k in buffers))


def finetune_trains_backbone(submission, reference) -> bool:
    """A correctly frozen backbone unfrozen and updated by finetune."""
    found = _finetuned(submission, reference)
    if found is None:
        return False
    rt, _, model, ckpt = found
    params = rt.parameters(model)
    names = _backbone(params)
    return bool(names) and all(params[k].requires_grad for k in names) and any(
        not np.array_equal(params[k].value, ckpt[k]) for k in names if k in ckpt)


def finetune_without_optimizer_step(submission, reference) -> bool:
    """The head still trainable but not changed at all by finetune."""
    found = _finetuned(submission, reference)
    if found is None:
        return False
    rt, before, model, _ = found
    after = rt.parameters(model)
    return all(k in after and after[k].requires_grad and np.array_equal(after[k].value, before[k].value) for k in HEAD)


def finetune_unseeded_shuffle(submission, reference) -> bool:
    """Two runs with the same seed from copies of one prepared model end with different heads.
    (Prepared once: re-seeding torch for a second preparation would hide an unseeded shuffle.)"""
    ckpt = checkpoint_arrays(reference)
    rt, model, before = _prepare(submission, 5)
    if not (_frozen_pretrained(before, ckpt) and _head_ok(before, ckpt, 5)):
        return False
    X, y = _data()
    start = before["fc.weight"].value
    heads = []
    for _ in range(2):
        tuned = submission.finetune(rt.deepcopy(model), X, y, EPOCHS, LR, BATCH_SIZE, 3)
        w = rt.parameters(tuned).get("fc.weight")
        if w is None or w.value.shape != start.shape or np.array_equal(w.value, start):
            return False  # not trained at all: another mistake
        heads.append(w.value)
    return not np.array_equal(heads[0], heads[1])


def finetune_same_order_every_epoch(submission, reference) -> bool:
    """Two epochs on two images in batches of one, seeds 0-15: exactly two distinct trained heads,
    the (epoch 1, epoch 2) orders (a, a) and (b, b) only; one generator for the run gives four, an
    order that ignores the seed (or no training) gives one."""
    ckpt = checkpoint_arrays(reference)
    rt, model, before = _prepare(submission, 5)
    if not (_frozen_pretrained(before, ckpt) and _head_ok(before, ckpt, 5)):
        return False
    X, y = _data()
    pick = [0, int(np.flatnonzero(y != y[0])[0])]
    X = np.ascontiguousarray(X[pick].repeat(2, axis=2).repeat(2, axis=3))  # as in the test: 16x16
    copy = rt.import_module("copy")
    start = before["fc.weight"].value
    heads = set()
    for seed in range(16):
        w = rt.numpy(submission.finetune(copy.deepcopy(model), X, y[pick], 2, LR, 1, seed).fc.weight)
        if w.shape != start.shape or np.array_equal(w, start):
            return False  # not trained at all: another mistake
        heads.add(w.tobytes())
    return len(heads) == 2


def trainable_params_without_bias(submission, reference) -> bool:
    """ANSWER_TRAINABLE_PARAMS = 128 * 5: the new head's weights counted, its 5 biases not."""
    value = as_float64(submission.ANSWER_TRAINABLE_PARAMS)
    return value is not None and value.shape == () and float(value) == 128 * 5


MISCONCEPTIONS = [
    Misconception(
        "prepare_does_not_freeze", "left the pretrained backbone trainable",
        "With about a hundred labelled images, updating millions of pretrained weights overfits "
        "them. Turn off requires_grad on every pretrained parameter, then add the new head.",
        PREPARE + FINETUNE + FT_MODEL, prepare_does_not_freeze),
    Misconception(
        "prepare_freezes_new_head", "froze the new head together with the backbone",
        "Order matters: a layer created after the freezing loop starts with requires_grad True. Freeze "
        "first, then replace the head, so that only the head trains.",
        PREPARE + FINETUNE + FT_MODEL, prepare_freezes_new_head),
    Misconception(
        "prepare_keeps_pretrained_head", "kept the pretrained head instead of putting a new one",
        "The pretrained head scores the old classes (digits 0-4). The new task needs a new nn.Linear "
        "with one output per new class, starting from fresh weights.",
        PREPARE + FINETUNE + FT_MODEL, prepare_keeps_pretrained_head),
    Misconception(
        "prepare_head_size_hard_coded", "hard-coded the new head's number of outputs",
        "The new head needs num_classes outputs, whatever the old head had: read it from the argument.",
        PREPARE + ("test_finetune_small",), prepare_head_size_hard_coded),
    Misconception(
        "finetune_batchnorm_in_train_mode", "left the frozen BatchNorm layers in train() mode",
        "requires_grad = False stops gradient updates, but a BatchNorm layer in train() mode still "
        "updates its running mean and variance on every forward pass; put frozen ones in eval().",
        FINETUNE + FT_MODEL + ("test_torchvision_resnet18",), finetune_batchnorm_in_train_mode),
    Misconception(
        "finetune_trains_backbone", "unfroze the backbone inside finetune",
        "Gradients reach the head without unfreezing anything: give the optimizer only the parameters "
        "that require gradients and leave the frozen ones frozen.",
        FINETUNE + FT_MODEL, finetune_trains_backbone),
    Misconception(
        "finetune_without_optimizer_step", "never stepped the optimizer",
        "backward() only computes the gradients; the parameters change when optimizer.step() applies them.",
        FINETUNE + FT_MODEL, finetune_without_optimizer_step),
    Misconception(
        "finetune_unseeded_shuffle", "shuffled the batches without the seed",
        "A run must be reproducible from its seed: draw the batch order from a torch.Generator "
        "seeded with it.",
        ("test_finetune_seeded",), finetune_unseeded_shuffle),
    Misconception(
        "finetune_same_order_every_epoch", "shuffled every epoch into the same order",
        "A generator created (and seeded) inside the epoch loop starts over every epoch, so every "
        "epoch repeats the first one's batches: seed one generator before the loop and draw from it.",
        ("test_finetune_shuffles_anew_every_epoch",), finetune_same_order_every_epoch),
    Misconception(
        "trainable_params_without_bias", "counted the new head's weights but not its biases",
        "An nn.Linear(in, out) has in * out weights and out biases, and both are trained.",
        ("test_answer_trainable_params",), trainable_params_without_bias),
]
