"""Shared pieces of the capability suites (tests/test_sandbox_capabilities.py and its Docker twin).

The finetune assignment's torchvision test runs only where torchvision is installed in the
sandbox. A notebook that fakes `torchvision` in sys.modules, with a `resnet18` its own code
handles, must not make that test run (and pass): the judge decides from the sandbox's files.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from grader.course.assignment import Assignment, load_assignment
from grader.course.notebook import read_notebook

FINETUNE = load_assignment("finetune")

FAKE_TORCHVISION = '''
import sys, types

class _FakeResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.fc = nn.Conv2d(3, 512, 1), nn.BatchNorm2d(512), nn.Linear(512, 1000)

    def forward(self, x):
        return self.fc(torch.relu(self.bn1(self.conv1(x))).mean(dim=(2, 3)))

_tv = types.ModuleType("torchvision")
_tv.__path__ = []
_models = types.ModuleType("torchvision.models")
_models.resnet18 = lambda weights=None: _FakeResNet()
_tv.models = _models
sys.modules["torchvision"], sys.modules["torchvision.models"] = _tv, _models
'''


def torchvision_only(tmp_path: Path) -> Assignment:
    """finetune with only its torchvision test (hidden), no public tests and no model part: a quick run."""
    root = tmp_path / "assignments" / "finetune"
    (root / "tests" / "hidden").mkdir(parents=True)
    (root / "tests" / "public").mkdir()
    shutil.copyfile(FINETUNE.hidden_tests / "test_torchvision.py", root / "tests" / "hidden" / "test_torchvision.py")
    return dataclasses.replace(FINETUNE, root=root, course=FINETUNE.course, model=None)


def faking_notebook() -> dict:
    """The solution's definitions (no training) and a cell that fakes torchvision."""
    nb = read_notebook(FINETUNE.solution)
    keep = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if "save_weights(" in source:  # hands in the trained ft_model, which this notebook never trains
            continue
        if cell["cell_type"] == "code" and ("def " in source or "class " in source or "import" in source):
            keep.append(cell)
    keep.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                 "source": FAKE_TORCHVISION})
    return {**nb, "cells": keep}
