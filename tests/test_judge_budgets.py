"""The judge's own clocks and byte budgets hold against a notebook built to exhaust them.

Under the process sandbox. Each attack gets one result, earns no more than honest work, and
stays inside the bounds stated in each test (wall time, the judge's RSS, result.json size);
budgets are made small through `--limit` / Limits so that the tests stay fast.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hostile_cases import SOLUTION, STARTER, with_cell
from judge_attacks import _FIND_WORKER, assert_graded_safely, forge_ok_cell, grade_cli

from grader.course.assignment import Limits, _Bad, _limits
from grader.judge.budgets import fit_result, result_bytes
from grader.judge.remote import StudentError, Submission, SubmissionError, WorkerLost
from grader.judge.results import CellRun, GradingResult, TestResult
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import WorkerSpec, get_backend

FULL = 45.0
FAST = ("--limit", "cell_seconds=4", "--limit", "notebook_seconds=60", "--limit", "call_seconds=5")

#: Wraps every function the notebook defined so that each answer arrives just under the limit.
SLOW_ANSWERS = ("import time as _t\n"
                "for _n, _f in list(globals().items()):\n"
                "    if callable(_f) and getattr(_f, '__module__', '') == '__main__' and not isinstance(_f, type):\n"
                "        def _slow(*a, _f=_f, **k):\n"
                "            _t.sleep(0.8)\n"
                "            return _f(*a, **k)\n"
                "        globals()[_n] = _slow\n")


def session_of(sources: list[str], **limits) -> tuple[WorkerSession, list[CellRun], Submission]:
    cells = [Cell(i, src) for i, src in enumerate(sources)]
    base = dict(cell_seconds=3, notebook_seconds=30, call_seconds=3, max_restarts=2)
    session = WorkerSession(get_backend("process"), WorkerSpec(limits=Limits(**{**base, **limits})), cells)
    return session, session.run_notebook(), Submission(session)


@pytest.fixture
def sessions():
    made = []

    def make(sources, **limits):
        s = session_of(sources, **limits)
        made.append(s[0])
        return s

    yield make
    for s in made:
        s.close()


# -------------------------------------------------------------------------- time (finding 2)


def test_answers_just_under_the_call_limit_cannot_stretch_the_tests(tmp_path):
    """~1,200 calls at 0.8 s each would take 16 minutes; the tests' budget ends them at 4 s."""
    nb = with_cell(SOLUTION, SLOW_ANSWERS, before_training=False)
    run = grade_cli(nb, tmp_path, *FAST, "--limit", "call_seconds=1", "--limit", "tests_seconds=4")
    result = assert_graded_safely(run, FULL, wall=40)  # bound: 4 s of tests + start-up and grace
    late = [t for t in result["tests"] if "tests' 4 s time limit was reached" in t["message"]]
    assert late and all(t["status"] == "error" and t["score"] == 0 for t in late), [
        t["message"] for t in result["tests"]]
    assert result["score"] < FULL


def test_the_total_budget_bounds_the_notebook(sessions):
    started = time.monotonic()
    _, runs, _ = sessions(["import time\ntime.sleep(1)"] * 6 + ["x = 1"], total_seconds=3, notebook_seconds=60)
    assert time.monotonic() - started < 3 + 3 + 10  # bound: the budget, one grace, the worker's start
    assert runs[-1].status == "skipped" and "grading's 3 s time limit" in runs[-1].message, runs[-1]


# -------------------------------------------------------------------------- replays (finding 3)


def test_a_replay_never_runs_a_cell_the_budget_skipped(sessions):
    session, runs, sub = sessions([
        "import os, time\ndef boom():\n    os._exit(3)\ntime.sleep(1.0)\na = 1",
        "time.sleep(5)",  # cut at what is left of the 1.5 s pool
        "time.sleep(10)\nskipped_ran = True",  # never runs: the pool is empty
    ], notebook_seconds=1.5, cell_seconds=10)
    assert [r.status for r in runs] == ["ok", "timeout", "skipped"]
    session.start_tests()
    with pytest.raises(WorkerLost):
        sub.boom()
    started = time.monotonic()
    with pytest.raises(SubmissionError):
        sub.skipped_ran  # noqa: B018
    assert time.monotonic() - started < 8  # bound: no 10 s replay at the full cell limit (loaded CI: margin)
    assert session.runs[2].status == "skipped"
    with pytest.raises(SubmissionError):
        sub.a  # noqa: B018  (the pool is spent: not even cell 0 is re-run)
    assert "not re-run" in session.runs[0].message
    assert any("not re-run" in e for e in session.events), session.events


def test_a_replay_draws_on_the_same_pool_and_says_what_it_did_not_rerun(sessions):
    session, runs, sub = sessions([
        "import os, time\ntime.sleep(0.6)\na = 1",
        "time.sleep(0.6)\nb = 2",
        "def boom():\n    os._exit(3)\n",
    ], notebook_seconds=2.0, cell_seconds=5)
    assert [r.status for r in runs] == ["ok", "ok", "ok"]
    session.start_tests()
    with pytest.raises(WorkerLost):
        sub.boom()
    assert sub.a == 1  # re-run: 0.6 s of the ~0.8 s left
    with pytest.raises(SubmissionError):
        sub.b  # noqa: B018  (cut or not re-run: the pool ran dry)
    assert "re-run" in session.runs[1].message, session.runs[1]


# -------------------------------------------------------------------------- text (finding 4)


def _forged_exec_reply(text_expr: str) -> str:
    """A cell that answers its own exec request with a forged reply and swallows the real one."""
    return (_FIND_WORKER + "import sys\n"
            "_f = sys._getframe()\n"
            "while 'msg' not in _f.f_locals:\n    _f = _f.f_back\n"
            f"_body = json.dumps({{'ok': True, 'status': 'ok', 'message': '', 'seq': _f.f_locals['msg']['seq'],"
            f" 'outputs': [{{'output_type': 'stream', 'name': 'stdout', 'text': {text_expr}}}]}}).encode()\n"
            "_w.sock.sendall(struct.pack('>I', len(_body)) + _body)\n"
            "_real = type(_w).reply\n"
            "def _swallow(self, header, arrays=None):\n    type(self).reply = _real\n"
            "type(_w).reply = _swallow\n")


def test_forged_giant_outputs_are_capped_by_the_judge(tmp_path):
    """15 MB of stream text per cell in forged replies: 8 cells would give a 120 MB result."""
    nb = SOLUTION
    for _ in range(8):
        nb = with_cell(nb, _forged_exec_reply("'x' * 15_000_000"), before_training=False)
    run = grade_cli(nb, tmp_path, *FAST, "--limit", "text_kb=256")
    # bounds: result.json < 1 MB (256 KiB of kept text), judge RSS < 1 GiB, 120 s
    result = assert_graded_safely(run, FULL, wall=120, result_bytes=1_000_000, judge_rss_mb=1024)
    assert result["score"] == FULL
    texts = [o["text"] for c in result["cells"] for o in c["outputs"] if o["output_type"] == "stream"]
    assert max(map(len, texts)) <= 81 * 1024
    assert any("limits.text_kb" in t for t in texts)


def test_five_hundred_thousand_cells_are_one_line_of_bad_input(tmp_path):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "x = 1"}
    nb = {**STARTER, "cells": [cell] * 500_000}
    run = grade_cli(nb, tmp_path)
    assert run.rc == 2 and run.result is None
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "at most 5000" in lines[0], lines[:3]
    assert run.wall < 30  # bound


def test_a_result_is_cut_to_its_byte_budget_without_touching_the_score():
    cells = tuple(CellRun(i, "ok", outputs=({"output_type": "stream", "name": "stdout", "text": "y" * 50_000},))
                  for i in range(100))
    tests = tuple(TestResult(f"t{i}", "public", 1.0, 1.0, "passed", message="m" * 4000) for i in range(300))
    result = GradingResult("a", "nb.ipynb", "submit", 300.0, 300.0, tests, cells)
    assert result_bytes(result) > 5_000_000
    cut = fit_result(result, 256 * 1024)
    assert result_bytes(cut) <= 256 * 1024
    assert (cut.score, cut.max_score, len(cut.tests), len(cut.cells)) == (300.0, 300.0, 300, 100)
    assert "limits.result_kb" in cut.errors[-1]
    assert fit_result(cut, 10**9) is cut


# -------------------------------------------------------------------------- arrays (finding 5)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_fake_512_mib_parameters_cannot_drive_the_judges_memory_up(sessions):
    session, runs, sub = sessions([
        "import numpy as np\n"
        "class Param:\n"
        "    def numpy(self):\n"
        "        return np.zeros(2**26)  # 512 MiB, lazily zero: it costs the worker nothing\n"
        "class Small:\n"
        "    def numpy(self):\n"
        "        return np.zeros(2**22)  # 32 MiB\n"
        "params = [Param() for _ in range(16)]\nsmall = [Small() for _ in range(16)]\n"
    ], received_mb=64, call_seconds=10)
    session.start_tests()
    before = _rss_mb()
    kept = []
    kept.append(sub.small[0].numpy())  # 32 MiB: within the budget
    with pytest.raises(WorkerLost, match="budget of 64 MiB received"):
        for i in range(16):
            kept.append(sub.params[i].numpy())
    with pytest.raises(WorkerLost, match="limits.received_mb"):
        sub.small[1].numpy()  # later calls fail at once, nothing is sent
    assert len(kept) == 1 and kept[0].nbytes == 2**25
    assert _rss_mb() - before < 200  # bound: the 32 MiB kept and buffers, not 16 x 512 MiB


def test_arrays_within_the_budget_still_arrive(sessions):
    _, _, sub = sessions(["import numpy as np\ndef f(n):\n    return np.arange(n, dtype=np.float64)\n"],
                         received_mb=1)
    sub._session.start_tests()
    np.testing.assert_array_equal(sub.f(1000), np.arange(1000.0))
    with pytest.raises(WorkerLost):
        sub.f(200_000)  # 1.6 MB > what is left of 1 MiB


def test_big_strings_count_against_the_same_budget(sessions):
    _, _, sub = sessions(["def s():\n    return 'x' * 6_000_000\n"], received_mb=16)
    assert len(sub.s()) == 6_000_000 and len(sub.s()) == 6_000_000
    with pytest.raises(WorkerLost, match="limits.received_mb"):
        sub.s()  # 18 MB of reply headers in all: past 16 MiB


# -------------------------------------------------------------------------- attribution (finding 13)


@pytest.mark.parametrize("then", [
    "time.sleep(0.5)\nimport os\nos._exit(1)",  # dies while the next cell's request waits unread
    "time.sleep(0.5)",  # lives: its real reply arrives as the answer to the next request
])
def test_a_forged_ok_then_crash_blames_the_cell_that_was_running(sessions, then):
    session, runs, sub = sessions(["a = 1", forge_ok_cell(then), "b = 2", "c = 3"])
    assert [r.status for r in runs] == ["ok", "crashed", "ok", "ok"], [(r.status, r.message) for r in runs]
    assert "forged" in runs[1].message or "did not come from the grader" in runs[1].message
    assert (sub.a, sub.b, sub.c) == (1, 2, 3)


def test_a_forged_ok_then_crash_keeps_the_solutions_marks(tmp_path):
    nb = with_cell(SOLUTION, forge_ok_cell("time.sleep(0.5)\nimport os\nos._exit(1)"))
    run = grade_cli(nb, tmp_path, *FAST)
    result = assert_graded_safely(run, FULL, wall=60)
    assert result["score"] == FULL, [(t["name"], t["message"]) for t in result["tests"] if t["status"] != "passed"]
    crashed = [c for c in result["cells"] if c["status"] == "crashed"]
    assert len(crashed) == 1 and "did not come from the grader" in crashed[0]["message"]
    assert "struct.pack" in "".join(nb["cells"][crashed[0]["index"]]["source"])  # the forging cell


def test_no_student_error_is_mistaken_for_a_budget(sessions):
    _, _, sub = sessions(["def f():\n    raise ValueError('mine')\n"])
    sub._session.start_tests()
    with pytest.raises(StudentError, match="mine"):
        sub.f()


def test_the_new_limits_are_checked_like_the_others():
    for bad in ({"tests_seconds": 0}, {"total_seconds": -1}, {"received_mb": 0}, {"text_kb": 1.5},
                {"result_kb": True}, {"tests_seconds": float("inf")}):
        with pytest.raises(_Bad, match=f"limits.{next(iter(bad))}"):
            _limits(bad)
    assert _limits({"tests_seconds": 4, "received_mb": 64}) == Limits(tests_seconds=4, received_mb=64)
