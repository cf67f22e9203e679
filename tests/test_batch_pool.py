"""The per-submission job and the judge pool: statuses, a judge process that dies or hangs costs
only its own submission, warm judges start the next sandbox worker ahead."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from grader.batch.job import _Prestart, grade_job
from grader.batch.pool import Job, JudgePool

ROOT = Path(__file__).resolve().parents[1]
STARTER = (ROOT / "assignments" / "backprop" / "starter.ipynb").read_bytes()
FAST = {"limits": {"cell_seconds": 10, "call_seconds": 10, "notebook_seconds": 60}}


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_grade_job_statuses():
    ok = grade_job(STARTER, _h(STARTER), "backprop", {**FAST, "source_name": "hw1.ipynb"})
    assert ok["status"] == "graded" and ok["score"] == 0 and ok["max_score"] == 45
    assert ok["result"]["notebook"] == "hw1.ipynb" and "<html" in ok["feedback_html"]
    bad = b'{"cells": ['
    invalid = grade_job(bad, _h(bad), "backprop", {"source_name": "../../hw1.ipynb"})
    assert invalid["status"] == "invalid"
    assert invalid["reason"].startswith("hw1.ipynb: not valid JSON"), invalid["reason"]
    wrong = grade_job(STARTER, "0" * 64, "backprop", {})
    assert wrong["status"] == "error" and "content hash" in wrong["reason"]
    broken = grade_job(STARTER, _h(STARTER), "backprop", {"limits": {"cell_seconds": -1}})  # the grader breaks
    assert broken["status"] == "error" and "Traceback (most recent call last)" in broken["traceback"]
    assert "cell_seconds" in broken["reason"]


def test_a_judge_killed_mid_job_costs_only_that_submission():
    pool = JudgePool(1, "backprop", FAST, job_timeout=300)
    jobs = [Job(k, STARTER, _h(STARTER), {**FAST, "source_name": f"{k}.ipynb"}) for k in ("a", "b")]
    results = {}
    try:
        for job, res in _with_kill(pool, jobs):
            results[job.key] = res
    finally:
        pool.close()
    assert results["a"]["status"] == "error" and "judge process died" in results["a"]["reason"]
    assert results["b"]["status"] == "graded"


def _with_kill(pool: JudgePool, jobs: list[Job]):  # noqa: ANN202
    gen = pool.run(jobs)
    # wait until the judge is ready and busy with the first job, then kill it
    deadline = time.monotonic() + 120
    slot = pool.slots[0]
    import threading

    def killer() -> None:
        while time.monotonic() < deadline and slot.job is None:
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(slot.proc.pid, signal.SIGKILL)

    threading.Thread(target=killer, daemon=True).start()
    yield from gen


def test_a_judge_past_the_deadline_is_replaced():
    pool = JudgePool(1, "backprop", FAST, job_timeout=0.5)
    try:
        out = list(pool.run([Job("slow", STARTER, _h(STARTER), FAST)]))
    finally:
        pool.terminate()
    assert out[0][1]["status"] == "error" and "did not finish within 0.5 s" in out[0][1]["reason"]


def test_prestarted_workers_stay_alive_for_the_next_submission():
    from grader.course.assignment import load_assignment
    from grader.judge.pipeline import worker_spec
    from grader.sandbox import get_backend

    spec = worker_spec(load_assignment("backprop"), None)
    backend = _Prestart(get_backend("process"))
    first = backend.start(spec)
    try:
        time.sleep(1.0)
        spare = backend._spare[1].result(timeout=60)
        assert first.alive() and spare.alive()  # not killed with the thread that started them
        second = backend.start(spec)
        assert second is spare and second.alive()
        second.kill()
    finally:
        first.kill()
        backend.close()
    assert backend._spare is None  # closed: no spare left behind
