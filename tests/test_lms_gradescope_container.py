"""The Gradescope autograder zip, run in a container laid out like Gradescope's.

Stand-in for Gradescope (which cannot run here): the image is the offline Debian base with the
zip extracted to /autograder/source, run_autograder copied to /autograder/run_autograder and
setup.sh run at image build, as Gradescope's sample Dockerfile does; then a fresh container per
submission with the notebook in /autograder/submission, submission_metadata.json beside it, and
/autograder/run_autograder run as root. Every results.json is checked against a JSON Schema
written from Gradescope's spec.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lms_containers as lc
import pytest

# lms_containers: one image tag, one offline wheelhouse and a check that no container with its
# label is left, all machine-wide: the LMS container modules share an xdist group (one worker).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.xdist_group("lms-containers")]

ROOT = Path(__file__).resolve().parent.parent
BACKPROP = ROOT / "assignments" / "backprop"
METADATA = {
    "id": 123456, "created_at": "2026-12-02T01:30:00.000000-08:00", "submission_method": "upload",
    "assignment": {"due_date": "2026-12-01T23:59:00.000000-08:00", "late_due_date": None, "group_size": None,
                   "group_submission": False, "id": 42, "course_id": 7, "release_date": "2026-11-01T00:00:00-08:00",
                   "title": "Backprop", "total_points": "45.0"},
    "users": [{"email": "ada@example.edu", "id": 1001, "name": "Ada Student"}],
    "previous_submissions": [],
}
HOSTILE_WRITE = r'''
import json, os, subprocess, sys
forged = json.dumps({"score": 1000.0, "output": "forged", "tests": []})
tried = {}
for p in ("/autograder/results/results.json", "/autograder/results/extra.json"):
    try:
        with open(p, "w") as f:
            f.write(forged)
        tried[p] = "written"
    except Exception as e:
        tried[p] = type(e).__name__
try:
    os.chmod("/autograder/results", 0o777); tried["chmod"] = "done"
except Exception as e:
    tried["chmod"] = type(e).__name__
# A daemon in its own session keeps trying after the grader is done with this notebook.
loop = ("import time\nfor _ in range(120):\n    try:\n        open('/autograder/results/results.json', 'w')"
        ".write(%r)\n    except Exception:\n        pass\n    time.sleep(0.05)\n" % forged)
subprocess.Popen([sys.executable, "-c", loop], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(tried)
'''
HOSTILE_READ = r'''
import glob, os
loot = ["uid %d" % os.getuid()]
for target in ("/autograder/source", "/autograder/source/course/assignments/backprop/tests/hidden",
               "/autograder/source/course/assignments/backprop/tests/hidden/test_affine.py",
               "/autograder/source/course/reference/backprop.py", "/autograder/source/dlgrade.json",
               "/autograder/submission_metadata.json", "/autograder/submission", "/autograder/results",
               "/opt/dlgrade-grader/venv/lib/python3.11/site-packages/grader",
               "/opt/dlgrade-grader/venv/lib/python3.11/site-packages/grader/judge/pipeline.py"):
    try:
        if os.path.isdir(target):
            loot.append("LISTED %s %s" % (target, os.listdir(target)))
        else:
            loot.append("READ %s %s" % (target, open(target).read()[:300]))
    except Exception as e:
        loot.append("DENIED %s %s" % (target, type(e).__name__))
loot += ["GLOB " + p for p in glob.glob("/autograder/source/**/*.py", recursive=True)]
for top, dirs, files in os.walk("/"):
    if top.startswith(("/proc", "/sys", "/exfil", "/dev")):
        dirs[:] = []
        continue
    for name in files:
        if (name.startswith("test_") and top.endswith("/hidden")) or (name == "backprop.py" and
                                                                     top.endswith("/reference")):
            loot.append("FOUND " + os.path.join(top, name))
with open("/exfil/loot.txt", "w") as f:
    f.write("\n".join(loot))
'''


def notebook_with(base: Path, *extra: str) -> bytes:
    nb = json.loads(base.read_text())
    for code in extra:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                            "source": code})
    return json.dumps(nb).encode()


def grade_in_gradescope(client, image: str, notebook: bytes, name: str = "submission.ipynb",
                        exfil: Path | None = None, after: float = 0.0) -> tuple[dict, str]:
    """One submission in a fresh container; (results.json, the container's output)."""
    command = ["bash", "-c", f"/autograder/run_autograder; sleep {after}"]
    volumes = {str(exfil): {"bind": "/exfil", "mode": "rw"}} if exfil else None
    logs, got = lc.run_container(
        client, image, command,
        {"/autograder/submission": {name: notebook},
         "/autograder": {"submission_metadata.json": json.dumps(METADATA).encode()}},
        volumes=volumes, mem="768m", want=("/autograder/results/results.json",))
    raw = got["/autograder/results/results.json"]
    assert raw is not None, logs[-3000:]
    data = json.loads(raw)
    lc.validate(data, "gradescope-results.schema.json")
    return data, logs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every case, graded once (concurrently) in its own container: name -> (results.json, logs)."""
    client = lc.docker_client()
    image = lc.gradescope_image(client, tmp_path_factory.mktemp("gradescope"))
    exfil = tmp_path_factory.mktemp("exfil")
    exfil.chmod(0o777)
    cases = {
        "solution": dict(notebook=(BACKPROP / "solution.ipynb").read_bytes()),
        "buggy": dict(notebook=(BACKPROP / "examples" / "submission.ipynb").read_bytes()),
        "malformed": dict(notebook=b'{"cells": [', name="hw.ipynb"),
        # the daemon it leaves behind outlives the grading: results.json is read 4 s later
        "rewrite": dict(notebook=notebook_with(BACKPROP / "starter.ipynb", HOSTILE_WRITE), after=4),
        "read": dict(notebook=notebook_with(BACKPROP / "starter.ipynb", HOSTILE_READ), exfil=exfil),
    }
    out = lc.run_all(lambda kw: grade_in_gradescope(client, image, **kw), cases)
    out["loot"] = (exfil / "loot.txt").read_text().splitlines() if (exfil / "loot.txt").exists() else []
    yield out
    assert lc.leftover_containers(client) == []
    shutil.rmtree(exfil, ignore_errors=True)


def test_gradescope_solution_gets_full_marks_with_lateness(graded):
    data, logs = graded["solution"]
    assert data["score"] == 45 and data["extra_data"]["dlgrade"]["max_score"] == 45, data["output"]
    assert sum(t["score"] for t in data["tests"]) == 45
    assert all(t["status"] == "passed" for t in data["tests"])
    assert {t["visibility"] for t in data["tests"] if "hidden" in t["tags"]} == {"after_published"}
    assert {t["visibility"] for t in data["tests"] if "public" in t["tags"]} == {"visible"}
    # created_at is 1 h 31 min after the due date (both with offsets)
    assert "Submitted 1 h 31 min after the due date" in data["output"]
    assert data["extra_data"]["dlgrade"]["late_seconds"] == 91 * 60
    assert data["extra_data"]["dlgrade"]["users"] == ["1001"]
    assert "WITHOUT isolation" in data["output"]  # no bwrap in this container: said, not hidden


def test_gradescope_buggy_notebook_gets_partial_marks(graded):
    data, _ = graded["buggy"]
    assert 0 < data["score"] < 45
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert failed and all(t["score"] < t["max_score"] for t in failed)
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]), abs=1e-6)


def test_gradescope_malformed_notebook_still_gets_results(graded):
    data, _ = graded["malformed"]
    assert data["score"] == 0 and data["tests"] == []
    assert data["output"].startswith("Not graded:") and "not valid JSON" in data["output"]


def test_gradescope_hostile_cannot_rewrite_results(graded):
    data, logs = graded["rewrite"]
    assert data["score"] == 0 and data["output"] != "forged"
    assert len(data["tests"]) > 20 and all(t["score"] == 0 for t in data["tests"])


def test_gradescope_hostile_cannot_read_the_source(graded):
    data, _ = graded["read"]
    assert data["score"] == 0
    loot = graded["loot"]
    assert loot, "the hostile notebook wrote nothing to /exfil"
    assert loot[0] != "uid 0"
    denied = [line for line in loot if line.startswith("DENIED")]
    assert len(denied) == 10 and all(line.endswith("PermissionError") for line in denied), loot
    assert not [line for line in loot if line.startswith(("READ", "LISTED", "GLOB", "FOUND"))], loot
    secret = (BACKPROP / "tests" / "hidden" / "test_affine.py").read_text()[:200]
    assert secret not in "\n".join(loot)
