"""The judge's side of one worker: start it, run the notebook, send calls, restart after crashes.

A cell that ignores its interrupt, or kills the worker, is recorded and skipped: the worker is
restarted and re-runs the cells before it, so later cells and tests still run. The number of
restarts is bounded by `Limits.max_restarts`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from grader import wire
from grader.assignment import Limits
from grader.results import CellRun
from grader.sandbox import Backend, SandboxError, Worker, WorkerSpec
from grader.worker_reply import BadReply, ReplyTimeout, recv_reply, require

GRACE_SECONDS = 3.0  # how long past its own soft limit the worker may take to answer


class WorkerCrashed(Exception):
    """The worker died, hung, or sent garbage; the session will restart it if it may."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Cell:
    """A code cell to run: its index among all notebook cells and its (magic-free) source."""

    index: int
    source: str


class WorkerSession:
    """One student's worker over its lifetime, restarts included."""

    def __init__(self, backend: Backend, spec: WorkerSpec, cells: list[Cell], *,
                 forbidden: tuple[str, ...] = (), seed: int = 0,
                 on_cell: Callable[[CellRun], None] | None = None) -> None:
        self.backend, self.spec, self.cells = backend, spec, cells
        self.limits: Limits = spec.limits
        self.forbidden, self.seed = forbidden, seed
        self.on_cell = on_cell
        self.worker: Worker | None = None
        self.generation = 0  # bumps on every (re)start; handles from older generations are dead
        self.restarts = 0
        self.skip: set[int] = set()
        self.runs: dict[int, CellRun] = {}
        self.events: list[str] = []
        self.gave_up = ""
        self.description = ""
        self.isolated = True

    # -- lifecycle -------------------------------------------------------------------------
    def run_notebook(self) -> list[CellRun]:
        """Execute every code cell once, in order; returns how each went."""
        budget_end = time.monotonic() + self.limits.notebook_seconds
        for cell in self.cells:
            if time.monotonic() >= budget_end:
                self._record(CellRun(cell.index, "skipped", message=(
                    f"not run: the notebook's {self.limits.notebook_seconds:g} s time limit was reached")))
                continue
            if not self._ensure(upto=cell.index):
                self._record(CellRun(cell.index, "skipped", message=f"not run: the notebook's process {self.gave_up}"))
                continue
            seconds = min(self.limits.cell_seconds, max(0.1, budget_end - time.monotonic()))
            self._record(self._exec(cell, seconds))
        return [self.runs[c.index] for c in self.cells]

    def _record(self, run: CellRun) -> None:
        self.runs[run.index] = run
        if self.on_cell:
            self.on_cell(run)

    def _exec(self, cell: Cell, seconds: float) -> CellRun:
        start = time.monotonic()
        try:
            reply, _ = self._request({"op": "exec", "cell": cell.index, "source": cell.source,
                                      "seconds": seconds}, seconds)
        except WorkerCrashed as e:
            self.skip.add(cell.index)
            status = "timeout" if e.timed_out else "crashed"
            message = (f"cut off: ran past its {seconds:g} s limit and ignored the interrupt; "
                       "the worker was restarted without this cell") if status == "timeout" else (
                       f"the notebook's process died in this cell ({e}); "
                       "the worker was restarted without this cell")
            return CellRun(cell.index, status, time.monotonic() - start, message=message)
        try:
            status = require(reply, "status", str)
            if status not in ("ok", "error", "timeout"):
                raise BadReply("bad cell status")
            outputs = tuple(_check_output(o) for o in require(reply, "outputs", list)[:4])
            message = require(reply, "message", str, "")[:500]
        except BadReply as e:
            self.skip.add(cell.index)
            self._kill(f"sent a malformed reply ({e})")
            return CellRun(cell.index, "crashed", time.monotonic() - start, message=str(e))
        if status == "timeout":
            message = f"interrupted after {seconds:g} s (KeyboardInterrupt): the cell's time limit"
        return CellRun(cell.index, status, time.monotonic() - start, outputs, message)

    def _start(self) -> None:
        self.generation += 1
        self.worker = self.backend.start(self.spec)
        self.description = self.worker.description
        self.isolated = self.worker.isolated
        reply, _ = self._request({"op": "setup", "forbidden": list(self.forbidden), "seed": self.seed},
                                 30.0)
        require(reply, "ok", bool)

    def _ensure(self, upto: int | None = None) -> bool:
        """Make sure a worker is up; after a crash, restart it and replay the cells before `upto`."""
        if self.worker is not None:
            return True
        if self.gave_up:
            return False
        if self.generation > 0:
            if self.restarts >= self.limits.max_restarts:
                self.gave_up = f"crashed {self.restarts + 1} times; grading stopped restarting it"
                self.events.append(f"the notebook's process {self.gave_up}")
                return False
            self.restarts += 1
        try:
            self._start()
            replay = [c for c in self.cells if c.index not in self.skip
                      and (upto is None or c.index < upto) and c.index in self.runs
                      and self.runs[c.index].status != "timeout"]
            for cell in replay:
                self._exec(cell, self.limits.cell_seconds)
                if self.worker is None:  # the replay crashed it again
                    return self._ensure(upto)
        except (WorkerCrashed, SandboxError, BadReply) as e:
            self.events.append(f"worker failed to start: {e}")
            self.worker = None
            return self._ensure(upto)
        if self.generation > 1:
            self.events.append(f"worker restarted ({self.restarts} of at most {self.limits.max_restarts})")
        return True

    def _kill(self, why: str) -> str:
        reason = why
        if self.worker is not None:
            if not why:  # it ended by itself: let it finish dying so its exit status is its own
                reason = self.worker.exit_reason()
            self.worker.kill()
        self.worker = None
        return reason

    def close(self) -> None:
        self._kill("closed")

    # -- requests ------------------------------------------------------------------------
    def _request(self, header: dict, seconds: float, arrays: list[np.ndarray] = ()) -> tuple[dict, list]:
        assert self.worker is not None
        deadline = time.monotonic() + seconds + GRACE_SECONDS
        try:
            wire.send(self.worker.sock, header, list(arrays))
            return recv_reply(self.worker.sock, deadline)
        except ReplyTimeout:
            raise WorkerCrashed(self._kill(f"ran past its {seconds:g} s time limit and did not stop"),
                                timed_out=True) from None
        except (EOFError, OSError):
            raise WorkerCrashed(self._kill("")) from None
        except BadReply as e:
            raise WorkerCrashed(self._kill(f"sent a malformed reply: {e}")) from None

    def request(self, header: dict, arrays: list[np.ndarray] = ()) -> tuple[dict, list, int]:
        """Send one call during the tests; returns (reply, arrays, generation)."""
        if not self._ensure():
            raise WorkerCrashed(self.gave_up)
        seconds = float(header.setdefault("seconds", self.limits.call_seconds))
        reply, out = self._request(header, seconds, arrays)
        return reply, out, self.generation


def _check_output(o: Any) -> dict:
    """Schema check for one nbformat output produced by the worker."""
    if not isinstance(o, dict):
        raise BadReply("output is not an object")
    kind = o.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stdout", "text": require(o, "text", str)}
    if kind == "execute_result":
        data = require(o, "data", dict)
        return {"output_type": "execute_result", "execution_count": None, "metadata": {},
                "data": {"text/plain": str(data.get("text/plain", ""))[:20000]}}
    if kind == "error":
        tb = require(o, "traceback", list)
        return {"output_type": "error", "ename": require(o, "ename", str)[:200],
                "evalue": require(o, "evalue", str)[:2000], "traceback": [str(t)[:2000] for t in tb[:80]]}
    raise BadReply("unknown output type")
