"""PrairieLearn: `grade submit --format prairielearn`, and the built grader in a /grade container.

Stand-in for PrairieLearn's grader host (which cannot run here): the image is built from
`grade prairielearn build`'s context with the offline Debian base as BASE; then, as the host
does, a fresh container per submission with the student's files in /grade/student, the
question's tests/ in /grade/tests and data.json in /grade/data, running the entrypoint as root.
The script itself creates /grade/results. Every results.json is checked against a JSON Schema
written from PrairieLearn's docs, and against the 1 MB limit.
"""

from __future__ import annotations

import json
from pathlib import Path

import lms_containers as lc
import pytest
from cli_run import grade

# Shares lms_containers' image, wheelhouse and leftover-container check with
# test_lms_gradescope_container.py: the same xdist group, so one worker runs both.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("lms-containers")]

ROOT = Path(__file__).resolve().parent.parent
BACKPROP = ROOT / "assignments" / "backprop"
IMAGE = "dlgrade-lms-prairielearn:test"
HOSTILE = r'''
import json, os
tried = []
for p in ("/grade/results/results.json", "/grade/results"):
    try:
        if p.endswith(".json"):
            open(p, "w").write(json.dumps({"score": 1.0, "gradable": True}))
        else:
            os.listdir(p)
        tried.append("OK " + p)
    except Exception as e:
        tried.append("DENIED %s %s" % (p, type(e).__name__))
for p in ("/grade/tests", "/grade/tests/course/assignments/backprop/tests/hidden/test_affine.py",
          "/grade/student"):
    try:
        (os.listdir(p) if os.path.isdir(p) else open(p).read())
        tried.append("OK " + p)
    except Exception as e:
        tried.append("DENIED %s %s" % (p, type(e).__name__))
print(tried)
open("/exfil/loot.txt", "w").write("\n".join(tried))
'''


def test_submit_format_prairielearn_writes_schema_valid_results(tmp_path):
    out = tmp_path / "out"
    proc = grade("submit", str(BACKPROP / "examples" / "submission.ipynb"), "--format", "prairielearn",
                      "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    written = json.loads((out / "results.json").read_text())
    assert printed == written
    lc.validate(written, "prairielearn-results.schema.json")
    result = json.loads((out / "result.json").read_text())
    assert written["gradable"] is True
    assert written["score"] == pytest.approx(result["score"] / result["max_score"], abs=1e-6)
    assert 0 < written["score"] < 1
    assert [t["points"] for t in written["tests"]] == [t["score"] for t in result["tests"]]
    assert len((out / "results.json").read_bytes()) < 1_000_000


def test_submit_format_prairielearn_bad_input_is_not_gradable(tmp_path):
    bad = tmp_path / "hw.ipynb"
    bad.write_text('{"cells": [')
    out = tmp_path / "out"
    proc = grade("submit", str(bad), "--assignment", "backprop", "--format", "prairielearn", "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    data = json.loads((out / "results.json").read_text())
    lc.validate(data, "prairielearn-results.schema.json")
    assert data["gradable"] is False and "not valid JSON" in data["format_errors"][0]


def test_instructor_only_messages_stay_out_of_what_students_see():
    from grader.judge.results import GradingResult, TestResult
    from grader.lms import gradescope, prairielearn

    tests = (TestResult("test_open", "public", 1, 1, "passed", "fine"),
             TestResult("test_secret", "hidden", 0, 2, "failed", "expected 42 from the held-out set",
                        visibility="hidden"),
             TestResult("test_later", "hidden", 0, 1, "failed", "due-date detail", visibility="after_due_date"))
    result = GradingResult("backprop", "n.ipynb", "submit", 1, 4, tests)
    pl = prairielearn.results_json(result)
    lc.validate(pl, "prairielearn-results.schema.json")
    assert pl["score"] == 0.25 and pl["tests"][0]["message"] == "fine"
    assert "42" not in json.dumps(pl) and "due-date detail" not in json.dumps(pl)
    gs = gradescope.results_json(result, hidden_visibility="after_due_date")
    lc.validate(gs, "gradescope-results.schema.json")
    assert [t["visibility"] for t in gs["tests"]] == ["visible", "after_due_date", "after_due_date"]
    assert "42" not in json.dumps(gs) and gradescope.HIDDEN_DETAILS in gs["tests"][1]["output"]
    assert "expected 42" in gradescope.instructor_details(result)  # stdout: instructors only


def test_prairielearn_results_stay_under_one_megabyte():
    from grader.judge.results import GradingResult, TestResult
    from grader.lms.prairielearn import MAX_BYTES, encode, results_json

    tests = tuple(TestResult(name=f"test_{i}", suite="public", score=0, max_score=1, status="failed",
                             message="x" * 100_000) for i in range(200))
    data = results_json(GradingResult("a", "n.ipynb", "submit", 0, 200, tests))
    lc.validate(data, "prairielearn-results.schema.json")
    assert len(encode(data)) < MAX_BYTES and len(data["tests"]) == 200


def grade_in_prairielearn(client, tests: dict[str, bytes], notebook: bytes, exfil: Path | None = None) -> dict:
    from grader.lms.prairielearn import ENTRYPOINT

    volumes = {str(exfil): {"bind": "/exfil", "mode": "rw"}} if exfil else None
    logs, got = lc.run_container(
        client, IMAGE, ["bash", "-c", f"chmod +x {ENTRYPOINT} && {ENTRYPOINT}"],
        {"/": {"grade/student/hw1.ipynb": notebook, "grade/data/data.json": b'{"params": {}}',
               **{f"grade/tests/{k}": v for k, v in tests.items()}}},
        volumes=volumes, mem="2g", want=("/grade/results/results.json",))
    raw = got["/grade/results/results.json"]
    assert raw is not None, logs[-3000:]
    assert len(raw) < 1_000_000
    data = json.loads(raw)
    lc.validate(data, "prairielearn-results.schema.json")
    return data


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The built grader image, and every case graded once in its own container."""
    from grader.lms import prairielearn as pl

    client = lc.docker_client()
    work = tmp_path_factory.mktemp("pl")
    out = pl.build("backprop", work / "build", offline=True, log=lambda m: None)
    info = json.loads((out / "question" / "info.json").read_text())
    assert info["externalGradingOptions"]["entrypoint"] == pl.ENTRYPOINT
    assert not list((out / "image").rglob("test_affine.py"))  # nothing secret in the image
    # BASE: any image with Python; the Gradescope stand-in (same offline Debian, same wheels)
    # is already built, so setup.sh finds its venv and the build takes seconds, not minutes.
    base = lc.gradescope_image(client, work)
    seconds = lc.build_image(client, out / "image", IMAGE, {"BASE": base})
    print(f"\nprairielearn image built in {seconds:.0f} s")
    tests = {str(p.relative_to(out / "question" / "tests")): p.read_bytes()
             for p in sorted((out / "question" / "tests").rglob("*")) if p.is_file()}
    exfil = work / "exfil"
    exfil.mkdir()
    exfil.chmod(0o777)
    nb = json.loads((BACKPROP / "starter.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": HOSTILE})
    cases = {"solution": dict(notebook=(BACKPROP / "solution.ipynb").read_bytes()),
             "bad": dict(notebook=b"\x89PNG not a notebook"),
             "hostile": dict(notebook=json.dumps(nb).encode(), exfil=exfil)}
    results = lc.run_all(lambda kw: grade_in_prairielearn(client, tests, **kw), cases)
    results["loot"] = (exfil / "loot.txt").read_text().splitlines() if (exfil / "loot.txt").exists() else []
    yield results
    assert lc.leftover_containers(client) == []


@pytest.mark.docker
@pytest.mark.slow
def test_prairielearn_image_grades_solution_and_bad_input(graded):
    data = graded["solution"]
    assert data["gradable"] is True and data["score"] == 1.0, data["message"]
    assert sum(t["points"] for t in data["tests"]) == sum(t["max_points"] for t in data["tests"]) == 45
    bad = graded["bad"]
    assert bad["gradable"] is False and bad["score"] == 0 and bad["format_errors"]


@pytest.mark.docker
@pytest.mark.slow
def test_prairielearn_image_hostile_reaches_neither_tests_nor_results(graded):
    data = graded["hostile"]
    assert data["gradable"] is True and data["score"] == 0
    loot = graded["loot"]
    assert len(loot) == 5 and all(line.startswith("DENIED") for line in loot), loot
