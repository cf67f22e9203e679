"""The `grade` command line, run as a real process (`python -m grader.cli`).

Bad input: exit code 2, one line on stderr starting with "error:", nothing on stdout.
Graded input: exit code 0 whatever the score, result.json and feedback.html in --out.

Grading takes a few seconds, so every grading run happens once, in a module-scoped fixture,
and the tests read its results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_run
import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = REPO / "assignments" / "backprop"
SOLUTION = ASSIGNMENT / "solution.ipynb"
STARTER = ASSIGNMENT / "starter.ipynb"
EXAMPLE = ASSIGNMENT / "examples" / "submission.ipynb"


def grade(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter; the course is this checkout."""
    return cli_run.grade(*args, cwd=cwd, isolated=True, timeout=300)


class Job:
    """`grade` started in the background, so that independent runs share the CPUs."""

    def __init__(self, *args: str | Path, cwd: Path) -> None:
        self.argv = cli_run.grade_argv(*args)
        self.proc = subprocess.Popen(self.argv, cwd=cwd, env=cli_run.grade_env(isolated=True), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._done: subprocess.CompletedProcess[str] | None = None

    def result(self) -> subprocess.CompletedProcess[str]:
        if self._done is None:
            try:
                out, err = self.proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            self._done = subprocess.CompletedProcess(self.argv, self.proc.returncode, out, err)
        return self._done

    def stop(self) -> None:
        """Kill the run if it is still going (a test failed before reading it)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def write_nb(path: Path, *, assignment: str | None = "backprop", cells: list | None = None) -> Path:
    """A valid nbformat 4 notebook (one code cell by default)."""
    nb = new_notebook(cells=[new_code_cell("x = 1")] if cells is None else cells)
    if assignment is not None:
        nb.metadata["dlgrade"] = {"assignment": assignment}
    nbformat.write(nb, str(path))
    return path


def without_metadata(src: Path, dst: Path) -> Path:
    nb = nbformat.read(str(src), as_version=4)
    nb.metadata.pop("dlgrade", None)
    nbformat.write(nb, str(dst))
    return dst


def public_result(run: subprocess.CompletedProcess[str], out: Path) -> dict:
    assert run.returncode == 0, run.stderr
    return json.loads((out / "result.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- bad input


def _missing(d: Path) -> list:
    return [d / "nope.ipynb"]


def _directory(d: Path) -> list:
    (d / "folder.ipynb").mkdir()
    return [d / "folder.ipynb"]


def _not_json(d: Path) -> list:
    (d / "nb.ipynb").write_text("print('hello')\n", encoding="utf-8")
    return [d / "nb.ipynb"]


def _empty_file(d: Path) -> list:
    (d / "nb.ipynb").write_bytes(b"")
    return [d / "nb.ipynb"]


def _json_object(d: Path) -> list:
    (d / "nb.ipynb").write_text('{"a": 1}', encoding="utf-8")
    return [d / "nb.ipynb"]


def _json_list(d: Path) -> list:
    (d / "nb.ipynb").write_text("[]", encoding="utf-8")
    return [d / "nb.ipynb"]


def _nbformat_v3(d: Path) -> list:
    v3 = nbformat.v3
    nb = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[v3.new_code_cell(input="x = 1")])])
    nb.metadata["dlgrade"] = {"assignment": "backprop"}
    (d / "nb.ipynb").write_text(v3.writes_json(nb), encoding="utf-8")
    assert "worksheets" in json.loads((d / "nb.ipynb").read_text(encoding="utf-8"))
    return [d / "nb.ipynb"]


def _no_cells(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", cells=[])]


def _only_markdown(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", cells=[new_markdown_cell("# Notes"), new_markdown_cell("é")])]


def _latin1(d: Path) -> list:
    nb = new_notebook(cells=[new_markdown_cell("Réseau de neurones"), new_code_cell("x = 1")])
    nb.metadata["dlgrade"] = {"assignment": "backprop"}
    (d / "nb.ipynb").write_bytes(json.dumps(nb, ensure_ascii=False).encode("latin-1"))
    return [d / "nb.ipynb"]


def _unknown_assignment(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", assignment=None), "--assignment", "no_such_assignment"]


def _unknown_in_metadata(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", assignment="no_such_assignment")]


def _wrong_assignment(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", assignment="convnets"), "--assignment", "backprop"]


def _no_assignment(d: Path) -> list:
    return [write_nb(d / "nb.ipynb", assignment=None)]


#: case -> (arguments after the subcommand, words the error line must contain)
BAD_INPUTS = {
    "missing file": (_missing, ["nope.ipynb", "no such file"]),
    "directory": (_directory, ["folder.ipynb", "directory"]),
    "not JSON": (_not_json, ["not valid JSON"]),
    "empty file": (_empty_file, ["not valid JSON"]),
    "JSON object, not a notebook": (_json_object, ["not a Jupyter notebook"]),
    "JSON list, not a notebook": (_json_list, ["not a Jupyter notebook"]),
    "nbformat v3": (_nbformat_v3, ["nbformat 3", "not supported"]),
    "no cells": (_no_cells, ["no code cells"]),
    "only markdown": (_only_markdown, ["no code cells"]),
    "latin-1 bytes": (_latin1, ["UTF-8"]),
    "unknown --assignment": (_unknown_assignment, ["unknown assignment", "no_such_assignment"]),
    "unknown assignment in metadata": (_unknown_in_metadata, ["unknown assignment", "no_such_assignment"]),
    "wrong assignment": (_wrong_assignment, ["convnets", "backprop"]),
    "no assignment": (_no_assignment, ["no assignment", "--assignment"]),
}


# `check` shares submit's input handling: two cases are enough there.
COMMAND_CASES = [("submit", case) for case in BAD_INPUTS]
COMMAND_CASES += [("check", "not JSON"), ("check", "wrong assignment")]


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory: pytest.TempPathFactory,
             gradings) -> Iterator[dict[tuple[str, str], tuple[Job, Path]]]:
    """Every bad-input case started at once (each is a fresh interpreter of ~0.4 s).

    Asks for `gradings` only to start those first: everything then shares the CPUs.
    """
    jobs = {}
    for i, (command, case) in enumerate(COMMAND_CASES):
        folder = tmp_path_factory.mktemp(f"bad{i}")
        args = BAD_INPUTS[case][0](folder)
        jobs[command, case] = Job(command, *args, "--out", folder / "out", cwd=folder), folder / "out"
    yield jobs
    for job, _ in jobs.values():
        job.stop()


@pytest.mark.parametrize(("command", "case"), COMMAND_CASES, ids=[f"{c}-{k}" for c, k in COMMAND_CASES])
def test_bad_input_exits_2_with_one_error_line(command: str, case: str, bad_runs) -> None:
    job, out = bad_runs[command, case]
    run = job.result()
    words = BAD_INPUTS[case][1]
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{run.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert not out.exists(), "nothing is written for input that cannot be graded"


def test_bad_option_exits_2(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "nb.ipynb")
    run = grade("submit", nb, "--sandbox", "vm", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "--sandbox" in run.stderr


# --------------------------------------------------------------------------- gradings (run once)


@pytest.fixture(scope="module")
def gradings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Job, Path]]]:
    """All the gradings of this file, started together (each takes a few seconds).

    - starter: the starter notebook (score 0), submit, output for people;
    - check: the solution without its metadata, `check --assignment backprop --json`;
    - example0..2: the example submission (partial score), submit, for people (recorded in a
      gradebook with --db), with --json and with --quiet; the three must agree (they also run
      side by side with the others).
    """
    work = tmp_path_factory.mktemp("gradings")
    nb = without_metadata(SOLUTION, work / "solution-no-metadata.ipynb")
    specs = {
        "starter": ("submit", STARTER),
        "check": ("check", nb, "--assignment", "backprop", "--json"),
        "example0": ("submit", EXAMPLE, "--db", f"sqlite:///{work / 'gb.db'}", "--student", "s42"),
        "example1": ("submit", EXAMPLE, "--json"),
        "example2": ("submit", EXAMPLE, "--quiet"),
    }
    jobs = {name: (Job(*args, "--out", work / f"{name}-out", cwd=work), work / f"{name}-out")
            for name, args in specs.items()}
    yield jobs
    for job, _ in jobs.values():
        job.stop()


def finished(gradings: dict, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    job, out = gradings[name]
    return job.result(), out


@pytest.fixture(scope="module")
def starter_run(gradings) -> tuple[subprocess.CompletedProcess[str], Path]:
    return finished(gradings, "starter")


@pytest.fixture(scope="module")
def check_run(gradings) -> tuple[subprocess.CompletedProcess[str], Path]:
    return finished(gradings, "check")


@pytest.fixture(scope="module")
def example_runs(gradings) -> list[tuple[subprocess.CompletedProcess[str], Path]]:
    return [finished(gradings, f"example{i}") for i in range(3)]


def test_starter_scores_zero_and_exits_0(starter_run) -> None:
    run, out = starter_run
    result = public_result(run, out)
    assert result["score"] == 0
    assert result["max_score"] > 0
    assert result["mode"] == "submit"
    assert {t["suite"] for t in result["tests"]} == {"public", "hidden"}
    assert all(t["status"] in ("failed", "error") for t in result["tests"])
    assert (out / "feedback.html").stat().st_size > 0
    assert f"Score: 0 / {result['max_score']:g}" in run.stdout
    assert f"Feedback: {out / 'feedback.html'}" in run.stdout
    assert f"Result:   {out / 'result.json'}" in run.stdout


def test_explicit_assignment_grades_notebook_without_metadata(check_run) -> None:
    run, out = check_run
    result = public_result(run, out)
    assert result["assignment"] == "backprop"
    assert result["score"] == result["max_score"] > 0, [t for t in result["tests"] if t["status"] != "passed"]
    assert (out / "feedback.html").is_file()


def test_check_runs_only_public_tests(check_run) -> None:
    run, out = check_run
    result = public_result(run, out)
    assert result["mode"] == "check"
    assert result["tests"], "no tests ran"
    assert {t["suite"] for t in result["tests"]} == {"public"}
    public_source = (ASSIGNMENT / "tests" / "public" / "test_public.py").read_text(encoding="utf-8")
    for t in result["tests"]:
        assert f"def {t['name'].split('[')[0]}(" in public_source, t["name"]


def test_json_output_matches_result_file(check_run, example_runs) -> None:
    for run, out in [check_run, example_runs[1]]:
        printed = json.loads(run.stdout)  # stdout is the JSON document and nothing else
        written = public_result(run, out)
        assert printed["score"] == written["score"]
        assert printed["max_score"] == written["max_score"]
        assert [(t["name"], t["status"]) for t in printed["tests"]] == \
               [(t["name"], t["status"]) for t in written["tests"]]


def test_example_submission_gets_partial_score(example_runs) -> None:
    run, out = example_runs[0]
    result = public_result(run, out)
    assert 0 < result["score"] < result["max_score"]
    failing = {t["name"] for t in result["tests"] if t["status"] != "passed"}
    assert {"test_affine_backward_small", "test_softmax_loss_large_scores", "test_relu_small"} <= failing
    assert "test_best_net_accuracy" not in failing
    assert f"Score: {result['score']:g} / {result['max_score']:g}" in run.stdout
    assert f"Feedback: {out / 'feedback.html'}" in run.stdout


def test_submit_with_db_records_the_grading_and_the_written_answer(example_runs) -> None:
    from grader.gradebook.api import Gradebook
    from grader.gradebook.manual import Manual

    run, out = example_runs[0]
    result = public_result(run, out)
    assert "Recorded in the gradebook for student s42" in run.stderr
    gb = Gradebook.open(f"sqlite:///{out.parent / 'gb.db'}")
    (row,) = gb.students("backprop")
    assert (row.student, row.status, row.score) == ("s42", "graded", result["score"])
    assert row.incomplete and row.manual == {"dead_relu": None} and row.max_score == result["max_score"] + 2
    view = Manual(gb.sessions).answer("backprop", "dead_relu", "s42")
    assert view.text.startswith("A ReLU unit is dead") and view.evidence[0][0] == "test_relu_backward"
    gb.dispose()
    bad = grade("submit", EXAMPLE, "--db", "sqlite:///x.db", cwd=out.parent)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --db and --student go together")


def test_terminal_lists_each_failing_test_with_its_message(example_runs) -> None:
    """Each failing test, one line, with the feedback page's message (hidden ones: the page's note)."""
    run, out = example_runs[0]
    result = public_result(run, out)
    lines = run.stdout.splitlines()
    failing = [t for t in result["tests"] if t["status"] in ("failed", "error", "partial")]
    assert failing
    listed = [ln for ln in lines if ln.startswith(("  FAIL ", "  ERROR ", "  PARTIAL "))]
    assert len(listed) == len(failing), lines
    assert lines.index(listed[-1]) < next(i for i, ln in enumerate(lines) if ln.startswith("Score:"))
    for t, line in zip(failing, listed):
        assert f" {t['name']} (" in line
        if t["visibility"] == "visible":
            assert line.endswith(": " + " ".join(t["message"].split())[:300]), (line, t["message"])
        elif t["visibility"] == "hidden":
            assert line.endswith(": hidden test"), line
    relu = next(ln for ln in listed if " test_relu_small " in ln)
    assert "relu" in relu.split("): ", 1)[1]


def test_quiet_keeps_only_dots_and_score(example_runs) -> None:
    run, out = example_runs[2]
    assert public_result(run, out)["score"] > 0
    assert not [ln for ln in run.stdout.splitlines() if ln.startswith(("  FAIL", "  ERROR", "  PARTIAL"))]
    assert run.stdout.startswith("Score: ")
    assert "F" in run.stderr and "." in run.stderr  # the progress dots


def _verdicts(result: dict) -> dict:
    return {
        "score": result["score"],
        "max_score": result["max_score"],
        "tests": [(t["name"], t["suite"], t["status"], t["score"], t["message"]) for t in result["tests"]],
        "cells": [(c["index"], c["status"], c["message"], c["outputs"]) for c in result["cells"]],
        "errors": list(result["errors"]),
    }


def _differences(a: dict, b: dict) -> list[str]:
    diffs = [f"{k}: {a[k]!r} != {b[k]!r}" for k in ("score", "max_score", "errors") if a[k] != b[k]]
    diffs += [f"test {x} != {y}" for x, y in zip(a["tests"], b["tests"]) if x != y]
    diffs += [f"cell {x[:3]} != {y[:3]}" for x, y in zip(a["cells"], b["cells"]) if x != y]
    if len(a["tests"]) != len(b["tests"]) or len(a["cells"]) != len(b["cells"]):
        diffs.append("different numbers of tests or cells")
    return diffs


def test_grading_is_reproducible(example_runs) -> None:
    verdicts = [_verdicts(public_result(run, out)) for run, out in example_runs]
    for i in (1, 2):
        diffs = _differences(verdicts[0], verdicts[i])
        assert not diffs, f"run 0 and run {i} differ:\n" + "\n".join(diffs)


# --------------------------------------------------------------------------- list, data


def test_list_shows_backprop(tmp_path: Path) -> None:
    run = grade("list", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert any(line.split()[:1] == ["backprop"] for line in run.stdout.splitlines()), run.stdout


def test_data_writes_public_digits(tmp_path: Path) -> None:
    target = tmp_path / "mydata"
    run = grade("data", "backprop", target, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    path = target / "digits_train.npz"
    assert str(path) in run.stdout
    with np.load(path) as data:
        X, y = data["X"], data["y"]
    assert X.ndim == 2 and X.shape[1] == 64 and X.dtype == np.float64
    assert y.shape == (X.shape[0],) and np.issubdtype(y.dtype, np.integer)
    assert X.shape[0] > 100 and set(np.unique(y)) <= set(range(10))


def test_data_unknown_assignment_exits_2(tmp_path: Path) -> None:
    run = grade("data", "no_such_assignment", tmp_path / "d", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.startswith("error: ") and len(run.stderr.splitlines()) == 1


def test_check_names_the_mistake_and_warns_in_one_line(tmp_path: Path) -> None:
    """`grade check` of a notebook that averages dw over the batch, where bwrap cannot be found:
    a hint line names the mistake (its probe matched), and the missing isolation is one plain
    warning line, without Python's source path and code line."""
    from notebook_variants import Case, write_variant

    case = Case("dw_averaged", (("    dw = x_flat.T @ dout\n", "    dw = x_flat.T @ dout / x.shape[0]\n"),))
    notebook = write_variant(SOLUTION, case, tmp_path)
    r = cli_run.grade("check", notebook, "--out", tmp_path / "out", cwd=tmp_path,
                      env={"PATH": str(Path(sys.executable).parent)})  # no bwrap on this PATH
    assert "Score: 4 / 5" in r.stdout, r.stdout + r.stderr
    assert ("hint: test_affine_backward_small: it looks like you averaged dw over the batch instead of "
            "summing it. Every example contributes") in r.stdout
    assert "db over the batch" not in r.stdout  # db is right: no diagnosis for it
    warned = [line for line in r.stderr.splitlines() if "WITHOUT isolation" in line]
    assert warned == ["warning: bubblewrap (bwrap) is not installed: the notebook runs WITHOUT isolation "
                      "(install the 'bubblewrap' package)"], r.stderr
    assert "NotIsolatedWarning" not in r.stderr and ".py:" not in r.stderr
