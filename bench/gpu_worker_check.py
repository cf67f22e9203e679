"""Run the worker on a GPU with the process backend and report what it saw (for GPU hosts).

    python bench/gpu_worker_check.py            # prints one JSON object

It starts a worker with `WorkerSpec(gpu=True)`, runs notebook cells that train a small CNN on
CUDA, then, from the judge side, calls into the student's model through a handle and checks the
predictions that come back as numpy arrays. No test asserts on timing; this is a record.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course.assignment import Limits  # noqa: E402
from grader.judge.remote import Submission  # noqa: E402
from grader.judge.session import Cell, WorkerSession  # noqa: E402
from grader.sandbox import WorkerSpec, get_backend  # noqa: E402

CELLS = [
    "import time, torch, torch.nn as nn\n"
    "DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    "GPU_NAME = torch.cuda.get_device_name(0) if DEVICE == 'cuda' else ''\n",
    "torch.manual_seed(0)\n"
    "X = torch.randn(2048, 1, 16, 16, device=DEVICE)\n"
    "y = (X.mean(dim=(1, 2, 3)) > 0).long()\n"
    "model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
    "                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
    "                      nn.Flatten(), nn.Linear(32, 2)).to(DEVICE)\n"
    "opt = torch.optim.Adam(model.parameters(), lr=1e-2)\n"
    "t = time.time()\n"
    "for step in range(200):\n"
    "    opt.zero_grad()\n"
    "    loss = nn.functional.cross_entropy(model(X), y)\n"
    "    loss.backward()\n"
    "    opt.step()\n"
    "if DEVICE == 'cuda':\n    torch.cuda.synchronize()\n"
    "TRAIN_SECONDS = time.time() - t\n"
    "FINAL_LOSS = float(loss)\n",
    "def predict(x):\n"
    "    with torch.no_grad():\n"
    "        return model(torch.as_tensor(x, device=DEVICE)).argmax(1).cpu().numpy()\n",
]


def main() -> None:
    spec = WorkerSpec(limits=Limits(cell_seconds=300, call_seconds=60), gpu=True)
    session = WorkerSession(get_backend("process"), spec, [Cell(i, s) for i, s in enumerate(CELLS)])
    start = time.monotonic()
    runs = session.run_notebook()
    sub = Submission(session)
    report: dict = {"cells": [(r.status, r.message) for r in runs], "sandbox": session.description}
    try:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((512, 1, 16, 16)).astype(np.float32)
        truth = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
        pred = sub.predict(x)
        report.update({
            "device": sub.DEVICE,
            "gpu_name": sub.GPU_NAME,
            "train_seconds": round(sub.TRAIN_SECONDS, 3),
            "final_loss": round(sub.FINAL_LOSS, 4),
            "judge_accuracy": float((pred == truth).mean()),
            "prediction_dtype": str(pred.dtype),
        })
    except Exception as e:  # a record, not a test: say what broke
        report["error"] = f"{type(e).__name__}: {e}"
    finally:
        report["total_seconds"] = round(time.monotonic() - start, 2)
        session.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
