"""The model part of finetune and attention on a GPU host: where the model ran, scores, time.

    python bench/gpu_model_check.py            # prints one JSON object

For each assignment it runs the solution's code here (the course's own notebook, trusted) to get
the `model.safetensors` its save cell writes, then grades the solution with that file through
the pipeline, on the CPU and, when nvidia-smi lists a GPU, with `--gpus all` (process sandbox).
It also starts a GPU worker itself, loads the weights with `gpu=True` and asks the worker where
the parameters are. The private scores of both runs and the points they map to are what
docs/models.md calls unmeasured on CPU-only machines. No test asserts on this; it is a record.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_fine_tuned_models import run_solution  # noqa: E402  (the test suite's own run of the solution)

from grader.course.assignment import load_assignment  # noqa: E402
from grader.course.notebook import read_notebook  # noqa: E402
from grader.judge.pipeline import course_secret, grade, worker_spec  # noqa: E402
from grader.judge.remote import Submission, load_model  # noqa: E402
from grader.judge.session import Cell, WorkerSession  # noqa: E402
from grader.judge.untrusted_safetensors import read_safetensors  # noqa: E402
from grader.sandbox import get_backend  # noqa: E402
from grader.sandbox.gpu import host_gpu_count  # noqa: E402

IMPORTS = "import numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
DEVICE_CELL = "def first_device(m):\n    return str(next(m.parameters()).device)\n"


def solution_weights(assignment, folder: Path) -> Path:  # noqa: ANN001
    """Run the solution's code cells in `folder` (with the public data): its model.safetensors."""
    run_solution(assignment, folder)
    return folder / "model.safetensors"


def device_of_loaded_model(assignment, weights: Path) -> str:  # noqa: ANN001
    """Where a GPU worker puts the model that load_model(gpu=True) built (its solution's cells)."""
    nb = read_notebook(assignment.solution)
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    arch = next(s for s in sources if "def load_pretrained_" in s)
    build = next(s for s in sources if "def build_model" in s).split("\nsave_weights(")[0]
    cells = [Cell(0, IMPORTS), Cell(1, arch), Cell(2, build), Cell(3, DEVICE_CELL)]
    session = WorkerSession(get_backend("process"), worker_spec(assignment, None, gpu=True), cells)
    try:
        session.run_notebook()
        sub = Submission(session)
        settings = assignment.model
        tensors = read_safetensors(weights, assignment.limits.model_file_mb << 20, settings.max_parameters).tensors
        return str(sub.first_device(load_model(sub, settings.builder, tensors, gpu=True)))
    finally:
        session.close()


def main() -> None:
    gpus = host_gpu_count()
    report: dict = {"host_gpus": gpus, "secret_set": bool(course_secret())}
    with tempfile.TemporaryDirectory(prefix="dlgrade-gpu-model-") as tmp:
        for aid in ("finetune", "attention"):
            assignment = load_assignment(aid)
            entry: dict = {}
            try:
                weights = solution_weights(assignment, Path(tmp) / aid)
                nb = read_notebook(assignment.solution)
                for label, request in (("cpu", None), ("gpu", "all" if gpus else None)):
                    if label == "gpu" and request is None:
                        entry["gpu"] = "no GPU on this host"
                        continue
                    start = time.monotonic()
                    result = grade(nb, assignment, gpus=request, files={"model.safetensors": weights})
                    model = result.extra.get("model", {})
                    entry[label] = {k: model.get(k) for k in ("public", "private", "points", "error")}
                    entry[label]["seconds"] = round(time.monotonic() - start, 2)
                    entry[label]["score"] = f"{result.score:g}/{result.max_score:g}"
                if gpus:
                    entry["loaded_on"] = device_of_loaded_model(assignment, weights)
            except Exception as e:  # a record, not a test: say what broke
                entry["error"] = f"{type(e).__name__}: {e}"
            report[aid] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
