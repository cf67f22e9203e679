"""Reference implementation of the `finetune` assignment: transfer learning with a frozen backbone.

`CompactResNet` is a small ResNet with torchvision's attribute names (`conv1`, `bn1`, `relu`,
`maxpool`, `layer1` ... `layer4` of `BasicBlock`s, `avgpool`, `fc`), so code written for it
works unchanged on `torchvision.models.resnet18`. It takes 8x8 digit images (N, 1, 8, 8):
the stem keeps the resolution, and layer2..layer4 halve it (8 -> 4 -> 2 -> 1).

The shipped checkpoint `assignments/finetune/data/resnet_digits04.pt` is this network
pretrained on the digits 0-4 (the public training split of the `digits` dataset), written by
`reference/pretrain_resnet.py` from a seed; `pretrained.json` next to it records its sha256.

Fine-tuning conventions (the hidden tests rely on them):

* `prepare_for_finetuning` freezes EVERY pretrained parameter (requires_grad = False) and
  replaces `fc` by a new `nn.Linear(fc.in_features, num_classes)`, which is trainable;
* `finetune` optimises only the parameters that require gradients, and keeps every frozen
  BatchNorm layer in eval() mode: `requires_grad = False` does not stop a BatchNorm layer in
  train() mode from overwriting its running statistics, which are buffers, not parameters;
* batches come from `torch.randperm(n, generator=torch.Generator().manual_seed(seed))`, so a
  given seed gives the same model.

The judge's own copy of what assignments/finetune/solution.ipynb holds; tests never read the notebook's.
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "assignments" / "finetune" / "data" / "resnet_digits04.pt"
RECORD = ROOT / "assignments" / "finetune" / "pretrained.json"

WIDTHS = (16, 32, 64, 128)
#: The fine-tuning budget of the notebook; the judge's from-scratch baseline gets the same.
BUDGET = {"epochs": 5, "lr": 0.05, "batch_size": 20, "seed": 0}


# ----------------------------------------------------------------------------- the network


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

    def __init__(self, num_classes=5, in_channels=1, widths=WIDTHS):
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


def images(X):
    """Flat 8x8 digits (N, 64) -> (N, 1, 8, 8) float32."""
    return np.asarray(X, dtype=np.float32).reshape(-1, 1, 8, 8)


def load_checkpoint(path=CHECKPOINT):
    """The shipped state_dict (tensors only: weights_only=True never unpickles code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_pretrained_resnet(path=CHECKPOINT):
    model = CompactResNet(num_classes=5)
    model.load_state_dict(load_checkpoint(path))
    return model


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded() -> dict:
    """pretrained.json: the checkpoint's sha256 and how it was made."""
    return json.loads(RECORD.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- fine-tuning


def prepare_for_finetuning(model, num_classes):
    """Freeze every pretrained parameter and put a new, trainable head of num_classes outputs."""
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def keep_frozen_batchnorm_in_eval(model):
    """train() mode for the model, eval() for every BatchNorm layer whose parameters are all frozen."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
            m.eval()


def finetune(model, X, y, epochs, lr, batch_size, seed):
    """SGD with momentum on the parameters that require gradients; frozen BatchNorm stays in eval()."""
    X = torch.as_tensor(np.asarray(X), dtype=_dtype(model))  # float32, or float64 for the baseline
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    for _ in range(epochs):
        keep_frozen_batchnorm_in_eval(model)
        for idx in torch.randperm(len(X), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        return float((model(torch.as_tensor(images(X), dtype=_dtype(model))).argmax(1).numpy() == y).mean())


def _dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


# ----------------------------------------------------------------------------- the baseline


def _process_cache() -> dict:
    """A dict that lives as long as the judge process (this module is re-executed per grading)."""
    name = "_dlgrade_finetune_cache"
    module = sys.modules.get(name)
    if module is None:
        module = sys.modules[name] = types.ModuleType(name)
        module.values = {}
    return module.values


def scratch_baseline_accuracy(X_train, y_train, X_test, y_test, budget=None, seeds=(0, 1, 2)) -> float:
    """Mean held-out accuracy of CompactResNets trained from random initialisation (every
    parameter trainable, BatchNorm in train mode) with the notebook's budget, one run per seed
    (the seed sets the initialisation and the batches). Seeded; cached per judge process.

    It is a threshold computed on the judge's CPU, so it is trained in float64: in float32 the
    kernels of another instruction set moved it by up to 0.003 (0.8432 to 0.8463, about two of
    219 digits), so that a student's score near it would have depended on the machine; in float64
    the rounding differences are some 1e-9 times smaller and no prediction changes."""
    budget = dict(BUDGET if budget is None else budget)
    key = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (X_train, y_train, X_test, y_test))
                         + json.dumps([budget, list(seeds)], sort_keys=True).encode()).hexdigest()
    cache = _process_cache()
    if key not in cache:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            accuracies = []
            for seed in seeds:
                torch.manual_seed(seed)
                model = CompactResNet(num_classes=int(np.max(y_train)) + 1).double()  # initialised as in float32
                finetune(model, images(X_train), y_train, budget["epochs"], budget["lr"], budget["batch_size"], seed)
                accuracies.append(accuracy(model, X_test, y_test))
            cache[key] = float(np.mean(accuracies))
        finally:
            torch.set_num_threads(threads)
    return cache[key]
