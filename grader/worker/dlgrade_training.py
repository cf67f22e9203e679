"""Student-side training helpers: the data order of a training run, and saving weights as safetensors.

Untrusted side: this file runs in the student's own process. It is copied into the sandbox next
to the worker (`import dlgrade_training` in a notebook under grading) and ships in every kit
next to the starter notebook (`import dlgrade_training` in the student's own kernel). It needs
NumPy only (torch where a torch model is saved); it imports nothing of the grader, and the
judge never imports it: the judge reads what it writes with its own bounded parser
(grader.judge.untrusted_safetensors).

- `batch_indices(seed, step, n, batch_size)`: the rows of minibatch `step` of a run over `n`
  training rows: epoch after epoch, each a fresh permutation drawn from (seed, epoch), cut into
  whole batches (the last, partial batch of an epoch is dropped). The same on every machine
  (NumPy's PCG64), so a step of the run can be replayed from its index alone.
- `save_weights(model_or_tensors, path)`: a torch module's `state_dict()` (or a dict of arrays)
  as a safetensors file, without the safetensors package.
- `Checkpoints(path, every, keep)`: the training state every `every` steps (weights, the
  optimizer's per-parameter state, torch's RNG state, the step), kept in memory and written as
  one safetensors file at `finish`, for the judge's replay of randomly chosen segments
  (docs/models.md, "Proof of training"). No pickle: tensors and a JSON metadata entry.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
           "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Whole minibatches in one epoch over `n` rows."""
    if n < 1 or batch_size < 1 or batch_size > n:
        raise ValueError(f"batch_size must be between 1 and the number of rows ({n}), not {batch_size}")
    return n // batch_size


def batch_indices(seed: int, step: int, n: int, batch_size: int) -> np.ndarray:
    """The row indices (int64, `batch_size` of them) of minibatch number `step` (0, 1, ...)."""
    if step < 0:
        raise ValueError(f"step must be 0 or more, not {step}")
    per_epoch = steps_per_epoch(n, batch_size)
    epoch, k = divmod(int(step), per_epoch)
    order = np.random.default_rng([int(seed), epoch]).permutation(n)
    return order[k * batch_size:(k + 1) * batch_size].astype(np.int64)


def to_arrays(model_or_tensors: Any) -> dict[str, np.ndarray]:
    """name -> NumPy array of a torch module's state_dict, a dict of tensors, or a dict of arrays."""
    state = model_or_tensors.state_dict() if hasattr(model_or_tensors, "state_dict") else model_or_tensors
    out = {}
    for name, value in state.items():
        if hasattr(value, "detach"):
            value = value.detach().to("cpu").numpy()
        out[str(name)] = np.ascontiguousarray(value)
    return out


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
                      ) -> Path:
    """Write `tensors` as a safetensors file (little-endian, offsets in order)."""
    header: dict[str, Any] = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}} if metadata else {}
    chunks, offset = [], 0
    for key, value in tensors.items():
        array = np.ascontiguousarray(value)
        kind = _DTYPES.get(array.dtype.name)
        if kind is None:
            raise ValueError(f"{key}: dtype {array.dtype} cannot be saved as safetensors")
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = Path(path)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    return path


def save_weights(model_or_tensors: Any, path: str | Path = "model.safetensors") -> Path:
    """Save a model's weights (its state_dict) as safetensors, the only weights format the grader reads."""
    return write_safetensors(path, to_arrays(model_or_tensors))


#: The metadata entry of a checkpoints file: JSON {"format": 1, "steps": [0, every, ...]}.
CHECKPOINTS_KEY = "dlgrade.checkpoints"


class Checkpoints:
    """The states of one training run, every `every` steps, for the grader's proof of training.

    Call `save(step, model, optimizer)` before each training step (it keeps the state at steps
    0, every, 2 * every, ...) and `finish(steps, model, optimizer)` after the last one: it adds
    the final state and writes `path`. When more than `keep` states (besides the final one)
    would be kept, every other one is dropped (the spacing doubles), so the file stays small
    and evenly spaced. A state
    holds the model's state_dict, the optimizer's per-parameter state (its hyperparameters come
    from the notebook at replay) and torch's RNG state (dropout draws from it).
    """

    def __init__(self, path: str | Path = "checkpoints.safetensors", every: int = 20, keep: int = 16) -> None:
        if every < 1 or keep < 2:
            raise ValueError("every must be 1 or more and keep 2 or more")
        self.path, self.every, self.keep = Path(path), int(every), int(keep)
        self.states: list[tuple[int, dict[str, np.ndarray]]] = []

    def save(self, step: int, model: Any, optimizer: Any) -> None:
        """Keep the state before training step `step` when `step` is a multiple of the spacing."""
        if step % self.every == 0 and (not self.states or step > self.states[-1][0]):
            self._take(step, model, optimizer)

    def finish(self, steps: int, model: Any, optimizer: Any) -> Path:
        """Keep the final state (after `steps` steps) and write the file."""
        if not self.states or self.states[-1][0] != steps:
            self._take(steps, model, optimizer, final=True)
        tensors: dict[str, np.ndarray] = {}
        for j, (_, state) in enumerate(self.states):
            tensors.update({f"{j}.{name}": value for name, value in state.items()})
        meta = {CHECKPOINTS_KEY: json.dumps({"format": 1, "steps": [s for s, _ in self.states]})}
        return write_safetensors(self.path, tensors, meta)

    def _take(self, step: int, model: Any, optimizer: Any, final: bool = False) -> None:
        import torch

        state = {f"model.{k}": v.copy() for k, v in to_arrays(model).items()}
        for index, values in optimizer.state_dict()["state"].items():
            for key, value in values.items():
                if value is None:
                    continue
                array = value.detach().to("cpu").numpy() if hasattr(value, "detach") else np.asarray(value, np.float64)
                state[f"optim.{index}.{key}"] = np.ascontiguousarray(array).copy()
        state["rng"] = torch.get_rng_state().numpy().copy()
        self.states.append((int(step), state))
        while len(self.states) > self.keep + final:  # thin out: every other state goes, the spacing doubles
            self.every *= 2
            last = self.states[-1] if final else None
            self.states = [s for s in self.states if s[0] % self.every == 0]
            if last is not None and self.states[-1][0] != last[0]:
                self.states.append(last)
