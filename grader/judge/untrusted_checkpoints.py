"""The judge's reader of a student's training checkpoints (`[model.proof]`; docs/models.md).

Owns: turning the untrusted checkpoints file — one safetensors file written by the student-side
helper `dlgrade_training.Checkpoints` — into a `Trajectory` of validated states, or a one-line
`BadCheckpoints` that names the checkpoint at fault. Total and bounded: the file goes through
grader.judge.untrusted_safetensors first (size cap, header cap, schema, finite floats, element
budget), then its metadata entry is parsed as JSON under a length cap and checked against a
schema (format 1, steps that start at 0 and increase, at most `max_checkpoints` of them), and
every tensor name must fit the layout `<j>.model.<name>`, `<j>.optim.<param>.<key>` or
`<j>.rng`. Every checkpoint must hold the submitted weights' names, dtypes and shapes. Nothing
is unpickled, nothing of the student's is built here.

Calls grader.judge.untrusted_safetensors only; grader.judge.model_proof calls it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.judge.untrusted_safetensors import BadModelFile, read_safetensors

#: The metadata key the student-side helper writes (grader/worker/dlgrade_training.py).
CHECKPOINTS_KEY = "dlgrade.checkpoints"
MAX_STEP = 10_000_000
MAX_RNG_BYTES = 1 << 16
MAX_OPTIM_KEYS = 8  # per parameter (Adam has 3)
_NAME = re.compile(r"(\d{1,4})\.(model|optim|rng)(?:\.(.+))?", re.S)
_OPTIM = re.compile(r"(\d{1,6})\.([A-Za-z_][A-Za-z0-9_]{0,40})")


class BadCheckpoints(Exception):
    """A checkpoints file that cannot be used. The message is one line for the student."""


@dataclass(frozen=True)
class Checkpoint:
    """One training state: after `step` steps."""

    step: int
    model: dict[str, np.ndarray]  # the state_dict, as the weights file names it
    optim: dict[str, np.ndarray]  # "<param index>.<key>" -> the optimizer's per-parameter state
    rng: np.ndarray  # torch's RNG state (uint8)


@dataclass(frozen=True)
class Trajectory:
    """The checkpoints of one training run, in order of their steps (the first at step 0)."""

    checkpoints: tuple[Checkpoint, ...]

    @property
    def steps(self) -> tuple[int, ...]:
        """The steps of the checkpoints."""
        return tuple(c.step for c in self.checkpoints)


def read_checkpoints(path: Path | str, max_bytes: int, max_checkpoints: int, weights: dict[str, np.ndarray],
                     name: str = "checkpoints.safetensors") -> Trajectory:
    """Read and check the checkpoints file at `path` against the submitted `weights`."""
    per_state = sum(int(a.size) for a in weights.values())
    budget = max_checkpoints * (4 * per_state + MAX_RNG_BYTES)
    try:
        raw = read_safetensors(path, max_bytes, budget, name=name)
    except BadModelFile as e:
        raise BadCheckpoints(str(e).replace("[limits] model_file_mb", "[model.proof] max_mb")
                             .replace("parameter budget", "budget of its checkpoints")) from None
    steps = _steps(raw.metadata.get(CHECKPOINTS_KEY), max_checkpoints, name)
    parts: list[dict[str, dict[str, np.ndarray]]] = [{"model": {}, "optim": {}, "rng": {}} for _ in steps]
    for key, array in raw.tensors.items():
        m = _NAME.fullmatch(key)
        if m is None or int(m.group(1)) >= len(steps):
            raise BadCheckpoints(f"{name}: tensor {key[:80]!r} is not part of a checkpoint "
                                 "(expected <j>.model.<name>, <j>.optim.<param>.<key> or <j>.rng)")
        j, kind, rest = int(m.group(1)), m.group(2), m.group(3) or ""
        if kind == "optim" and not _OPTIM.fullmatch(rest):
            raise BadCheckpoints(f"{name}: checkpoint {j} (step {steps[j]}): optimizer entry {rest[:80]!r} "
                                 "is not <param index>.<key>")
        if kind == "rng" and rest:
            raise BadCheckpoints(f"{name}: tensor {key[:80]!r} is not part of a checkpoint")
        parts[j][kind][rest] = array
    out = []
    shapes = {tuple(w.shape) for w in weights.values()}
    optim_layout: dict[str, tuple[int, ...]] | None = None
    for j, (step, part) in enumerate(zip(steps, parts)):
        where = f"{name}: checkpoint {j} (step {step})"
        model = part["model"]
        missing = [k for k in weights if k not in model]
        extra = [k for k in model if k not in weights]
        if missing or extra:
            what = f"lacks {missing[0]!r}" if missing else f"has {extra[0]!r}, which the weights do not"
            raise BadCheckpoints(f"{where} {what}")
        for k, w in weights.items():
            if model[k].shape != w.shape or model[k].dtype != w.dtype:
                raise BadCheckpoints(f"{where}: {k!r} is {model[k].dtype} {tuple(model[k].shape)}, "
                                     f"the weights' is {w.dtype} {tuple(w.shape)}")
        rng = part["rng"].get("")
        if rng is None or rng.dtype != np.uint8 or rng.ndim != 1 or not 0 < rng.size <= MAX_RNG_BYTES:
            raise BadCheckpoints(f"{where}: no RNG state (a 1-D uint8 tensor '{j}.rng')")
        optim = part["optim"]
        if len(optim) > MAX_OPTIM_KEYS * max(1, len(weights)):
            raise BadCheckpoints(f"{where}: {len(optim):,} optimizer entries, more than the model's parameters need")
        for key, value in optim.items():
            if value.size != 1 and tuple(value.shape) not in shapes:
                raise BadCheckpoints(f"{where}: optimizer state {key} has shape {tuple(value.shape)}, which no "
                                     "weight has")
        layout = {k: tuple(v.shape) for k, v in optim.items()}
        if layout and optim_layout is None:
            optim_layout = layout
        elif layout and layout != optim_layout:
            raise BadCheckpoints(f"{where}: the optimizer state differs in names or shapes from the "
                                 "checkpoints before it")
        out.append(Checkpoint(step, dict(model), dict(optim), rng))
    return Trajectory(tuple(out))


def _steps(text: Any, max_checkpoints: int, name: str) -> list[int]:
    how = (f'{name}: the metadata entry "{CHECKPOINTS_KEY}" must be JSON {{"format": 1, "steps": [0, ...]}} '
           "(write the file with dlgrade_training.Checkpoints)")
    if not isinstance(text, str) or len(text) > 1000:
        raise BadCheckpoints(how)
    try:
        meta = json.loads(text)
    except ValueError:
        raise BadCheckpoints(how) from None
    if not isinstance(meta, dict) or meta.get("format") != 1 or not isinstance(meta.get("steps"), list):
        raise BadCheckpoints(how)
    steps = meta["steps"]
    if not all(type(s) is int and 0 <= s <= MAX_STEP for s in steps):
        raise BadCheckpoints(f"{name}: the checkpoint steps must be whole numbers from 0 to {MAX_STEP:,}")
    if not 2 <= len(steps) <= max_checkpoints:
        raise BadCheckpoints(f"{name} holds {len(steps)} checkpoints; the proof needs 2 to {max_checkpoints} "
                             "([model.proof] keep, plus the final state)")
    if steps[0] != 0:
        raise BadCheckpoints(f"{name}: the first checkpoint is at step {steps[0]}; training must be "
                             "checkpointed from its start (step 0)")
    for a, b in zip(steps, steps[1:]):
        if b <= a:
            raise BadCheckpoints(f"{name}: the checkpoint steps are out of order ({a} then {b}); they must increase")
    return steps
