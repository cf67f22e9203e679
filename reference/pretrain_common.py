"""What the two pretraining scripts share: the source data, the shift, one thread, the checkpoint
bytes and the record of the first epochs.

pretrain_resnet.py (the `finetune` assignment's CompactResNet) and pretrain_transformer.py (the
`attention` assignment's RowTransformer) each load this file by its path, as the tests load them,
so that neither needs reference/ on sys.path. Nothing here draws a random number of its own or
changes what a run computes: the scripts' checkpoints are the same bytes as before it existed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
#: The record's `source`, the same for both checkpoints.
SOURCE = "digits training split (grader/course/datasets.py), labels 0-4"


def load_sibling(filename: str, name: str) -> types.ModuleType:
    """The module reference/`filename`, loaded by its path under the name `name`."""
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digits04(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits 0-4 of the `digits` training split: float32 images of `shape` each, and labels."""
    from grader.course import datasets

    split = datasets.load("digits")
    keep = split.y_train < 5
    X = np.asarray(split.X_train[keep], dtype=np.float32).reshape(-1, *shape)
    return torch.from_numpy(X), torch.from_numpy(split.y_train[keep].astype(np.int64))


def random_shift(x: torch.Tensor, generator: torch.Generator, k: int) -> torch.Tensor:
    """Each image (the last two dimensions) moved by (dy, dx) in [-k, k]^2, zeros shifted in."""
    n = x.shape[0]
    h, w = x.shape[-2:]
    padded = F.pad(x, (k, k, k, k))
    dy = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * k + 1, (n,), generator=generator)
    out = torch.empty_like(x)
    for a in range(2 * k + 1):
        for b in range(2 * k + 1):
            sel = (dy == a) & (dx == b)
            if sel.any():
                out[sel] = padded[sel, ..., a:a + h, b:b + w]
    return out


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, settings: dict, epochs: int,
          batch_loss: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor],
          after_backward: Callable[[], None] | None = None) -> dict[str, torch.Tensor]:
    """`epochs` epochs of minibatches in the order of a generator seeded with settings["seed"], each
    batch shifted at random (`random_shift`), its loss `batch_loss(idx, shifted, generator)`;
    returns the model's state_dict (copied) in eval mode."""
    generator = torch.Generator().manual_seed(settings["seed"])
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=generator).split(settings["batch_size"]):
            xb = random_shift(X[idx], generator, settings["max_shift"])
            loss = batch_loss(idx, xb, generator)
            optimizer.zero_grad()
            loss.backward()
            if after_backward is not None:
                after_backward()
            optimizer.step()
    model.eval()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@contextlib.contextmanager
def one_thread(deterministic: bool = False) -> Iterator[None]:
    """torch on one thread (and, if asked, with its deterministic algorithms); restored after."""
    threads, was_deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if deterministic:
            torch.use_deterministic_algorithms(was_deterministic)


def serialize(state: dict[str, torch.Tensor]) -> bytes:
    """torch.save's bytes for a state_dict (deterministic for the same tensors)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_partial_state(path: Path, want: str, script: str) -> dict[str, torch.Tensor]:
    """The recorded state after the first epochs, from `path`, checked against its sha256 `want`."""
    if not path.is_file():
        raise AssertionError(f"{path} is missing: it ships in the source checkout (tests/data/), not in the wheel")
    data = path.read_bytes()
    if sha256(data) != want:
        raise AssertionError(f"{path.name} does not match pretrained.json's partial sha256 "
                             f"{want[:16]}...: rerun reference/{script}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def partial_checks(script: str, settings: dict, epochs: int, path: Path, rtol: float, record: Callable[[], dict],
                   pretrain: Callable[[int], dict]) -> tuple[Callable[[], dict], Callable[..., tuple[str, float]]]:
    """A script's `recorded_partial_state()` (the state recorded at `path` after the first `epochs`
    epochs, checked against the sha256 in `record()`) and `check_partial(state=None, rtol=rtol)`
    (re-run those epochs with `pretrain(epochs)`, or take `state`, and compare them with it per
    tensor within `rtol`; returns (worst tensor, its relative error), raises AssertionError naming
    the worst tensor when one is beyond `rtol`)."""

    def recorded_partial_state() -> dict[str, torch.Tensor]:
        return read_partial_state(path, record()["partial"]["sha256"], script)

    def check_partial(state: dict[str, torch.Tensor] | None = None, rtol: float = rtol) -> tuple[str, float]:
        return _check_partial(record(), settings, epochs, script, lambda: pretrain(epochs) if state is None else state,
                              recorded_partial_state, rtol)

    return recorded_partial_state, check_partial


def _check_partial(record: dict, settings: dict, epochs: int, script: str, run: Callable[[], dict],
                  recorded: Callable[[], dict], rtol: float) -> tuple[str, float]:
    """Compare a run of the first `epochs` epochs (`run()`) with the recorded state (`recorded()`)
    per tensor within `rtol`, after checking that `record` was made by this torch with `settings`;
    returns (worst tensor, its relative error), raises AssertionError naming what differs."""
    from grader.course.testing import assert_states_close

    if record["torch"].split("+")[0] != torch.__version__.split("+")[0]:  # "2.13.0+cpu" == "2.13.0"
        raise AssertionError(f"the checkpoint was made with torch {record['torch']}, this is {torch.__version__}: "
                             f"rerun reference/{script} and commit the new checkpoint")
    if record["settings"] != settings or record["partial"]["epochs"] != epochs:
        raise AssertionError(f"reference/{script}'s SETTINGS differ from pretrained.json's: "
                             "rerun it and commit the new checkpoint")
    state = run()
    return assert_states_close(state, recorded(), rtol=rtol, name=f"the first {epochs} epochs of reference/{script}")


def write_checkpoint(out: Path, data: bytes, partial_state: dict[str, torch.Tensor], shipped: Path,
                     partial_path: Path) -> bytes:
    """Write the checkpoint `data` to `out` and, when `out` is the `shipped` one, the first epochs'
    state to `partial_path`; returns that state's bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    partial_data = serialize(partial_state)
    if out == shipped:
        partial_path.parent.mkdir(parents=True, exist_ok=True)
        partial_path.write_bytes(partial_data)
    return partial_data


def record_file(out: Path, record_path: Path) -> str:
    """The record's `file`: `out` relative to the record's folder when it is inside it."""
    return out.relative_to(record_path.parent).as_posix() if out.is_relative_to(record_path.parent) else str(out)


def write_record(record: dict, out: Path, shipped: Path, record_path: Path, seconds: float) -> None:
    """Write pretrained.json when `out` is the shipped checkpoint; say what was written."""
    if out == shipped:
        record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({record['bytes']} bytes, sha256 {record['sha256'][:16]}..., {seconds:.0f} s)")
