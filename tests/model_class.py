"""A small course with a `[model]` assignment and a generated class that hands in trained models.

The assignment (`mdl`): a linear classifier of the 8x8 digits, `build_model()` in the notebook,
weights in `model.safetensors` or predictions in `predictions.csv`, accuracy on the held-out
digits mapped to 10 points through cutoffs 0.5 -> 0 and 0.9 -> 1. One trained weight set
(a few hundred Adam steps, in this process) is degraded by seeded noise per student, so the
class spreads over the cutoffs; predictions students flip a known share of the true labels.
Hostile students hand in the files of tests/test_untrusted_safetensors.py's attacks through
the whole batch path, and models whose forward pass sleeps or allocates without end.
Each Student knows what the judge must conclude (`expect`: "scored" or words of the message).
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.course import datasets
from grader.judge.untrusted_predictions import write_predictions
from grader.judge.untrusted_safetensors import write_safetensors

ROOT = Path(__file__).resolve().parents[1]
SECRET = "model-class-secret"
ID = "mdl"

TOML = """id = "mdl"
title = "A trained model, scored on held-out digits"
due = "2026-12-01T23:59:00+00:00"

[limits]
call_seconds = 5
cell_seconds = 30
notebook_seconds = 60
memory_mb = 3072
max_restarts = 1
model_file_mb = 1
predictions_kb = 64

[data]
datasets = ["digits"]

[model]
weights = "model.safetensors"
predictions = "predictions.csv"
builder = "build_model"
max_parameters = 2000
metric = "accuracy"
dataset = "digits"
input_shape = [1, 8, 8]
batch_size = 200
cutoffs = [[0.5, 0.0], [0.9, 1.0]]
points = 10
public_fraction = 0.3
"""

PUBLIC_TEST = '''import pytest


@pytest.mark.points(1)
def test_builder_is_defined(submission):
    """build_model is a function of the notebook"""
    assert callable(submission.build_model)
'''

TORCH_NOTEBOOK = """import torch

def build_model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
"""
PLAIN_NOTEBOOK = "def build_model():\n    return None  # predictions only\n"
SLEEPY = TORCH_NOTEBOOK + """
import time

class Sleepy(torch.nn.Sequential):
    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def forward(self, x):
        time.sleep(1000)

def build_model():
    return Sleepy()
"""
GREEDY = TORCH_NOTEBOOK + """
class Greedy(torch.nn.Sequential):
    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def forward(self, x):
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))

def build_model():
    return Greedy()
"""


@dataclass
class Student:
    uid: str
    kind: str  # weights | predictions | hostile
    notebook: str
    files: dict[str, bytes] = field(default_factory=dict)  # name in the archive -> bytes
    expect: str = "scored"  # "scored", or words that the model part's message must hold
    pseudonym: str = ""
    weights: dict[str, np.ndarray] | None = None  # what the judge must score (weights students)
    labels: np.ndarray | None = None  # what the judge must score (predictions students)


def make_course(root: Path) -> Path:
    """A course folder: assignments/mdl (toml, one public test), reference/, templates/."""
    folder = root / "assignments" / ID
    (folder / "tests" / "public").mkdir(parents=True)
    (folder / "tests" / "hidden").mkdir()
    (folder / "assignment.toml").write_text(TOML)
    (folder / "tests" / "public" / "test_public.py").write_text(PUBLIC_TEST)
    (root / "reference").mkdir()
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


def trained_weights() -> dict[str, np.ndarray]:
    """Softmax regression of the public digits (torch, seeded): ~0.95 on the held-out digits."""
    import torch

    torch.manual_seed(0)
    split = datasets.load("digits")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), 0.05)
    X = torch.tensor(split.X_train, dtype=torch.float32)
    y = torch.tensor(split.y_train)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _st_bytes(tensors: dict[str, np.ndarray], tmp: Path) -> bytes:
    return write_safetensors(tmp / "w.safetensors", tensors).read_bytes()


def _raw_header(header: dict) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def build_class(work: Path) -> list[Student]:
    """21 students: 7 weights, 4 predictions, 10 hostile (those whose file the judge refuses before
    loading it need no torch in their notebook: grading them stays cheap)."""
    base = trained_weights()
    split = datasets.load("digits")
    rng = np.random.default_rng(7)
    out: list[Student] = []
    for k in range(7):
        sigma = 0.35 * k  # k = 0: the trained model; larger k: noisier, down through the cutoffs
        w = {n: (v + rng.normal(0, sigma, v.shape)).astype(np.float32) for n, v in base.items()}
        name = "model-1.safetensors" if k % 3 == 2 else "model.safetensors"  # Canvas's renamed copy
        out.append(Student(str(3000 + k), "weights", TORCH_NOTEBOOK, {name: _st_bytes(w, work)}, weights=w,
                           pseudonym=f"Team {k}" if k % 2 else ""))
    for k in range(4):
        labels = split.y_heldout.copy()
        flip = rng.random(len(labels)) < 0.15 * k
        labels[flip] = (labels[flip] + 1) % 10
        text = write_predictions(work / "p.csv", labels).read_bytes()
        out.append(Student(str(3100 + k), "predictions", PLAIN_NOTEBOOK, {"predictions.csv": text}, labels=labels,
                           pseudonym="<script>alert(1)</script>" if k == 0 else ""))
    nan = {n: v.copy() for n, v in base.items()}
    nan["1.weight"][0, 0] = np.nan
    wrong_shape = {"1.weight": np.zeros((10, 32), np.float32), "1.bias": np.zeros(10, np.float32)}
    dup = "id,label\n" + "".join(f"{i},0\n" for i in range(450)) + "7,1\n"
    extra = "id,label\n" + "".join(f"{i},0\n" for i in range(450)) + "450,1\n"
    big = np.random.default_rng(1).integers(0, 255, 3 << 20, dtype=np.uint8)
    hostile = [
        ("bomb", PLAIN_NOTEBOOK, {"model.safetensors": struct.pack("<Q", 2**62) + b"{}"}, "header claims"),
        ("dtype", PLAIN_NOTEBOOK, {"model.safetensors": _raw_header(
            {"1.weight": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}) + b"\0" * 16}, "dtype 'F128'"),
        ("shape", TORCH_NOTEBOOK, {"model.safetensors": _st_bytes(wrong_shape, work)}, "could not be loaded"),
        ("nan", PLAIN_NOTEBOOK, {"model.safetensors": _st_bytes(nan, work)}, "NaN"),
        ("huge", PLAIN_NOTEBOOK, {"model.safetensors": _st_bytes({"junk": big}, work)}, "larger than 1 MiB"),
        ("pickle", PLAIN_NOTEBOOK, {"model.safetensors": pickle.dumps({"1.weight": [0.0] * 640})}, "pickle"),
        ("dup", PLAIN_NOTEBOOK, {"predictions.csv": dup.encode()}, "appears twice"),
        ("extra", PLAIN_NOTEBOOK, {"predictions.csv": extra.encode()}, "not a test id"),
        ("sleepy", SLEEPY, {"model.safetensors": _st_bytes(base, work)}, "time limit"),
        ("greedy", GREEDY, {"model.safetensors": _st_bytes(base, work)}, "forward pass"),
    ]
    for k, (_, notebook, files, words) in enumerate(hostile):
        out.append(Student(str(3200 + k), "hostile", notebook, files, expect=words))
    return out


def notebook_bytes(s: Student) -> bytes:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s.notebook}
    meta = {"dlgrade": {"assignment": ID, **({"pseudonym": s.pseudonym} if s.pseudonym else {})}}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": [cell]}).encode()


def write_canvas_zip(path: Path, students: list[Student]) -> Path:
    """Canvas's "Download Submissions" layout: name_uid_attachment_file, each file renamed so."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, s in enumerate(students):
            zf.writestr(f"student{s.uid}_{s.uid}_{60000 + 2 * i}_mdl.ipynb", notebook_bytes(s))
            for j, (name, data) in enumerate(s.files.items()):
                zf.writestr(f"student{s.uid}_{s.uid}_{60001 + 2 * i + 1000 * j}_{name}", data)
    return path


def write_folder(folder: Path, s: Student) -> Path:
    """One student's submission folder: the notebook and its files (as `grade submit FOLDER` takes it)."""
    folder.mkdir(parents=True)
    (folder / "mdl.ipynb").write_bytes(notebook_bytes(s))
    for name, data in s.files.items():
        (folder / name.replace("-1.", ".")).write_bytes(data)
    return folder
