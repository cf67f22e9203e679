"""The proof of training (`[model.proof]`; docs/models.md, docs/security.md "Proof of training").

Owns: deciding whether a submission's checkpoints are consistent with its notebook's training
step. The checkpoints file is read by grader.judge.untrusted_checkpoints (bounded, total); then,
on the judge's own copies:

1. the last checkpoint must be the submitted weights, value for value;
2. the first (step 0) must be the notebook's `initial()` model, built in the worker;
3. `segments` segments are replayed in the worker, one call each (under [limits] call_seconds
   and the proof's `seconds`): the last segment always (it ties the run to the submission),
   the others drawn with an HMAC of the course secret, the assignment and the student, so a
   student cannot know them and a regrade draws the same ones. A segment passes when
   ||replay - ckpt[k+1]|| <= factor * ||ckpt[k+1] - ckpt[k]|| (L2 over every float weight, in
   float64).

Calls grader.judge.untrusted_checkpoints and grader.judge.remote (`initial_weights`, `replay`).
Called by grader.judge.model_scoring.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.proof_settings import ProofSettings
from grader.judge.remote import SubmissionError, WorkerLost, initial_weights, replay
from grader.judge.untrusted_checkpoints import BadCheckpoints, Trajectory, read_checkpoints

#: A checkpoint "is" a model when every float weight is within this relative L2 distance of it.
SAME_MODEL = 1e-6


@dataclass(frozen=True)
class ProofOutcome:
    """What the proof found: `ok`, one line for the student, and each replayed segment as
    {"from": step, "to": step, "ratio": distance ratio, "seconds": replay time}."""

    ok: bool
    message: str
    segments: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def choose_segments(n_segments: int, count: int, secret: str, assignment: str, student: str) -> list[int]:
    """Which segments (0 = from the first checkpoint to the second) are replayed: the last one,
    and `count - 1` others drawn by HMAC-SHA256(course secret, assignment, student)."""
    if n_segments <= 0:
        return []
    key = hmac.new(secret.encode(), f"model-proof\0{assignment}\0{student}".encode(), hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(key[:16], "big"))
    others = rng.permutation(n_segments - 1)[:max(0, count - 1)]
    return sorted({n_segments - 1, *(int(i) for i in others)})


def distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """L2 distance between two state dicts over their float tensors, in float64."""
    total = 0.0
    for name, x in a.items():
        if x.dtype.kind == "f":
            d = np.asarray(x, np.float64) - np.asarray(b[name], np.float64)
            total += float(np.dot(d.ravel(), d.ravel()))
    return total ** 0.5


def check_trajectory(submission: Any, proof: ProofSettings, path: Path | str, weights: dict[str, np.ndarray],
                     secret: str, assignment: str, student: str, builder: str, call_seconds: float,
                     max_mb: int | None = None) -> ProofOutcome:
    """Run the proof on the checkpoints file at `path` for the submitted `weights`."""
    name = proof.checkpoints
    try:
        run = read_checkpoints(path, (max_mb or proof.max_mb) << 20, proof.keep + 1, weights, name)
    except BadCheckpoints as e:
        return ProofOutcome(False, str(e))
    last = run.checkpoints[-1]
    gap = distance(last.model, weights)
    if gap > SAME_MODEL * max(distance(weights, {k: np.zeros_like(v) for k, v in weights.items()}), 1e-12):
        return ProofOutcome(False, f"the last checkpoint (step {last.step}) is not the submitted model "
                                   f"(L2 distance {gap:.3g}): hand in the weights the run ended with")
    long = [(a, b) for a, b in zip(run.steps, run.steps[1:]) if b - a > proof.max_segment_steps]
    if long:
        a, b = long[0]
        return ProofOutcome(False, f"{name}: steps {a} to {b} is {b - a} steps without a checkpoint; at most "
                                   f"{proof.max_segment_steps} (checkpoint every {proof.every} steps)")
    try:
        start = initial_weights(submission, proof.initial)
    except SubmissionError as e:
        return ProofOutcome(False, f"{proof.initial}() could not build the initial model: {_short(e)}")
    first = run.checkpoints[0]
    if not _same_layout(start, first.model):
        return ProofOutcome(False, f"{proof.initial}()'s model has other weights than the checkpoints")
    gap = distance(first.model, start)
    if gap > SAME_MODEL * max(distance(start, {k: np.zeros_like(v) for k, v in start.items()}), 1e-12):
        return ProofOutcome(False, f"the run does not start from {proof.initial}(): checkpoint 0 (step 0) is "
                                   f"{gap:.3g} away (L2) from the notebook's initial model")
    return _replay_segments(submission, proof, run, secret, assignment, student, builder, call_seconds)


def _replay_segments(submission: Any, proof: ProofSettings, run: Trajectory, secret: str, assignment: str,
                     student: str, builder: str, call_seconds: float) -> ProofOutcome:
    functions = {"builder": builder, "optimizer": proof.optimizer, "batches": proof.batches,
                 "train_step": proof.train_step}
    chosen = choose_segments(len(run.checkpoints) - 1, proof.segments, secret, assignment, student)
    deadline = time.monotonic() + proof.seconds
    done: list[dict[str, Any]] = []
    for j in chosen:
        a, b = run.checkpoints[j], run.checkpoints[j + 1]
        what = f"segment {j + 1} of {len(run.checkpoints) - 1} (steps {a.step} to {b.step})"
        left = deadline - time.monotonic()
        if left <= 0.05:
            return ProofOutcome(False, f"{what} was not replayed: the proof's time budget ([model.proof] "
                                       f"seconds = {proof.seconds:g}) was used up", tuple(done))
        began = time.monotonic()
        try:
            result = replay(submission, functions, a.model, a.optim, a.rng, a.step, b.step - a.step,
                            min(call_seconds, left))
        except WorkerLost as e:
            return ProofOutcome(False, f"{what}: the replay did not finish: {_short(e)}", tuple(done))
        except SubmissionError as e:
            return ProofOutcome(False, f"{what}: the replay raised {_short(e)}", tuple(done))
        seconds = time.monotonic() - began
        if not _same_layout(result, b.model):
            return ProofOutcome(False, f"{what}: the replayed model has other weights than the checkpoints",
                                tuple(done))
        moved = distance(b.model, a.model)
        off = distance({k: np.asarray(v) for k, v in result.items()}, b.model)
        ratio = off / moved if moved > 0 else (0.0 if off == 0 else float("inf"))
        done.append({"segment": j + 1, "from": a.step, "to": b.step, "ratio": round(ratio, 6),
                     "seconds": round(seconds, 3)})
        if not ratio <= proof.factor:
            return ProofOutcome(False, f"{what} does not replay: the notebook's {proof.train_step} ends "
                                       f"{ratio:.3g} of the segment's movement away from the next checkpoint "
                                       f"(tolerance {proof.factor:g}); these weights did not come from this "
                                       "notebook's training", tuple(done))
    worst = max(d["ratio"] for d in done) if done else 0.0
    return ProofOutcome(True, f"proof of training: {len(done)} segment(s) replayed, largest distance ratio "
                              f"{worst:.3g} (tolerance {proof.factor:g})", tuple(done))


def _same_layout(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """The same names and shapes (a scalar, such as BatchNorm's num_batches_tracked, is stored as
    shape (1,) in safetensors and comes back from the worker as shape ())."""
    return set(a) == set(b) and all(
        np.shape(a[k]) == np.shape(b[k]) or np.size(a[k]) == np.size(b[k]) == 1 for k in a)


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:300]
