"""Write solution.ipynb and starter.ipynb for the `finetune` assignment.

    .venv/bin/python assignments/finetune/make_notebooks.py

The cells below are the source of truth. The starter is `grader.authoring.assign.assign` of the solution,
the same code as `grade assign solution.ipynb -o starter.ipynb`, and both files are written in
`grade assign`'s layout. The network classes in the notebook must stay identical to
reference/finetune.py, whose state_dict the shipped checkpoint holds (a test checks this).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from grader.authoring.assign import notebook_from_cells, write_solution_and_starter

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "finetune"

CELLS: list[tuple[str, str]] = []


def md(text: str) -> None:
    CELLS.append(("markdown", text.strip("\n")))


def code(text: str) -> None:
    CELLS.append(("code", text.strip("\n")))


md(r"""
# Transfer learning: fine-tuning a pretrained ResNet

You get a small ResNet that was **pretrained on the handwritten digits 0-4**. Your task is to
recognise the digits **5-9**, with only **20 labelled images per class**. Rather than
training a network from scratch on 100 images, you will reuse the pretrained network as a
fixed *feature extractor*: freeze it, put a new classification head on top, and train only
that head.

1. Load the pretrained network (given).
2. `prepare_for_finetuning(model, num_classes)`: freeze the backbone, replace the head.
3. `finetune(model, X, y, epochs, lr, batch_size, seed)`: train the head, and keep the frozen
   batch-norm layers frozen for real.
4. Fine-tune on the digits 5-9 and leave the result in `ft_model`.

**Grading.** `grade check finetune.ipynb` runs the public tests. The hidden tests check that
your frozen parameters and batch-norm statistics are bit-for-bit those of the checkpoint after
fine-tuning, that the new head has the right shape and was trained, that your code works on
other networks with the same layout (torchvision's `resnet18`, where installed), and measure
`ft_model` on held-out digits 5-9 against a network trained from scratch with the same budget.

Write your code only where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError`
below it), and keep names and signatures as given.
""")

code(r"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)  # small models: one thread is fastest, and results do not depend on the machine
""")

md(r"""
## The pretrained network

`CompactResNet` is a ResNet with one residual `BasicBlock` per stage, small enough to train
on a CPU, with the **same attribute names as torchvision's ResNets**: a stem `conv1` -> `bn1`
-> `relu` -> `maxpool`, four stages `layer1` ... `layer4`, global average pooling `avgpool`,
and the classifier `fc`, a `nn.Linear` from 128 features to 5 classes (the digits 0-4). Code
that follows these names works unchanged on `torchvision.models.resnet18`.

The weights are in `data/resnet_digits04.pt`, a `state_dict` saved with `torch.save`. The
grader puts the file next to your notebook; on your own machine run `grade data finetune`
once. It is loaded with `torch.load(..., weights_only=True)`: a `.pt` file is a pickle, and
unpickling an untrusted file can run arbitrary code, while `weights_only=True` only rebuilds
tensors and plain containers. Make that a habit for every checkpoint you download.

Do not change this cell: the checkpoint's names and shapes must match these classes.
""")

code(r'''
class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convolutions with batch norm and a residual connection."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CompactResNet(nn.Module):
    """A ResNet with one BasicBlock per stage, for (N, in_channels, 8, 8) images."""

    def __init__(self, num_classes=5, in_channels=1, widths=(16, 32, 64, 128)):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()  # torchvision's stem pools; 8x8 images are too small for it
        self.layer1 = self._make_layer(widths[0], stride=1)
        self.layer2 = self._make_layer(widths[1], stride=2)
        self.layer3 = self._make_layer(widths[2], stride=2)
        self.layer4 = self._make_layer(widths[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3], num_classes)

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes))
        block = BasicBlock(self.inplanes, planes, stride, downsample)
        self.inplanes = planes
        return nn.Sequential(block)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def load_pretrained_resnet(path="data/resnet_digits04.pt"):
    """CompactResNet with the weights pretrained on the digits 0-4 (a fresh copy on every call)."""
    model = CompactResNet(num_classes=5)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
''')

code(r'''
pretrained = load_pretrained_resnet()
print(pretrained.fc)
print("parameters:", sum(p.numel() for p in pretrained.parameters()))
print("BatchNorm layers:", [name for name, m in pretrained.named_modules() if isinstance(m, nn.BatchNorm2d)])
''')

md(r"""
## 1. Freeze the backbone, replace the head

**Why freeze?** The backbone has about 300,000 parameters; you have 100 labelled images.
Trained end to end on so little data, the network would fit these 100 images and forget the
general stroke detectors it learned from the digits 0-4. Frozen, it is a fixed feature
extractor that maps each image to 128 features, and only a linear classifier on top of them
is learned: 645 parameters for 100 images. Freezing also makes each step cheaper, since no
gradient is stored for the backbone's weights.

A parameter is frozen with `p.requires_grad = False`: autograd then computes no gradient for
it, so no optimizer can change it. (`requires_grad` must be switched off *before* training;
setting it on the new head is not needed, a fresh layer's parameters require gradients.)

**Replace the head.** The old `fc` maps the 128 features to the five classes 0-4; its
weights are meaningless for the digits 5-9. Put a **new** `nn.Linear(in_features,
num_classes)` in its place, reading `in_features` from the old layer (`model.fc.in_features`)
so the same code works for any ResNet (512 for `resnet18`). Replacing a submodule is plain
attribute assignment: `model.fc = ...`.

Write `prepare_for_finetuning(model, num_classes)`: freeze **every** pretrained parameter,
replace `fc`, and return the model. Afterwards only `fc.weight` and `fc.bias` may require
gradients.
""")

code(r'''
def prepare_for_finetuning(model, num_classes):
    """Freeze every parameter of `model` and replace model.fc with a new, trainable
    nn.Linear(model.fc.in_features, num_classes). Returns the model."""
    # BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    # END SOLUTION
    return model
''')

code(r'''
check = prepare_for_finetuning(load_pretrained_resnet(), num_classes=5)
trainable = [name for name, p in check.named_parameters() if p.requires_grad]
print("trainable:", trainable, sum(p.numel() for p in check.parameters() if p.requires_grad), "parameters")
''')

md(r"""
## 2. Fine-tune the head, and keep frozen batch norm frozen

The training loop is the usual one (cross-entropy, minibatches, an optimizer) with two
fine-tuning rules:

**Optimise only what is trainable.** Give the optimizer the parameters that require
gradients: `[p for p in model.parameters() if p.requires_grad]`.

**Frozen batch-norm layers stay in eval mode.** `requires_grad = False` stops the optimizer,
but a `BatchNorm2d` layer in `train()` mode does two things that have nothing to do with
gradients: it normalises with the statistics of the current batch, and it **overwrites its
running statistics** (`running_mean`, `running_var`, buffers, not parameters) with a moving
average of them at every forward pass. So `model.train()` would quietly change the frozen
backbone anyway: its batch-norm statistics would drift from the 0-4 data it was trained on
towards your 100 images, in batches of 20, and every feature the head sees would shift
during and after training. The fix: call `model.train()` at the start of each epoch (for any
trainable layers that need it), then put every batch-norm layer whose parameters are frozen
back into `eval()` mode:

```python
for m in model.modules():
    if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
        m.eval()
```

(Here every batch-norm layer is frozen and the head has no dropout, so `model.eval()` for
the whole loop would do the same; the loop above is what still works when you unfreeze some
layers.) After fine-tuning, every frozen parameter *and* every batch-norm buffer must be
bit-for-bit the checkpoint's; the grader checks both.

**Your API.** `finetune(model, X, y, epochs, lr, batch_size, seed)` takes numpy arrays: `X`
float32 images `(N, C, H, W)`, `y` int64 labels `(N,)`. Use `torch.optim.SGD(params, lr=lr,
momentum=0.9)` and cross-entropy; shuffle every epoch with
`torch.randperm(N, generator=torch.Generator().manual_seed(seed))` (one generator for the
whole run) and take minibatches of `batch_size`. The same seed must give the same model.
Return the model, left in `eval()` mode.
""")

code(r'''
def finetune(model, X, y, epochs, lr, batch_size, seed):
    """Train the parameters of `model` that require gradients on numpy arrays X (N, C, H, W)
    float32 and y (N,) int64, with SGD (momentum 0.9) and cross-entropy, in seeded minibatches.
    Frozen BatchNorm layers stay in eval() mode. Returns the model in eval() mode."""
    # BEGIN SOLUTION
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
        for idx in torch.randperm(len(X), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    # END SOLUTION
    return model
''')

md(r"""
## 3. Fine-tune on the digits 5-9

`data/digits59_few_train.npz` holds the labelled images: `X` is `(100, 64)` (8x8 pixels in
`[0, 1]`, flattened), `y` is `(100,)` with labels `0..4` meaning the digits `5..9`
(label = digit - 5), 20 per class. The judge keeps other images of the digits 5-9 and
measures `ft_model` on them.

The budget is fixed: `EPOCHS`, `LR`, `BATCH_SIZE` and `SEED` below. The judge trains a
`CompactResNet` **from scratch** (random weights, every layer trainable) on the same 100
images with the same budget; your fine-tuned model must beat it. Seed the new head:
call `torch.manual_seed(SEED)` before `prepare_for_finetuning`. Leave the fine-tuned
network in **`ft_model`**.
""")

code(r'''
data = np.load("data/digits59_few_train.npz")
X_few = data["X"].astype(np.float32).reshape(-1, 1, 8, 8)  # (100, 1, 8, 8)
y_few = data["y"].astype(np.int64)                           # 0..4 = the digits 5..9
print("labelled images:", X_few.shape, "per class:", np.bincount(y_few))

EPOCHS, LR, BATCH_SIZE, SEED = 5, 0.05, 20, 0


def predict(model, X):
    """Class predictions (N,) of `model` in eval mode for a numpy batch X (N, C, 8, 8)."""
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(X, dtype=np.float32))).argmax(dim=1).numpy()
''')

code(r'''
# Fine-tune the pretrained network on (X_few, y_few) with the budget above; leave it in `ft_model`.
# BEGIN SOLUTION
torch.manual_seed(SEED)
ft_model = prepare_for_finetuning(load_pretrained_resnet(), num_classes=5)
ft_model = finetune(ft_model, X_few, y_few, epochs=EPOCHS, lr=LR, batch_size=BATCH_SIZE, seed=SEED)
# END SOLUTION
print("training accuracy:", np.mean(predict(ft_model, X_few) == y_few))
''')

md(r"""
Check what fine-tuning left untouched: every parameter except the head, and every
batch-norm statistic, should still be the checkpoint's.
""")

code(r'''
reference = load_pretrained_resnet().state_dict()
after = ft_model.state_dict()
changed = [k for k in reference if not k.startswith("fc.") and not torch.equal(reference[k], after[k])]
print("changed outside fc:", changed or "nothing")
''')

md(r"""
## 4. Short questions

Answer by assigning the globals below: a number as a plain Python number, multiple-choice
answers as one letter in a string, e.g. `"a"`.

1. `ANSWER_TRAINABLE_PARAMS`: how many trainable parameters does
   `prepare_for_finetuning(load_pretrained_resnet(), num_classes=5)` leave?
2. `ANSWER_WHY_FREEZE`: why freeze the backbone here rather than train every layer?
   * (a) frozen layers make the forward pass faster, which is the main goal
   * (b) with 100 labelled images, training ~300,000 parameters would overfit them and destroy the pretrained features; training only the head keeps those features and fits 645 parameters
   * (c) PyTorch cannot compute gradients through pretrained layers
   * (d) freezing makes batch normalization unnecessary
3. `ANSWER_FROZEN_BN`: every parameter is frozen (`requires_grad = False`), but the loop calls
   `model.train()` and never puts the batch-norm layers back into `eval()`. What happens to
   their running statistics?
   * (a) nothing: frozen layers are never updated
   * (b) the optimizer resets them to zero and one
   * (c) they are overwritten at every forward pass with a moving average of the new batches' statistics, because they are buffers updated by the forward pass, not parameters updated by the optimizer
   * (d) they become NaN, since no gradient reaches them
4. `ANSWER_WEIGHTS_ONLY`: why load checkpoints with `torch.load(..., weights_only=True)`?
   * (a) it is faster
   * (b) a checkpoint is a pickle, and unpickling can run arbitrary code from the file; weights_only rebuilds only tensors and plain containers
   * (c) it drops the optimizer state to save memory
   * (d) it converts the weights to float32
""")

code(r'''
ANSWER_TRAINABLE_PARAMS = 128 * 5 + 5  # SOLUTION
ANSWER_WHY_FREEZE = "b"  # SOLUTION
ANSWER_FROZEN_BN = "c"  # SOLUTION
ANSWER_WEIGHTS_ONLY = "b"  # SOLUTION
''')


# --------------------------------------------------------------------------- building


def build(starter: bool) -> nbformat.NotebookNode:
    return notebook_from_cells(CELLS, ASSIGNMENT, starter=starter)


def main(argv: list[str]) -> int:
    write_solution_and_starter(CELLS, ASSIGNMENT, Path(argv[1]) if len(argv) > 1 else HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
