"""What the checkpoint tests of `finetune` and `attention` share (tests/test_finetune_checkpoint.py,
tests/test_attention_checkpoint.py): loading a reference module by its path, and the checks that
a shipped checkpoint is the recorded bytes and a plain state_dict of its model."""

from __future__ import annotations

import hashlib
import importlib.util
import types
from pathlib import Path

import torch


def load_module(name: str, path: Path) -> types.ModuleType:
    """The module at `path` (reference/ is not a package), under the name `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_checkpoint_is_its_record(ref: types.ModuleType, assignment: Path, script: str, max_bytes: int) -> None:
    """`ref.CHECKPOINT` is the file pretrained.json names, with its sha256 and size (under `max_bytes`)."""
    record = ref.recorded()
    data = ref.CHECKPOINT.read_bytes()
    assert assignment / record["file"] == ref.CHECKPOINT
    assert hashlib.sha256(data).hexdigest() == record["sha256"], (
        f"{ref.CHECKPOINT.name} does not match pretrained.json: rerun reference/{script}"
    )
    assert len(data) == record["bytes"] and len(data) < max_bytes, f"{len(data)} bytes"


def assert_plain_state_dict(path: Path, model: torch.nn.Module, head: str, shape: tuple[int, int]) -> None:
    """The file at `path` loads with weights_only=True into exactly `model`'s names and shapes."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert list(state) == list(model.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state[head].shape == shape
    model.load_state_dict(state)  # strict: every name and shape matches
