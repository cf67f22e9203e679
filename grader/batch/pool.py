"""A pool of long-lived judge processes that run `grade_job` (pytest is not thread-safe).

Each judge process is started once (spawn), warms itself up (grader.batch.job.warm) and then
grades one submission at a time, so per-batch costs are paid once per process. Jobs and
results cross the pipe as JSON plus the notebook's bytes, never as pickles. A judge process
that dies or runs past the job deadline costs only its current submission (status `error`)
and is replaced. Judge processes ignore SIGINT (the driver decides); `terminate()` sends
SIGTERM, which unwinds their sandboxes, then SIGKILL.

Callers: grader.batch.driver.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator


class PoolError(Exception):
    """The judge processes cannot run at all."""


@dataclass(frozen=True)
class Job:
    """One submission to grade: `key` is the caller's (the student id)."""

    key: str
    data: bytes
    content_hash: str
    options: dict[str, Any]


def _judge_main(conn: Connection, assignment_id: str, options: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum, frame):  # noqa: ANN001, ANN202
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    from grader.batch.job import grade_job, warm

    try:
        warm(assignment_id, options)
    except Exception:  # reported per job by grade_job, which tries again
        pass
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            header = conn.recv_bytes()
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        job = json.loads(header)
        if job.get("stop"):
            return
        result = grade_job(data, job["content_hash"], assignment_id, job["options"])
        conn.send_bytes(json.dumps(result).encode())


class _Slot:
    def __init__(self, ctx: Any, slot: int, assignment_id: str, options: dict[str, Any]) -> None:
        self.slot = slot
        parent, child = ctx.Pipe(duplex=True)
        opts = {**options, "slot": slot}
        self.proc = ctx.Process(target=_judge_main, args=(child, assignment_id, opts), daemon=True,
                                name=f"dlgrade-judge-{slot}")
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.job: Job | None = None
        self.started = 0.0
        self.ready = False

    def send(self, job: Job) -> None:
        self.job, self.started = job, time.monotonic()
        opts = {**job.options, "slot": self.slot}
        self.conn.send_bytes(json.dumps({"content_hash": job.content_hash, "options": opts}).encode())
        self.conn.send_bytes(job.data)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(5)
        except (OSError, ValueError):
            pass
        self.conn.close()


class JudgePool:
    """N judge processes; `run(jobs)` yields (job, result dict) as they finish."""

    def __init__(self, jobs: int, assignment_id: str, options: dict[str, Any], job_timeout: float) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.assignment_id, self.options, self.timeout = assignment_id, dict(options), job_timeout
        self.slots = [_Slot(self.ctx, k, assignment_id, {**self.options, "jobs": jobs}) for k in range(jobs)]
        self.jobs = jobs
        self.early_deaths = 0  # judge processes that died before they were ready

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, dict[str, Any]]]:
        queue = deque(jobs)
        while queue or any(s.job is not None for s in self.slots):
            for s in self.slots:
                if s.ready and s.job is None and queue:
                    try:
                        s.send(queue[0])
                        queue.popleft()
                    except (OSError, ValueError):  # it died before taking the job: replace it
                        self._replace(s)
            busy = [s for s in self.slots if s.job is not None or not s.ready]
            if not busy:
                continue
            now = time.monotonic()
            waits = [self.timeout - (now - s.started) for s in busy if s.job is not None]
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy],
                         timeout=max(0.05, min(waits)) if waits else None)
            for s in list(busy):
                if s.conn in ready or s.proc.sentinel in ready:
                    done = self._collect(s)
                    if done is not None:
                        yield done
                elif s.job is not None and time.monotonic() - s.started > self.timeout:
                    job = s.job
                    self._replace(s)
                    yield job, failure_record(job, f"the judge process did not finish within {self.timeout:g} s "
                                             "and was killed")

    def _collect(self, s: _Slot) -> tuple[Job, dict[str, Any]] | None:
        try:
            raw = s.conn.recv_bytes() if s.conn.poll() else None
        except (EOFError, OSError):
            raw = None
        if raw is not None and not s.ready:
            s.ready = True
            return None
        if raw is not None and s.job is not None:
            job, s.job = s.job, None
            return job, json.loads(raw)
        if s.proc.is_alive() and raw is None:
            return None
        job = s.job
        code = s.proc.exitcode
        if not s.ready:
            self.early_deaths += 1
            if self.early_deaths > 3 * self.jobs:
                raise PoolError(f"the judge processes exit as they start (exit code {code})")
        self._replace(s)
        if job is None:
            return None
        return job, failure_record(job, f"the judge process died while grading this submission (exit code {code})")

    def _replace(self, s: _Slot) -> None:
        s.kill()
        k = self.slots.index(s)
        self.slots[k] = _Slot(self.ctx, s.slot, self.assignment_id, {**self.options, "jobs": self.jobs})

    def close(self) -> None:
        """Stop the judges after their current job (normal end)."""
        for s in self.slots:
            try:
                s.conn.send_bytes(b'{"stop": true}')
                s.conn.send_bytes(b"")
            except (OSError, ValueError):
                pass
        for s in self.slots:
            s.proc.join(10)
            if s.proc.is_alive():
                s.kill()

    def terminate(self, grace: float = 5.0) -> None:
        """Ctrl-C / SIGTERM: SIGTERM every judge (their sandboxes unwind), then SIGKILL."""
        for s in self.slots:
            if s.proc.is_alive():
                try:
                    os.kill(s.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for s in self.slots:
            s.proc.join(max(0.0, deadline - time.monotonic()))
            s.kill()


def failure_record(job: Job, reason: str) -> dict[str, Any]:
    """The outcome of a job whose judge process never answered: status error, no points, `reason`."""
    return {"status": "error", "score": 0.0, "max_score": 0.0, "result": None, "feedback_html": "",
            "reason": reason, "traceback": reason, "duration": 0.0, "content_hash": job.content_hash}
