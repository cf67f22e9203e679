"""A small course with `[model.proof]`, one honest training run and the runs that forge one.

The assignment (`prf`): a small MLP with dropout on the 8x8 digits (64 -> 32 -> 10), trained with
Adam for 60 steps of 32 rows, checkpointed every 10 steps by `dlgrade_training.Checkpoints`.
The notebook defines what the judge replays (initial_model, build_optimizer, training_batch,
train_step) and trains nothing itself: the runs are made here, in the test process, by the
notebook's own code (exec'd with the public data the judge writes), once per session.

`runs(work)` gives the honest run and the forged ones of issue #23's acceptance list, each
derived from the honest one or from a second honest "classmate" (another initial seed):
finetuned (the classmate's final weights trained on with the notebook's code), lr (a larger
learning rate), splice (an honest prefix, then the classmate's final state as the last
checkpoint), order (another data-order seed), interpolated (the steps between the first and
the last real checkpoints filled in linearly).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from model_class import PUBLIC_TEST  # the same public test: build_model is defined

ROOT = Path(__file__).resolve().parents[1]
SECRET = "proof-class-secret"
ID = "prf"
STEPS, EVERY = 60, 10

TOML = """id = "prf"
title = "A trained MLP whose training is replayed"

[limits]
call_seconds = 20
cell_seconds = 30
notebook_seconds = 60
memory_mb = 3072
max_restarts = 1
model_file_mb = 1

[data]
datasets = ["digits"]

[model]
weights = "model.safetensors"
predictions = ""
builder = "build_model"
max_parameters = 5000
metric = "accuracy"
dataset = "digits"
batch_size = 500
cutoffs = [[0.5, 0.0], [0.8, 1.0]]
points = 10

[model.proof]
checkpoints = "checkpoints.safetensors"
every = 10
keep = 8
segments = 3
factor = 0.05
seconds = 90
max_mb = 2
"""

NOTEBOOK = """import numpy as np
import torch
from dlgrade_training import Checkpoints, batch_indices, save_weights

data = np.load("data/digits_train.npz")
X_t = torch.tensor(data["X"], dtype=torch.float32)
y_t = torch.tensor(data["y"])
SEED, BATCH, LR, INIT = 3, 32, 1e-2, 0


def build_model():
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(32, 10))


def initial_model():
    torch.manual_seed(INIT)
    return build_model()


def build_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=LR)


def training_batch(step):
    idx = torch.from_numpy(batch_indices(SEED, step, len(X_t), BATCH))
    return X_t[idx], y_t[idx]


def train_step(model, optimizer, xb, yb):
    model.train()
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
"""

#: How the notebook's training loop runs (not in the graded notebook: the runs are made here).
TRAIN = """
def run(path, model=None, steps=STEPS):
    model = model if model is not None else initial_model()
    optimizer = build_optimizer(model)
    ckpt = Checkpoints(path, every=EVERY, keep=8)
    for step in range(steps):
        ckpt.save(step, model, optimizer)
        xb, yb = training_batch(step)
        train_step(model, optimizer, xb, yb)
    ckpt.finish(steps, model, optimizer)
    return model
"""


@dataclass
class Run:
    """One submission: its weights and checkpoints files, and what the judge must conclude."""

    uid: str
    kind: str
    files: dict[str, bytes]
    expect: str  # "passed", or words the model part's message must hold


def make_course(root: Path) -> Path:
    folder = root / "assignments" / ID
    (folder / "tests" / "public").mkdir(parents=True)
    (folder / "tests" / "hidden").mkdir()
    (folder / "assignment.toml").write_text(TOML)
    (folder / "tests" / "public" / "test_public.py").write_text(PUBLIC_TEST)
    (root / "reference").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


def notebook_namespace(work: Path, **overrides: object) -> dict:
    """The notebook's definitions, exec'd in `work` (with the public digits there), plus `run`."""
    import os
    import sys

    from grader.course import datasets

    sys.path.insert(0, str(ROOT / "grader" / "worker"))  # dlgrade_training, as in the sandbox and the kit
    datasets.write_public(("digits",), work / "data", ())
    here = os.getcwd()
    os.chdir(work)
    try:
        ns: dict = {"STEPS": STEPS, "EVERY": EVERY}
        exec(compile(NOTEBOOK, "<notebook>", "exec"), ns)
        ns.update(overrides)
        exec(compile(TRAIN, "<train>", "exec"), ns)
    finally:
        os.chdir(here)
    return ns


def _files(ns: dict, model, ckpt: Path) -> dict[str, bytes]:
    from dlgrade_training import save_weights

    weights = save_weights(model, ckpt.with_name(ckpt.stem + "-model.safetensors"))
    return {"model.safetensors": weights.read_bytes(), "checkpoints.safetensors": ckpt.read_bytes()}


def read_states(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from grader.judge.untrusted_safetensors import read_safetensors

    raw = read_safetensors(path, 64 << 20)
    return {k: np.array(v) for k, v in raw.tensors.items()}, dict(raw.metadata)


def write_states(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> Path:
    from grader.judge.untrusted_safetensors import write_safetensors

    return write_safetensors(path, tensors, metadata)


def runs(work: Path) -> list[Run]:
    """The honest run, the five forgeries, the hostile checkpoint files (one submission each)."""
    import struct

    work.mkdir(parents=True, exist_ok=True)
    ns = notebook_namespace(work)
    honest = ns["run"](work / "honest.safetensors")
    out = [Run("5000", "honest", _files(ns, honest, work / "honest.safetensors"), "passed")]
    mate_ns = notebook_namespace(work, INIT=1)
    mate = mate_ns["run"](work / "mate.safetensors")
    tuned = ns["run"](work / "finetuned.safetensors", model=mate)  # the classmate's weights, trained on
    out.append(Run("5001", "finetuned", _files(ns, tuned, work / "finetuned.safetensors"),
                   "does not start from initial_model()"))
    lr_ns = notebook_namespace(work, LR=2e-2)
    out.append(Run("5002", "lr", _files(lr_ns, lr_ns["run"](work / "lr.safetensors"), work / "lr.safetensors"),
                   "does not replay"))
    order_ns = notebook_namespace(work, SEED=4)
    out.append(Run("5003", "order", _files(order_ns, order_ns["run"](work / "order.safetensors"),
                                            work / "order.safetensors"), "does not replay"))
    # splice: the honest checkpoints, but the last state is the classmate's final one
    tensors, meta = read_states(work / "honest.safetensors")
    mate_t, _ = read_states(work / "mate.safetensors")
    last = len(json.loads(meta["dlgrade.checkpoints"])["steps"]) - 1
    spliced = {k: (mate_t[k] if k.startswith(f"{last}.") else v) for k, v in tensors.items()}
    write_states(work / "splice.safetensors", spliced, meta)
    mate_model = {k.split(".", 2)[2]: v for k, v in mate_t.items() if k.startswith(f"{last}.model.")}
    out.append(Run("5004", "splice", {"model.safetensors": write_states(work / "splice-model.safetensors",
                                                                        mate_model, {}).read_bytes(),
                                      "checkpoints.safetensors": (work / "splice.safetensors").read_bytes()},
                   "does not replay"))
    # interpolated: checkpoints 1..last-1 lie on the line between the first and the last real ones
    inter = {}
    for k, v in tensors.items():
        j, rest = k.split(".", 1)
        if 0 < int(j) < last and v.dtype.kind == "f":
            t = int(j) / last
            inter[k] = ((1 - t) * tensors[f"0.{rest}"] + t * tensors[f"{last}.{rest}"]).astype(v.dtype) \
                if f"0.{rest}" in tensors else v
        else:
            inter[k] = v
    write_states(work / "inter.safetensors", inter, meta)
    out.append(Run("5005", "interpolated", {"model.safetensors": out[0].files["model.safetensors"],
                                            "checkpoints.safetensors": (work / "inter.safetensors").read_bytes()},
                   "does not replay"))
    # hostile checkpoint files, each with the honest weights
    good = out[0].files["model.safetensors"]
    steps = json.loads(meta["dlgrade.checkpoints"])["steps"]
    swapped = [steps[0], steps[2], steps[1], *steps[3:]]  # two checkpoints' steps swapped
    reordered = dict(meta, **{"dlgrade.checkpoints": json.dumps({"format": 1, "steps": swapped})})
    nan = {k: v.copy() for k, v in tensors.items()}
    nan["2.model.0.weight"][0, 0] = np.nan
    shape = dict(tensors)
    shape["3.optim.0.exp_avg"] = np.zeros(3, np.float32)
    hostile = [
        ("missing", {}, "no checkpoints.safetensors"),
        ("reordered", {"checkpoints.safetensors": write_states(work / "r.safetensors", tensors, reordered)
                       .read_bytes()}, "out of order"),
        ("bomb", {"checkpoints.safetensors": struct.pack("<Q", 2**62) + b"{}"}, "header claims"),
        ("nan", {"checkpoints.safetensors": write_states(work / "n.safetensors", nan, meta).read_bytes()},
         "NaN"),
        ("shape", {"checkpoints.safetensors": write_states(work / "s.safetensors", shape, meta).read_bytes()},
         "optimizer state 0.exp_avg has shape (3,)"),
    ]
    for k, (kind, files, words) in enumerate(hostile):
        out.append(Run(str(5100 + k), kind, {"model.safetensors": good, **files}, words))
    return out


def notebook_bytes() -> bytes:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": NOTEBOOK}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"dlgrade": {"assignment": ID}},
                       "cells": [cell]}).encode()


def write_canvas_zip(path: Path, submissions: list[Run]) -> Path:
    """Canvas's "Download Submissions" layout: name_uid_attachment_file."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, s in enumerate(submissions):
            zf.writestr(f"student{s.uid}_{s.uid}_{70000 + 2 * i}_prf.ipynb", notebook_bytes())
            for j, (name, data) in enumerate(s.files.items()):
                zf.writestr(f"student{s.uid}_{s.uid}_{70001 + 2 * i + 1000 * j}_{name}", data)
    return path
