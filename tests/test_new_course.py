"""`grade new-course DIR`: a skeleton course that `grade validate` passes, and that the course
folder (not the package) feeds everything else: an LMS bundle and the cluster's course digest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def grade(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DLGRADE_COURSE"}
    base["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("new") / "course"
    run = grade("new-course", course, cwd=course.parent)
    assert run.returncode == 0, run.stderr
    return course


def test_skeleton_validates(skeleton):
    run = grade("validate", cwd=skeleton.parent, env={"DLGRADE_COURSE": str(skeleton)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hello: ok; solution 6/6; starter 0/6; mutating stub 0/6; tests: 2 public, 2 hidden" in run.stdout


def test_skeleton_layout(skeleton):
    hello = skeleton / "assignments" / "hello"
    for rel in ("assignment.toml", "solution.ipynb", "starter.ipynb", "tests/public/test_public.py",
                "tests/hidden/test_hidden.py"):
        assert (hello / rel).is_file(), rel
    assert (skeleton / "templates" / "feedback.html.j2").is_file()
    assert "return x * x" not in (hello / "starter.ipynb").read_text()


def test_new_course_refuses_a_folder_in_use(skeleton, tmp_path):
    run = grade("init", skeleton, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("error:") and len(run.stderr.splitlines()) == 1
    assert run.stdout == ""


def test_bundle_and_digest_come_from_the_course_folder(skeleton, tmp_path):
    from grader.course.assignment import course_digest
    from grader.lms import gradescope

    zip_path = gradescope.build("hello", tmp_path / "hello.zip", course=skeleton, log=lambda m: None)
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        hidden = zf.read("course/assignments/hello/tests/hidden/test_hidden.py")
    assert hidden == (skeleton / "assignments" / "hello" / "tests" / "hidden" / "test_hidden.py").read_bytes()
    assert not [n for n in names if n.startswith("course/assignments/backprop")]
    before = course_digest(skeleton)
    assert before != course_digest(REPO)
    (skeleton / "reference" / "extra.py").write_text("X = 1\n")
    try:
        assert course_digest(skeleton) != before
    finally:
        (skeleton / "reference" / "extra.py").unlink()
