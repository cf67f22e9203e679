"""Run the finetune solution's functions on torchvision's resnet18, outside the grader.

    python bench/finetune_torchvision_check.py

For machines that have torch and torchvision but not the grader's dependencies (the hidden
test `test_torchvision_resnet18` skips itself where torchvision is missing, as in our CI).
It reads assignments/finetune/solution.ipynb as JSON, runs the cells that define the network,
`prepare_for_finetuning` and `finetune`, and checks on `torchvision.models.resnet18(weights=None)`
what the hidden test checks: only `fc` trainable, `fc` of shape (num_classes, 512), and every
other state_dict entry (BatchNorm statistics included) unchanged by `finetune`. It also shows
that the check is not vacuous: the same loop with the batch-norm layers left in train() mode
changes their statistics. With --pretrain it also runs the first epochs of
reference/pretrain_resnet.py and compares with pretrained.json (needs scikit-learn).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "assignments" / "finetune" / "solution.ipynb"
WANTED = ("class CompactResNet", "def prepare_for_finetuning", "def finetune")


def solution_namespace() -> dict:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace = {"np": np, "torch": torch, "nn": nn, "F": F}
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and any(w in source for w in WANTED):
            exec(compile(source, "<solution>", "exec"), namespace)
    return namespace


def check(ns: dict, break_bn: bool = False) -> list[str]:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model = ns["prepare_for_finetuning"](model, 4)
    trainable = sorted(k for k, p in model.named_parameters() if p.requires_grad)
    problems = []
    if trainable != ["fc.bias", "fc.weight"]:
        problems.append(f"trainable after prepare: {trainable[:4]}")
    if tuple(model.fc.weight.shape) != (4, 512):
        problems.append(f"fc.weight shape {tuple(model.fc.weight.shape)}")
    rng = np.random.default_rng(0)
    X = rng.random((8, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 4, size=8).astype(np.int64)
    if break_bn:  # the classic mistake: train() mode for the whole model, frozen BN included
        original = nn.BatchNorm2d.eval
        nn.BatchNorm2d.eval = lambda self: self
    try:
        tuned = ns["finetune"](model, X, y, 1, 0.01, 4, 0)
    finally:
        if break_bn:
            nn.BatchNorm2d.eval = original
    after = tuned.state_dict()
    changed = [k for k in before if not k.startswith("fc.") and not torch.equal(before[k], after[k])]
    if changed:
        problems.append(f"changed by finetune: {changed[:3]} ({len(changed)} entries)")
    return problems


def partial_pretrain() -> str:
    """The first pretraining epochs against the recorded state, per tensor within PARTIAL_RTOL
    (bytes differ across CPUs; another torch version is reported, not compared)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "reference"))
    import pretrain_resnet

    epochs = pretrain_resnet.PARTIAL_EPOCHS
    try:
        worst, error = pretrain_resnet.check_partial()
    except AssertionError as e:
        return f"first {epochs} pretraining epochs: DIFFER: {e}"
    return (f"first {epochs} pretraining epochs: match the record (worst {worst}, relative error {error:.1e}; "
            f"torch {torch.__version__})")


def main() -> int:
    import torchvision

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    ns = solution_namespace()
    problems = check(ns)
    print("solution on resnet18:", "ok" if not problems else "; ".join(problems))
    broken = check(ns, break_bn=True)
    print("BatchNorm left in train() mode:", "; ".join(broken) if broken else "NOT DETECTED")
    if "--pretrain" in sys.argv:
        print(partial_pretrain())
    return 0 if not problems and broken else 1


if __name__ == "__main__":
    sys.exit(main())
