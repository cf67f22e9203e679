"""Hostile submissions: each gets a result, the grader survives, and no points are forged.

Each case adds cells to the starter (which earns nothing, so any point would be forged) or to
the solution (which must keep its full marks: the attack must not cost later cells or tests).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
from hostile_cases import (
    BACKPROP,
    FAST,
    SOLUTION,
    STARTER,
    assert_forged_nothing,
    assert_survives,
    with_cell,
)
from hostile_cases import write_notebook as _write

from grader.course.notebook import code_cells
from grader.judge.pipeline import grade, worker_spec
from grader.judge.remote import Submission
from grader.judge.session import WorkerSession
from grader.sandbox import get_backend


@pytest.fixture(scope="module")
def full_marks() -> float:
    result = grade(SOLUTION, FAST)
    assert result.score == result.max_score > 0, [t for t in result.tests if t.status != "passed"]
    return result.max_score


def test_sys_exit_earns_nothing_and_stops_nothing(full_marks):
    assert_forged_nothing(with_cell(STARTER, "import sys\nsys.exit(0)"), "error")
    _, cell = assert_survives(with_cell(SOLUTION, "import sys\nsys.exit(0)"), full_marks, "error")
    assert "SystemExit" in cell.message


def test_os_exit_restarts_the_worker_without_the_cell(full_marks):
    assert_forged_nothing(with_cell(STARTER, "import os\nos._exit(0)"), "crashed")
    result, cell = assert_survives(with_cell(SOLUTION, "import os\nos._exit(1)"), full_marks, "crashed")
    assert "exited with code 1" in cell.message
    assert any("restarted" in e for e in result.errors)


def test_infinite_loop_is_cut_off(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, "while True:\n    pass"), full_marks, "timeout")
    assert "KeyboardInterrupt" in cell.message
    stubborn = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    _, cell = assert_survives(with_cell(SOLUTION, stubborn), full_marks, "timeout")
    assert "ignored the interrupt" in cell.message


def test_printing_200_mb_is_capped(full_marks, tmp_path):
    result, _ = assert_survives(with_cell(SOLUTION, "s = 'x' * 1_000_000\nfor _ in range(200):\n    print(s)"),
                                full_marks, "ok")
    assert len(json.dumps(result.to_json())) < 1_000_000


def test_fork_loop_is_contained(full_marks):
    bomb = ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert_forged_nothing(with_cell(STARTER, bomb))
    assert_survives(with_cell(SOLUTION, bomb), full_marks, "timeout")


def test_segfault_through_ctypes(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, "import ctypes\nctypes.string_at(0)"), full_marks, "crashed")
    assert "segmentation fault" in cell.message


def test_memory_grab_and_disk_fill_fail_inside_the_sandbox(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, "x = bytearray(50 * 1024**3)"), full_marks, "error")
    assert "MemoryError" in cell.message
    fill = "with open('/tmp/fill', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)"
    _, cell = assert_survives(with_cell(SOLUTION, fill), full_marks, "error")
    assert "No space left" in cell.message or "File too large" in cell.message


def test_forbidden_import(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, "import torch"), full_marks, "error")
    assert "import of 'torch' is not allowed in this assignment" in cell.message


def test_monkeypatching_numpy_in_the_worker_forges_nothing():
    patch = ("import numpy as np, builtins\n"
             "np.allclose = lambda *a, **k: True\n"
             "np.testing.assert_allclose = lambda *a, **k: None\n"
             "np.max = lambda *a, **k: 0.0\n"
             "np.abs = lambda x: x * 0\n"
             "builtins.abs = lambda x: 0\n"
             "def affine_forward(x, w, b):\n    return np.zeros(1), None\n")
    assert_forged_nothing(with_cell(STARTER, patch, before_training=False))


def test_fake_result_files_are_not_evidence(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    forged = json.dumps({"score": 999, "max_score": 1, "tests": []})
    cell = ("import os\n"
            f"for d in ['.', '/tmp', os.path.expanduser('~'), {str(out)!r}, '/']:\n"
            "    try:\n"
            f"        open(os.path.join(d, 'result.json'), 'w').write({forged!r})\n"
            "    except OSError:\n        pass\n")
    subprocess.run(  # the real CLI, writing into `out`
        [str(Path(os.sys.executable)), "-m", "grader.cli", "submit", "--out", str(out),
         str(_write(tmp_path / "nb.ipynb", with_cell(STARTER, cell)))],
        check=True, capture_output=True, timeout=120)
    assert json.loads((out / "result.json").read_text())["score"] == 0


def test_background_processes_do_not_outlive_grading(full_marks):
    marker = "dlgrade_bg_marker_31337"
    cell = ("import subprocess\n"
            f"subprocess.Popen(['sh', '-c', 'exec -a {marker} sleep 300'], start_new_session=True)\n")
    assert_survives(with_cell(SOLUTION, cell), full_marks, "ok")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps


def test_hidden_tests_reference_and_secrets_are_unreadable(monkeypatch, tmp_path):
    """Walk the sandbox's whole filesystem looking for anything judge-only."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-course-key")
    monkeypatch.setenv("GRADER_SECRET_FILE", str(secret))
    monkeypatch.setenv("GRADER_SECRET", "s3cret-course-key")
    hidden_names = sorted(p.name for p in BACKPROP.hidden_tests.glob("test_*.py"))
    # The course root itself may appear as an empty skeleton when the venv lives inside it.
    targets = [str(p) for p in (BACKPROP.hidden_tests, BACKPROP.reference_path, BACKPROP.course / "assignments",
                                BACKPROP.course / "reference", BACKPROP.root, secret)]
    probe = (
        "import os\n"
        f"HIDDEN = {hidden_names!r}\nTARGETS = {targets!r}\n"
        "FOUND = []\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    if root in ('/proc', '/sys', '/dev'):\n"
        "        dirs[:] = []\n"
        "        continue\n"
        "    FOUND += [os.path.join(root, f) for f in files if f in HIDDEN or f == 'backprop.py'\n"
        "              or f == 'digits.csv.gz' or f.startswith('digits-')]\n"
        "READABLE = []\n"
        "for t in TARGETS:\n"
        "    try:\n"
        "        READABLE.append((t, os.listdir(t) if os.path.isdir(t) else open(t).read()[:20]))\n"
        "    except OSError:\n"
        "        pass\n"
        "ENV = {k: v for k, v in os.environ.items() if 'SECRET' in k}\n"
    )
    walker = dataclasses.replace(FAST, limits=dataclasses.replace(FAST.limits, cell_seconds=120))
    session = WorkerSession(get_backend("process"), worker_spec(walker, None), code_cells({"cells": [
        {"cell_type": "code", "source": probe}]}))
    try:
        runs = session.run_notebook()
        assert runs[0].status == "ok", runs[0].message
        sub = Submission(session)
        if session.description.startswith("plain"):
            if os.environ.get("REQUIRE_BWRAP") == "1":
                pytest.fail("bubblewrap is required (REQUIRE_BWRAP=1) but missing")
            pytest.skip("bubblewrap is not installed: the fallback is documented as not isolated")
        assert sub.FOUND == []
        assert sub.READABLE == []
        assert sub.ENV == {}
    finally:
        session.close()
