"""Trained models as submissions, end to end (docs/models.md).

A class of 21 (tests/model_class.py) hands in notebooks with safetensors weights or predictions
in a Canvas zip (some files renamed by Canvas, `model-1.safetensors`); `grade batch` scores
them on the held-out digits the judge keeps, maps the private score through the cutoffs, and
`grade export` / `grade leaderboard` read the gradebook. Hostile files (a header bomb, wrong
dtypes and shapes, NaN weights, a file far over the cap, a pickle disguised as safetensors,
predictions with duplicate or extra ids) and models whose forward pass sleeps or allocates
without end each end in a result with a clear message, in bounded time and size, with no
traceback. Labels never enter the sandbox: a model that searches its process for them finds
nothing, and every array the judge sends to the worker is recorded and checked.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import subprocess
from pathlib import Path

import cli_run
import numpy as np
import pytest
from model_class import (
    ID,
    SECRET,
    TORCH_NOTEBOOK,
    Student,
    build_class,
    make_course,
    write_canvas_zip,
    write_folder,
)

from grader.course.assignment import AssignmentError, load_assignment
from grader.judge import model_scoring
from grader.judge.model_scoring import cutoff_fraction, heldout, metric, split_rows
from grader.judge.untrusted_predictions import BadPredictions, parse_predictions

pytestmark = pytest.mark.slow


def grade(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`grade ARGS` in the model course, with the class's course secret."""
    return cli_run.grade(*args, timeout=timeout, env={"GRADER_SECRET": SECRET, "DLGRADE_COURSE": str(course)})


@pytest.fixture(scope="session")
def model_course(tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("model-class")
    course = make_course(work / "course")
    return work, course, build_class(work)


@pytest.fixture(scope="session")
def graded_class(model_course):  # noqa: ANN001, ANN201
    work, course, students = model_course
    zpath = write_canvas_zip(work / "mdl_submissions.zip", students)
    db = f"sqlite:///{work / 'class.db'}"
    r = grade(course, "batch", str(zpath), "--assignment", ID, "-j", "2", "--db", db, "--out", str(work / "out"),
              "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    e = grade(course, "export", ID, "--db", db, "--format", "json")
    assert e.returncode == 0, e.stderr
    results = {s.uid: json.loads((work / "out" / s.uid / "result.json").read_text()) for s in students}
    return json.loads(r.stdout), json.loads(e.stdout), results, db


def _expected(s: Student, settings) -> tuple[float, float]:  # noqa: ANN001
    """(private accuracy, points) computed here, independently of the judge's model stage."""
    data = heldout(settings, SECRET, for_predictions=s.kind == "predictions")
    if s.kind == "predictions":
        labels = s.labels
    else:
        X = data.X.reshape(len(data.X), -1).astype(np.float32)
        labels = (X @ s.weights["1.weight"].T + s.weights["1.bias"]).argmax(axis=1)
    acc = float(np.mean(labels[data.private] == data.y[data.private]))
    return acc, 10 * cutoff_fraction(acc, settings.cutoffs)


def test_the_class_is_scored_through_the_cutoffs(model_course, graded_class):  # noqa: ANN001
    work, course, students = model_course
    summary, export, results, _ = graded_class
    settings = load_assignment(ID, course).model
    assert summary["graded"] == len(students) >= 20, summary
    rows = {r["student"]: r for r in export["students"]} if isinstance(export, dict) else \
        {r["student"]: r for r in export}
    spread = set()
    for s in students:
        if s.kind == "hostile":
            continue
        model = results[s.uid]["extra"]["model"]
        acc, points = _expected(s, settings)
        margin = 1e-6 if s.kind == "predictions" else 2 / len(heldout(settings, SECRET, False).private)  # rounded to 6 digits
        assert abs(model["private"] - acc) <= margin, (s.uid, model, acc)
        assert abs(model["points"] - points) <= 10 * margin / 0.4 + 1e-6, (s.uid, model, points)
        public = next(t for t in results[s.uid]["tests"] if t["name"] == model_scoring.PUBLIC_TEST)
        assert public["max_score"] == 0 and f"{model['public']:.4f}" in public["message"]
        private = next(t for t in results[s.uid]["tests"] if t["name"] == model_scoring.PRIVATE_TEST)
        assert private["visibility"] == "after_due_date" and private["score"] == model["points"]
        builder_point = 1.0 if s.kind == "weights" else 1.0  # both notebooks define build_model
        assert rows[s.uid]["score"] == pytest.approx(model["points"] + builder_point, abs=1e-6), rows[s.uid]
        spread.add(round(model["points"]))
    assert len(spread) >= 4 and 0 in spread and 10 in spread, spread  # below, between and above the cutoffs


def test_hostile_model_files_each_end_in_a_clear_bounded_result(model_course, graded_class):  # noqa: ANN001
    _, _, students = model_course
    _, _, results, _ = graded_class
    for s in (s for s in students if s.kind == "hostile"):
        result = results[s.uid]
        text = json.dumps(result)
        private = next(t for t in result["tests"] if t["name"] == model_scoring.PRIVATE_TEST)
        assert private["score"] == 0 and s.expect in private["message"], (s.uid, private)
        assert "\n" not in private["message"] and len(private["message"]) < 600, private["message"]
        assert "Traceback" not in text and len(text) < 64_000, s.uid
        assert result["duration"] < 60, (s.uid, result["duration"])  # call_seconds = 5, plus grace and start
        assert not result.get("extra", {}).get("grading_failed"), s.uid


def test_leaderboard_public_then_private_under_pseudonyms(model_course, graded_class, tmp_path):  # noqa: ANN001
    _, course, students = model_course
    _, _, results, db = graded_class
    page = tmp_path / "board.html"
    r = grade(course, "leaderboard", ID, "--db", db, "--phase", "public", "-o", str(page))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("mdl: public leaderboard, accuracy (higher is better), 11 ranked"), lines[0]
    assert "(10 graded submission(s) without a scored model)" in r.stdout
    ranked = [line.split() for line in lines[1:12]]
    values = [float(x[-1]) for x in ranked]
    assert values == sorted(values, reverse=True)
    assert "Team 1" in r.stdout and "script" not in r.stdout  # chosen names kept, a hostile one replaced
    html = page.read_text()
    assert "Content-Security-Policy" in html and "<script" not in html and "3000" not in html
    best = max((s for s in students if s.kind != "hostile"), key=lambda s: results[s.uid]["extra"]["model"]["public"])
    assert f"{results[best.uid]['extra']['model']['public']:.4f}" in ranked[0][-1]
    r = grade(course, "leaderboard", ID, "--db", db)  # the due date (2026-12-01) has passed: private
    assert r.returncode == 0 and "private leaderboard" in r.stdout, r.stdout
    top = max(results[s.uid]["extra"]["model"]["private"] for s in students if s.kind != "hostile")
    assert r.stdout.splitlines()[1].split()[-1] == f"{top:.4f}"
    # The class report carries the same board, the instructor's view (student ids too).
    r = grade(course, "report", ID, "--db", db, "--format", "json", "-o", str(tmp_path / "report.json"))
    assert r.returncode == 0, r.stderr
    board = json.loads((tmp_path / "report.json").read_text())["leaderboard"]
    assert board["phase"] == "private" and len(board["entries"]) == 11 and board["unscored"] == 10
    first = board["entries"][0]
    assert first["score"] == pytest.approx(top, abs=1e-6) and results[first["student"]]["extra"]["model"]["private"] == top
    r = grade(course, "report", ID, "--db", db, "-o", str(tmp_path / "report.html"))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert 'id="leaderboard"' in page and "Team 1" in page and f"{top:.4f}" in page


def test_new_model_files_beside_an_unchanged_notebook_are_regraded(model_course, graded_class, tmp_path):  # noqa: ANN001
    """The gradebook keys a submission by its notebook: a rerun of the batch with new predictions
    (the same notebook) regrades that student only, and the others stay unchanged."""
    import shutil

    work, course, students = model_course
    _, _, _, db = graded_class
    copy = tmp_path / "class.db"
    shutil.copy(db.removeprefix("sqlite:///"), copy)
    s = next(s for s in students if s.uid == "3101")
    labels = heldout(load_assignment(ID, course).model, SECRET, True).y  # now every label right
    changed = dataclasses.replace(s, files={"predictions.csv": b"id,label\n" + "".join(
        f"{i},{v}\n" for i, v in enumerate(labels)).encode()})
    zpath = write_canvas_zip(tmp_path / "again.zip", [changed if x is s else x for x in students])
    r = grade(course, "batch", str(zpath), "--assignment", ID, "--db", f"sqlite:///{copy}", "--out",
              str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["graded"] == 1 and summary["skipped"] == len(students) - 1, summary
    result = json.loads((tmp_path / "out" / "3101" / "result.json").read_text())
    assert result["extra"]["model"]["private"] == 1.0 and result["extra"]["model"]["points"] == 10.0


def test_grade_submit_and_check_take_a_folder(model_course, tmp_path):  # noqa: ANN001
    _, course, students = model_course
    best = students[0]
    folder = write_folder(tmp_path / "alice", best)
    r = grade(course, "check", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    check = json.loads(r.stdout)
    test = next(t for t in check["tests"] if t["name"] == model_scoring.PUBLIC_TEST)
    assert "loads into build_model(): 650 values" in test["message"], test
    r = grade(course, "submit", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["extra"]["model"]["points"] == 10.0
    (folder / "model.safetensors").rename(folder / "model.pt")
    r = grade(course, "submit", str(folder), "--json")
    private = next(t for t in json.loads(r.stdout)["tests"] if t["name"] == model_scoring.PRIVATE_TEST)
    assert "model.pt is pickle-based" in private["message"] and "save_file" in private["message"]
    (folder / "second.ipynb").write_text("{}")
    r = grade(course, "submit", str(folder))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "2 notebooks" in r.stderr


def test_grade_data_writes_the_unlabeled_test_inputs(model_course, tmp_path):  # noqa: ANN001
    _, course, _ = model_course
    r = grade(course, "data", ID, str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "data" / "digits_test.npz", allow_pickle=False) as f:
        assert set(f.files) == {"X", "id"} and f["X"].shape == (450, 64)
        settings = load_assignment(ID, course).model
        assert np.array_equal(f["X"], heldout(settings, SECRET, for_predictions=True).X)


# --------------------------------------------------------------------------- labels


def test_labels_never_enter_the_sandbox(model_course, monkeypatch, tmp_path):  # noqa: ANN001
    """A model that searches its whole process for the labels finds none: with them it would
    answer perfectly; what it scores is what its weights score. Every array the judge sends is
    recorded: the inputs (float32, shape (n, 1, 8, 8)) and the weights, never an integer array."""
    from grader.judge import remote
    from grader.judge.pipeline import grade as grade_nb
    from grader.judge.untrusted_safetensors import write_safetensors

    work, course, students = model_course
    monkeypatch.setenv("GRADER_SECRET", SECRET)
    spec = load_assignment(ID, course)
    spec = dataclasses.replace(spec, limits=dataclasses.replace(spec.limits, call_seconds=20))
    s = next(s for s in students if s.kind == "weights" and s.uid == "3003")
    weights = write_safetensors(tmp_path / "model.safetensors", s.weights)
    sent: list[np.ndarray] = []
    exchange = remote._exchange

    def spy(session, header, arrays, label):  # noqa: ANN001, ANN202
        sent.extend(np.array(a) for a in arrays)
        sent.append(np.array(json.dumps(header)))
        return exchange(session, header, arrays, label)

    monkeypatch.setattr(remote, "_exchange", spy)
    snoop = TORCH_NOTEBOOK + '''
import gc
import numpy as np

class Snoop(torch.nn.Sequential):
    """Scores perfectly if any integer array of 0-9 labels of the batch's length is in the process."""
    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def forward(self, x):
        out = super().forward(x)
        for obj in gc.get_objects():
            if isinstance(obj, np.ndarray) and obj.dtype.kind in "iu" and obj.ndim == 1 and len(obj) >= len(x):
                if obj.min() >= 0 and obj.max() <= 9:
                    return torch.nn.functional.one_hot(torch.from_numpy(obj[:len(x)].astype(np.int64)), 10).float()
        return out

def build_model():
    return Snoop()
'''
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": snoop}]}
    result = grade_nb(nb, spec, files={"model.safetensors": weights})
    model = result.extra["model"]
    acc, _ = _expected(s, spec.model)
    assert abs(model["private"] - acc) <= 2 / 315 and acc < 0.95, (model, acc)  # the weights' own score
    y = heldout(spec.model, SECRET, False).y
    arrays = [a for a in sent if a.dtype.kind != "U"]
    assert arrays and not any(a.dtype.kind in "iub" for a in arrays), {a.dtype for a in arrays}
    inputs = [a for a in arrays if a.shape[1:] == (1, 8, 8)]
    assert sum(len(a) for a in inputs) == len(y) and all(a.dtype == np.float32 for a in inputs)
    headers = " ".join(str(a) for a in sent if a.dtype.kind == "U")
    assert json.dumps(y[:20].tolist())[1:-1] not in headers
    gc.collect()


# --------------------------------------------------------------------------- pieces


def test_metrics_and_cutoffs():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert metric("accuracy", y, np.array([0, 0, 1, 0, 2, 1])) == pytest.approx(4 / 6)
    f1 = np.mean([2 * 2 / (3 + 2), 2 * 1 / (2 + 2), 2 * 1 / (1 + 2)])
    assert metric("macro_f1", y, np.array([0, 0, 1, 0, 2, 1])) == pytest.approx(f1, rel=1e-12)
    logits = np.log(np.array([[0.5, 0.25, 0.25]] * 6))
    assert metric("loss", y, None, logits) == pytest.approx(-np.mean(np.log([0.5, 0.5, 0.25, 0.25, 0.25, 0.25])),
                                                           rel=1e-12)
    cut = ((0.5, 0.0), (0.8, 0.6), (0.9, 1.0))
    assert [cutoff_fraction(v, cut) for v in (0.1, 0.5, 0.65, 0.8, 0.85, 0.9, 1.0)] == pytest.approx(
        [0, 0, 0.3, 0.6, 0.8, 1.0, 1.0], abs=1e-12)
    loss_cut = ((2.0, 0.0), (0.5, 1.0))  # a loss: lower is better
    assert cutoff_fraction(1.25, loss_cut, higher_is_better=False) == pytest.approx(0.5, abs=1e-12)
    assert cutoff_fraction(float("nan"), loss_cut, higher_is_better=False) == 0.0
    public, private = split_rows(450, 0.3, "digits", "a")
    assert len(public) == 135 and len(np.intersect1d(public, private)) == 0 and len(public) + len(private) == 450
    assert not np.array_equal(public, split_rows(450, 0.3, "digits", "b")[0])


@pytest.mark.parametrize("text, words", [
    ("id,label\n0,1\n0,2\n", "id 0 appears twice (first on line 2)"),
    ("id,label\n0,1\n1,2\n3,1\n", "3 is not a test id (they are 0 to 2)"),
    ("id,label\n0,1\n", "2 of 3 test ids have no prediction (first: 1, 2)"),
    ("id,label\n0,1\n1,x\n", "the label 'x' is not a class"),
    ("id,label\n0,1\n1,10\n", "the label '10' is not a class"),
    ("idx,y\n0,1\n", "header id,label"),
    ("id,label\n0,1,2\n", "two fields"),
    ("id,label\n" + "9" * 300 + ",1\n", "longer than 200"),
    ("id,label\n" + "\n".join(f"{i},0" for i in range(500)), "lines for 3 test ids"),
])
def test_bad_predictions_files(text, words):
    with pytest.raises(BadPredictions) as e:
        parse_predictions(text.encode(), 3, 10)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_model_settings_are_checked(model_course, tmp_path):  # noqa: ANN001
    _, course, _ = model_course
    toml = course / "assignments" / ID / "assignment.toml"
    original = toml.read_text()
    spec = load_assignment(ID, course)
    assert spec.model.input_shape == (1, 8, 8) and spec.model.cutoffs == ((0.5, 0.0), (0.9, 1.0))
    bad = [
        ('weights = "model.safetensors"', 'weights = "model.pt"', "must end in .safetensors"),
        ('metric = "accuracy"', 'metric = "auc"', "model.metric must be one of"),
        ('cutoffs = [[0.5, 0.0], [0.9, 1.0]]', 'cutoffs = [[0.9, 0.0], [0.5, 1.0]]', "must grow"),
        ('cutoffs = [[0.5, 0.0], [0.9, 1.0]]', 'cutoffs = [[0.5, 0.0], [0.9, 1.5]]', "between 0 and 1"),
        ('dataset = "digits"', 'dataset = "cifar"', "model.dataset must be one of"),
        ('public_fraction = 0.3', 'public_fraction = 1', "between 0 and 1"),
        ('points = 10', 'pointz = 10', "did you mean 'model.points'"),
    ]
    try:
        for old, new, words in bad:
            toml.write_text(original.replace(old, new))
            with pytest.raises(AssignmentError, match=words):
                load_assignment(ID, course)
    finally:
        toml.write_text(original)


def test_intake_keeps_model_files_with_their_student_in_every_layout(tmp_path):
    """Moodle, Gradescope and student folders keep the [model] files with their notebook; Canvas's
    renamed copy matches by its original name and the exact name wins; other files are skipped."""
    import zipfile

    from grader.batch.intake import read_intake

    keep = ("model.safetensors", "predictions.csv")
    nb = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

    def zipped(name: str, entries: dict[str, bytes]) -> Path:
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            for entry, data in entries.items():
                zf.writestr(entry, data)
        return tmp_path / name

    moodle = read_intake(zipped("moodle.zip", {
        "Jane Doe_12345_assignsubmission_file/mdl.ipynb": nb,
        "Jane Doe_12345_assignsubmission_file/model.safetensors": b"W1",
        "Jane Doe_12345_assignsubmission_file/notes.txt": b"x",
        "Bob Roe_12346_assignsubmission_file/mdl.ipynb": nb,
        "Bob Roe_12346_assignsubmission_file/predictions.csv": b"P2"}), ID, keep=keep)
    assert moodle.kind == "moodle"
    assert [(f.name, f.read()) for f in moodle.picked["12345"].files] == [("model.safetensors", b"W1")]
    assert [(f.name, f.read()) for f in moodle.picked["12346"].files] == [("predictions.csv", b"P2")]
    assert any("notes.txt" in line for line in moodle.skipped)
    gradescope = read_intake(zipped("gs.zip", {
        "export/submission_metadata.yml": b":submission_7:\n  :submitters:\n  - :name: Jo\n    :sid: '77'\n",
        "export/submission_7/mdl.ipynb": nb, "export/submission_7/model.safetensors": b"W7"}), ID, keep=keep)
    assert gradescope.kind == "gradescope"
    assert [(f.name, f.read()) for f in gradescope.picked["77"].files] == [("model.safetensors", b"W7")]
    canvas = read_intake(zipped("canvas.zip", {
        "doejane_4242_901_mdl.ipynb": nb, "doejane_4242_902_model-1.safetensors": b"old",
        "doejane_4242_903_model-2.safetensors": b"new", "roebob_4343_904_mdl.ipynb": nb,
        "roebob_4343_905_model-3.safetensors": b"renamed", "roebob_4343_906_model.safetensors": b"exact"}),
        ID, keep=keep)
    assert [f.read() for f in canvas.picked["4242"].files] == [b"new"]
    assert [f.read() for f in canvas.picked["4343"].files] == [b"exact"]
    folders = tmp_path / "class"
    (folders / "ann").mkdir(parents=True)
    (folders / "ann" / "mdl.ipynb").write_bytes(nb)
    (folders / "ann" / "model.safetensors").write_bytes(b"A" * 3000)
    got = read_intake(folders, ID, keep=keep)
    kept = got.picked["ann"].files[0]
    assert kept.name == "model.safetensors" and kept.read(1) == b"A" * 3000
    (folders / "ann" / "model.safetensors").write_bytes(b"A" * (2 << 20))
    assert read_intake(folders, ID, keep=keep).picked["ann"].files[0].read(1) == "larger than 1 MiB"


def test_gradescope_results_carry_the_public_score_in_leaderboard(model_course, graded_class):  # noqa: ANN001
    """Gradescope's results.json gets the public part's score (never the private one) as its
    `leaderboard` field, valid under the schema written from Gradescope's spec."""
    import lms_containers

    from grader.judge.results import GradingResult, TestResult
    from grader.lms.gradescope import results_json

    _, _, students = model_course
    _, _, results, _ = graded_class
    uid = next(s.uid for s in students if s.kind == "weights")
    r = results[uid]
    result = GradingResult(r["assignment"], r["notebook"], "submit", r["score"], r["max_score"],
                           tuple(TestResult(**{k: t[k] for k in ("name", "suite", "score", "max_score", "status",
                                                                 "message", "visibility")}) for t in r["tests"]),
                           extra=r["extra"])
    data = results_json(result)
    lms_containers.validate(data, "gradescope-results.schema.json")
    assert data["leaderboard"] == [{"name": "accuracy", "value": r["extra"]["model"]["public"], "order": "desc"}]
    hostile = results[next(s.uid for s in students if s.kind == "hostile")]
    assert "leaderboard" not in results_json(dataclasses.replace(result, extra=hostile["extra"]))
