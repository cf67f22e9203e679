"""A tiny course and hostile classes for the intake-isolation tests (tests/test_intake_isolation.py).

The course has one assignment, `tiny`: one hidden test worth 2 points (`square(3) == 9`), so a
class of ten grades in seconds on the process sandbox. `notebook(body)` makes a submission;
CORRECT earns 2, WRONG earns 0.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORRECT = "def square(x):\n    return x * x\n"
WRONG = "def square(x):\n    return 0\n"
#: Raises with a NUL byte in its message: the test's message carries it to the gradebook.
NUL_MESSAGE = "def square(x):\n    raise ValueError('bad\\x00value ' + 'x' * 300)\n"

TINY_TOML = """id = "tiny"
title = "Tiny"

[limits]
cell_seconds = 10
notebook_seconds = 30
call_seconds = 5
"""

TINY_TEST = """import pytest


@pytest.mark.points(2)
def test_square(submission):
    assert submission.square(3) == 9
"""


def notebook(body: str, note: str = "") -> bytes:
    """A `tiny` notebook; `note` (a markdown cell) makes its bytes unique."""
    cells = [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
              "source": body}]
    if note:
        cells.insert(0, {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": note})
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"dlgrade": {"assignment": "tiny"}},
                       "cells": cells}, indent=1).encode()


def tiny_course(root: Path) -> Path:
    """A course folder holding only `tiny` (and the templates)."""
    folder = root / "assignments" / "tiny"
    (folder / "tests" / "hidden").mkdir(parents=True)
    (folder / "tests" / "public").mkdir(parents=True)
    (folder / "assignment.toml").write_text(TINY_TOML)
    (folder / "tests" / "hidden" / "test_square.py").write_text(TINY_TEST)
    (folder / "solution.ipynb").write_bytes(notebook(CORRECT))
    (folder / "starter.ipynb").write_bytes(notebook(WRONG))
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


def batch(intake: Path, course: Path, db: str, out: Path, *extra: str, timeout: float = 300
          ) -> subprocess.CompletedProcess:
    """`grade batch` of `tiny` in a child process; `.maxrss_kib` is the peak memory of that child
    and the processes it waited for (its own wait4, not the whole test session's children)."""
    import os
    import tempfile
    import threading

    from cli_run import grade_argv, grade_env

    argv = grade_argv("batch", intake, "--assignment", "tiny", "--course", course, "--db", db, "--out", out,
                      "-j", "2", *extra)
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        proc = subprocess.Popen(argv, env=grade_env(), stdout=so, stderr=se)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        done = subprocess.CompletedProcess(argv, proc.returncode, so.read().decode("utf-8", "replace"),
                                           se.read().decode("utf-8", "replace"))
    done.maxrss_kib = usage.ru_maxrss
    return done


def rows(db: str) -> dict[str, object]:
    """student -> StudentRow of `tiny` in the gradebook at `db`."""
    from grader.gradebook.api import Gradebook

    gb = Gradebook.open(db)
    try:
        return {r.student: r for r in gb.students("tiny")}
    finally:
        gb.dispose()
