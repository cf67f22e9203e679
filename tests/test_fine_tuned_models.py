"""finetune and attention take the fine-tuned weights as a submission (`[model]`, docs/models.md).

For each assignment, the solution notebook is graded twice through the real pipeline (process
sandbox): once with the `model.safetensors` its own save cell writes (the solution's code run
here, in this trusted test process, on the public data), once with the pretrained checkpoint's
weights unchanged (a head for the digits 0-4). The first must earn the model part's full points,
the second none, and both scores must come from the judge's private accuracy through the
assignment's cutoffs; the private accuracy is recomputed here from the same weights. (Scoring
the file the notebook saved in the sandbox, `files_from_notebook`, is what grade validate and the
variant suites do: tests/test_validate.py and tests/test_<id>_variants.py check it.)

The hidden suites are left out of these gradings (they are the variant suites' and validate's
business, and cost most of a grading's time): the assignment is graded from a copy of its folder
without tests/hidden.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.course import datasets
from grader.course.assignment import load_assignment
from grader.course.notebook import read_notebook
from grader.judge import model_scoring
from grader.judge.model_scoring import cutoff_fraction, heldout
from grader.judge.pipeline import course_secret, grade
from grader.judge.untrusted_safetensors import read_safetensors, write_safetensors

pytestmark = pytest.mark.slow

HELPERS = Path(__file__).resolve().parents[1] / "grader" / "worker"
CHECKPOINTS = {"finetune": "data/resnet_digits04.pt", "attention": "data/transformer_digits04.pt"}
SHAPES = {"finetune": (1, 8, 8), "attention": (8, 8)}
IMPORTS = "import numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def run_solution(assignment, folder: Path) -> dict:  # noqa: ANN001
    """The solution's code cells run here, in `folder` with the public data: their namespace
    (bench/gpu_model_check.py uses it too)."""
    datasets.write_public(assignment.datasets, folder / "data", assignment.public_files)
    nb = json.loads(assignment.solution.read_text(encoding="utf-8"))
    namespace: dict = {}
    here, threads = Path.cwd(), torch.get_num_threads()
    os.chdir(folder)
    sys.path.insert(0, str(HELPERS))  # dlgrade_training, as the kit puts it next to the notebook
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]), namespace)  # noqa: S102 - the course's own solution
    finally:
        sys.path.remove(str(HELPERS))
        os.chdir(here)
        torch.set_num_threads(threads)
    return namespace


def _without_hidden(assignment, root: Path):  # noqa: ANN001, ANN202
    shutil.copytree(assignment.root, root, ignore=shutil.ignore_patterns("hidden"))
    (root / "tests" / "hidden").mkdir()
    return dataclasses.replace(assignment, root=root, course=assignment.course,
                               public_files=tuple(root / Path(p).relative_to(assignment.root)
                                                  if Path(p).is_absolute() else p
                                                  for p in assignment.public_files))


@pytest.fixture(scope="module", params=["finetune", "attention"])
def graded(request, tmp_path_factory):  # noqa: ANN001, ANN201
    aid = request.param
    work = tmp_path_factory.mktemp(f"models-{aid}")
    assignment = load_assignment(aid)
    ns = run_solution(assignment, work / "run")
    weights = work / "run" / "model.safetensors"  # written by the notebook's own save cell
    assert weights.is_file(), "the solution's save cell wrote no model.safetensors"
    pretrained = torch.load(assignment.root / CHECKPOINTS[aid], map_location="cpu", weights_only=True)
    (work / "pretrained").mkdir()
    wrong = write_safetensors(work / "pretrained" / "model.safetensors", {k: v.numpy() for k, v in pretrained.items()})
    quick = _without_hidden(assignment, work / "course" / aid)
    nb = read_notebook(assignment.solution)
    results = {
        "solution": grade(nb, quick, files={"model.safetensors": weights}),
        "pretrained": grade(nb, quick, files={"model.safetensors": wrong}),
    }
    return assignment, ns, weights, results


def _model_part(result) -> tuple[dict, dict]:  # noqa: ANN001
    private = next(t for t in result.tests if t.name == model_scoring.PRIVATE_TEST)
    return result.extra["model"], dataclasses.asdict(private)


def test_the_solution_weights_get_full_marks_through_the_cutoffs(graded) -> None:  # noqa: ANN001
    assignment, ns, weights, results = graded
    settings = assignment.model
    result = results["solution"]
    assert all(c.status == "ok" for c in result.cells), [(c.index, c.message) for c in result.cells
                                                         if c.status != "ok"]
    model, private = _model_part(result)
    assert model["points"] == private["score"] == settings.points == 10, (model, private)
    assert private["score"] == round(settings.points * cutoff_fraction(model["private"], settings.cutoffs), 6)
    assert private["visibility"] == "after_due_date" and private["status"] == "passed"
    # the judge's private accuracy, recomputed here from the same file and the judge's held-out rows
    tensors = read_safetensors(weights, assignment.limits.model_file_mb << 20, settings.max_parameters).tensors
    assert model["parameters"] == sum(a.size for a in tensors.values()) <= settings.max_parameters
    data = heldout(settings, course_secret(), for_predictions=False)
    net = ns["build_model"]()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    with torch.no_grad():
        labels = net.eval()(torch.from_numpy(data.X.reshape(-1, *SHAPES[assignment.id]).astype(np.float32)))
    acc = float(np.mean(labels.argmax(1).numpy()[data.private] == data.y[data.private]))
    assert abs(model["private"] - acc) <= 2 / len(data.private), (model, acc)
    assert model["private"] >= settings.cutoffs[-1][0] + 0.03  # a margin other CPUs cannot cross
    public = next(t for t in result.tests if t.name == model_scoring.PUBLIC_TEST)
    assert public.max_score == 0 and f"{model['public']:.4f}" in public.message


def test_the_pretrained_weights_unchanged_get_nothing(graded) -> None:  # noqa: ANN001
    assignment, _, _, results = graded
    settings = assignment.model
    model, private = _model_part(results["pretrained"])
    assert model["private"] < settings.cutoffs[0][0] - 0.03, model  # a head for the digits 0-4
    assert model["points"] == private["score"] == 0 and private["status"] == "failed", (model, private)
    assert f"{model['private']:.4f}" in private["message"] and "cutoffs" in private["message"]
    assert results["pretrained"].score == pytest.approx(results["solution"].score - settings.points)


def test_without_gpus_the_model_part_runs_on_the_cpu_and_says_so(graded) -> None:  # noqa: ANN001
    assignment, _, _, results = graded
    assert assignment.gpu == "optional"
    notes = [e for e in results["solution"].errors if "GPU" in e]
    assert notes and "ran on the CPU" in notes[0], results["solution"].errors


def test_a_gpu_request_on_a_host_without_cuda_scores_the_same(graded) -> None:  # noqa: ANN001
    """The worker a --gpus job gets (WorkerSpec(gpu=True): no CUDA_VISIBLE_DEVICES="", no address-space
    cap) loads the model with gpu=True; without CUDA it stays on the CPU and scores the same.
    On a GPU host the same call moves it to cuda: bench/gpu_model_check.py records that."""
    from grader.judge.pipeline import worker_spec
    from grader.judge.remote import Submission
    from grader.judge.session import Cell, WorkerSession
    from grader.sandbox import get_backend

    assignment, _, weights, results = graded
    nb = json.loads(assignment.solution.read_text(encoding="utf-8"))
    arch = next(c for c in nb["cells"] if c["cell_type"] == "code" and "def load_pretrained_" in "".join(c["source"]))
    build = next(c for c in nb["cells"] if c.get("id") == f"{assignment.id}-save")
    cells = [Cell(0, IMPORTS), Cell(1, "".join(arch["source"])), Cell(2, "".join(build["source"]).split("\nsave_weights(")[0])]
    spec = dataclasses.replace(worker_spec(assignment, None), gpu=True)
    session = WorkerSession(get_backend("process"), spec, cells)
    try:
        assert all(r.status == "ok" for r in session.run_notebook())
        tests, extra = model_scoring.score_model(assignment, Submission(session), {"model.safetensors": weights},
                                                 course_secret(), gpu=True)
    finally:
        session.close()
    solution, _ = _model_part(results["solution"])
    assert extra["private"] == solution["private"] and extra["points"] == assignment.model.points, extra
