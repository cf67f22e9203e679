"""`[model.proof]` in assignment.toml: the proof of training (docs/models.md, docs/security.md).

Owns: the settings of the replay of a submission's training checkpoints, and their checks when
the assignment is loaded. grader.course.assignment calls `parse_proof` for `[model.proof]`;
grader.judge.model_proof reads the result. Calls nothing of the grader's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class ProofSettings:
    """How the judge checks that the submitted weights came from the notebook's own training:
    it replays randomly chosen segments of the student's checkpointed run in the sandbox and
    compares each result with the next checkpoint (docs/models.md, "Proof of training")."""

    checkpoints: str = "checkpoints.safetensors"  # the checkpoints file next to the notebook (dlgrade_training.Checkpoints)
    every: int = 20  # M: training steps between two checkpoints (a thinned file may double it, up to 8 x M)
    keep: int = 16  # the most checkpoints a file may hold besides the final state (K)
    segments: int = 2  # segments replayed per submission: the last one always, the others drawn by the course secret
    factor: float = 0.1  # tolerance: |replay - ckpt[k+M]| <= factor * |ckpt[k+M] - ckpt[k]| (L2 over all weights)
    seconds: float = 60.0  # time budget of all replays together (each also under [limits] call_seconds)
    max_mb: int = 64  # the largest checkpoints file
    initial: str = "initial_model"  # notebook function: the seeded, untrained model the run starts from
    optimizer: str = "build_optimizer"  # notebook function: optimizer(model), hyperparameters included
    batches: str = "training_batch"  # notebook function: (xb, yb) of training step `step`
    train_step: str = "train_step"  # notebook function: train_step(model, optimizer, xb, yb), one step

    @property
    def max_segment_steps(self) -> int:
        """The longest segment the judge replays."""
        return 8 * self.every


def parse_proof(table: Mapping[str, Any]) -> ProofSettings:
    """`[model.proof]` as ProofSettings; ValueError with one line naming the key."""
    d = ProofSettings()
    allowed = {f.name for f in fields(ProofSettings)}
    for key in table:
        if key not in allowed:
            raise ValueError(f"model.proof.{key}: unknown key (known: {', '.join(sorted(allowed))})")
    values: dict[str, Any] = {}
    for f in fields(ProofSettings):
        value = table.get(f.name, getattr(d, f.name))
        key = f"model.proof.{f.name}"
        if f.name == "checkpoints":
            if not isinstance(value, str) or not _FILE.fullmatch(value) or not value.endswith(".safetensors"):
                raise ValueError(f"{key} must be a plain file name ending in .safetensors, not {value!r}")
        elif f.name in ("initial", "optimizer", "batches", "train_step"):
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValueError(f"{key} must be a function name, not {value!r}")
        elif f.name in ("factor", "seconds"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{key} must be a positive number, not {value!r}")
            value = float(value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, not {value!r}")
        values[f.name] = value
    if values["keep"] < 2:
        raise ValueError("model.proof.keep must be 2 or more")
    if values["segments"] > values["keep"]:
        raise ValueError("model.proof.segments cannot exceed model.proof.keep")
    return ProofSettings(**values)
