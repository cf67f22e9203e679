"""The judge's side of one worker: start it, run the notebook, send calls, restart after crashes.

A cell that ignores its interrupt, or kills the worker, is recorded and skipped: the worker is
restarted and re-runs the cells before it, so later cells and tests still run. The number of
restarts is bounded by `Limits.max_restarts`.

The judge's clocks and budgets live here, outside the student's process:
- the notebook's `notebook_seconds` is a pool that first runs and restart replays draw on alike,
  in either phase; a cell skipped for time is never replayed;
- the tests' `tests_seconds` and the grading's `total_seconds` bound every call: past them no
  call is sent (`stop_reason` says why) and each call's limit is cut to what is left;
- `received_mb` received (headers and arrays) over the whole grading, and `text_kb` of kept cell output.

Crash attribution does not trust the worker's word. Every request carries a sequence number
that its reply must echo; a reply that answers an earlier request, or a worker that died without
reading the request just sent (ECONNRESET / EPIPE on the judge's end), means the previous cell's
reply was forged from inside the process while that cell still ran: that cell is the one blamed
(recorded as crashed) and the cell that was sent next runs again on a fresh worker.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import numpy as np

from grader.course.assignment import Limits
from grader.course.notebook import Cell
from grader.judge.budgets import (
    EVALUE_CHARS,
    MESSAGE_CHARS,
    REPR_CHARS,
    TRACEBACK_CHARS,
    TextBudget,
    cap_text,
)
from grader.judge.results import CellRun
from grader.judge.worker_reply import BadReply, BudgetSpent, ReplyTimeout, recv_reply, require
from grader.sandbox import Backend, SandboxError, Worker, WorkerSpec
from grader.worker import wire

GRACE_SECONDS = 3.0  # how long past its own soft limit the worker may take to answer


class WorkerCrashed(Exception):
    """The worker died, hung, or sent garbage; the session will restart it if it may."""

    def __init__(self, message: str, timed_out: bool = False, previous_at_fault: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        #: The worker died before reading this request, or answered an earlier one: the code of
        #: the previous request was still running after a forged reply.
        self.previous_at_fault = previous_at_fault


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
        self.clock_end = time.monotonic() + self.limits.total_seconds
        self.notebook_left = float(self.limits.notebook_seconds)  # drawn on by first runs and replays
        self.tests_end: float | None = None  # set by start_tests()
        self.received = 0  # bytes received from the worker: reply headers and arrays
        self.stopped = ""  # why no more calls are sent (a budget was used up)
        self.text = TextBudget(self.limits.text_kb * 1024)
        self.seq = 0
        self.previous: int | None = None  # the cell of the last exec request this worker answered

    # -- lifecycle -------------------------------------------------------------------------
    def run_notebook(self) -> list[CellRun]:
        """Execute every code cell once, in order; returns how each went."""
        for cell in self.cells:
            self._record(self._run_cell(cell))
        return [self.runs[c.index] for c in self.cells]

    def _run_cell(self, cell: Cell) -> CellRun:
        while True:  # more than once only when an earlier cell was found to be the culprit
            if self._time_left() <= 0:
                return CellRun(cell.index, "skipped", message=f"not run: {self._out_of_time()}")
            if not self._ensure(upto=cell.index):
                return CellRun(cell.index, "skipped", message=f"not run: the notebook's process {self.gave_up}")
            seconds = min(self.limits.cell_seconds, max(0.1, self._time_left()))
            run = self._exec(cell, seconds)
            if run is not None:
                return run

    def start_tests(self) -> None:
        """The test phase begins: its clock (`tests_seconds`, within `total_seconds`) starts now."""
        self.tests_end = min(time.monotonic() + self.limits.tests_seconds, self.clock_end)

    def _time_left(self) -> float:
        """Seconds cells may still run: the notebook's pool, within the phase's deadline."""
        end = self.clock_end if self.tests_end is None else self.tests_end
        return min(self.notebook_left, end - time.monotonic())

    def _out_of_time(self) -> str:
        if self.notebook_left <= 0:
            return f"the notebook's {self.limits.notebook_seconds:g} s time limit was reached"
        if self.tests_end is not None and self.tests_end < self.clock_end:
            return f"the tests' {self.limits.tests_seconds:g} s time limit was reached"
        return f"the grading's {self.limits.total_seconds:g} s time limit was reached"

    def stop_reason(self) -> str:
        """Why no more calls are sent to the worker ("" while they are)."""
        if self.stopped:
            return self.stopped
        if self.tests_end is not None and time.monotonic() >= self.tests_end:
            return (f"not run: {self._out_of_time()} (limits.tests_seconds / total_seconds); "
                    "the remaining tests were not run")
        return ""

    def _record(self, run: CellRun) -> None:
        self.runs[run.index] = run
        if self.on_cell:
            self.on_cell(run)

    def _blame(self, index: int, why: str) -> None:
        """Record `index` as the cell that crashed the worker (it sent a reply that was not its own)."""
        self.skip.add(index)
        old = self.runs.get(index)
        self._record(CellRun(index, "crashed", old.duration if old else 0.0, message=(
            f"the notebook's process {why} while this cell was still running, after a reply that "
            "did not come from the grader's worker; the worker was restarted without this cell")))
        self.events.append(f"cell {index} sent a forged reply and then {why}; it is recorded as crashed")

    def _exec(self, cell: Cell, seconds: float) -> CellRun | None:
        """Run one cell; None when the previous cell turned out to be the culprit (run this one again)."""
        start = time.monotonic()
        try:
            reply, _ = self._request({"op": "exec", "cell": cell.index, "source": cell.source,
                                      "seconds": seconds}, seconds)
        except WorkerCrashed as e:
            self.notebook_left -= time.monotonic() - start
            if e.previous_at_fault and self.previous is not None and self.previous != cell.index:
                self._blame(self.previous, str(e))
                return None
            self.skip.add(cell.index)
            status = "timeout" if e.timed_out else "crashed"
            message = (f"cut off: ran past its {seconds:g} s limit and ignored the interrupt; "
                       "the worker was restarted without this cell") if status == "timeout" else (
                       f"the notebook's process died in this cell ({e}); "
                       "the worker was restarted without this cell")
            return CellRun(cell.index, status, time.monotonic() - start, message=message)
        self.notebook_left -= time.monotonic() - start
        self.previous = cell.index
        try:
            status = require(reply, "status", str)
            if status not in ("ok", "error", "timeout"):
                raise BadReply("bad cell status")
            outputs = self.text.keep(tuple(_check_output(o) for o in require(reply, "outputs", list)[:4]))
            message = require(reply, "message", str, "")[:MESSAGE_CHARS]
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
                      and self.runs[c.index].status in ("ok", "error")]
            not_rerun = []
            for cell in replay:
                if self._time_left() <= 0:
                    not_rerun.append(cell.index)
                    continue
                seconds = min(self.limits.cell_seconds, max(0.1, self._time_left()))
                again = self._exec(cell, seconds)
                if self.worker is None:  # the replay crashed it again (or blamed an earlier cell)
                    if again is not None and again.status in ("crashed", "timeout"):
                        self._note_replay(cell.index, again)
                    return self._ensure(upto)
                if again is not None and again.status != self.runs[cell.index].status:
                    self._note_replay(cell.index, again)
        except (WorkerCrashed, SandboxError, BadReply) as e:
            self.events.append(f"worker failed to start: {e}")
            self.worker = None
            return self._ensure(upto)
        if self.generation > 1:
            done = [c.index for c in replay if c.index not in not_rerun]
            order = [c.index for c in self.cells]
            line = (f"worker restarted ({self.restarts} of at most {self.limits.max_restarts}); "
                    f"re-ran cells {_cells(done, order)}")
            if not_rerun:
                line += f"; not re-run ({self._out_of_time()}): cells {_cells(not_rerun, order)}"
                for index in not_rerun:
                    self._amend(index, "not re-run after the worker restarted: " + self._out_of_time())
            self.events.append(line)
        return True

    def _note_replay(self, index: int, again: CellRun) -> None:
        self._amend(index, f"when re-run after a restart it ended with {again.status}: {again.message}")

    def _amend(self, index: int, note: str) -> None:
        run = self.runs[index]
        message = f"{run.message}; {note}" if run.message else note
        self.runs[index] = dataclasses.replace(run, message=message[:2 * MESSAGE_CHARS])

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
        self.seq += 1
        header = {**header, "seq": self.seq}
        if header.get("op") != "exec":
            self.previous = None
        deadline = time.monotonic() + seconds + GRACE_SECONDS
        budget, stats = (self.limits.received_mb << 20) - self.received, {"bytes": 0}
        try:
            try:
                wire.send(self.worker.sock, header, list(arrays))
            except (BrokenPipeError, ConnectionResetError):  # dead before this request was sent
                raise WorkerCrashed(self._kill(""), previous_at_fault=True) from None
            reply, out = recv_reply(self.worker.sock, deadline, budget, stats)
        except ReplyTimeout:
            raise WorkerCrashed(self._kill(f"ran past its {seconds:g} s time limit and did not stop"),
                                timed_out=True) from None
        except ConnectionResetError:  # it died with this request unread
            raise WorkerCrashed(self._kill(""), previous_at_fault=True) from None
        except (EOFError, OSError):
            raise WorkerCrashed(self._kill("")) from None
        except BudgetSpent as e:
            self.stopped = (f"the judge's budget of {self.limits.received_mb} MiB received from the "
                            f"notebook's process is used up ({e}; limits.received_mb); no more calls are made")
            raise WorkerCrashed(self._kill(self.stopped)) from None
        except BadReply as e:
            raise WorkerCrashed(self._kill(f"sent a malformed reply: {e}")) from None
        echo = reply.get("seq")
        if echo != self.seq:
            stale = type(echo) is int and 0 < echo < self.seq
            why = "answered an earlier request" if stale else "sent a reply without its request's number"
            raise WorkerCrashed(self._kill(why), previous_at_fault=stale)
        self.received += stats["bytes"]
        return reply, out

    def request(self, header: dict, arrays: list[np.ndarray] = ()) -> tuple[dict, list, int]:
        """Send one call during the tests; returns (reply, arrays, generation).

        Raises WorkerCrashed without sending anything once a budget is used up (`stop_reason`).
        """
        if self.stop_reason():
            raise WorkerCrashed(self.stop_reason())
        if not self._ensure():
            raise WorkerCrashed(self.gave_up)
        seconds = float(header.setdefault("seconds", self.limits.call_seconds))
        if self.tests_end is not None:
            seconds = max(0.1, min(seconds, self.tests_end - time.monotonic()))
            header["seconds"] = seconds
        reply, out = self._request(header, seconds, arrays)
        return reply, out, self.generation


def _cells(indices: list[int], order: list[int]) -> str:
    """Cell indices as short text; runs of code cells that follow each other (`order`) as ranges."""
    if not indices:
        return "none"
    position = {index: n for n, index in enumerate(order)}
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and position.get(i, -2) == position.get(runs[-1][1], -9) + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    return ", ".join(parts[:20]) + (f" and {len(parts) - 20} more" if len(parts) > 20 else "")


def _check_output(o: Any) -> dict:
    """Schema check for one nbformat output produced by the worker."""
    if not isinstance(o, dict):
        raise BadReply("output is not an object")
    kind = o.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stdout", "text": cap_text(require(o, "text", str))}
    if kind == "execute_result":
        data = require(o, "data", dict)
        text = data.get("text/plain", "")
        return {"output_type": "execute_result", "execution_count": None, "metadata": {},
                "data": {"text/plain": (text if isinstance(text, str) else "")[:REPR_CHARS]}}
    if kind == "error":
        tb, kept, room = require(o, "traceback", list), [], TRACEBACK_CHARS
        for line in tb[:80]:
            line = line[:2000] if isinstance(line, str) else ""
            if len(line) > room:
                break
            kept.append(line)
            room -= len(line)
        return {"output_type": "error", "ename": require(o, "ename", str)[:200],
                "evalue": require(o, "evalue", str)[:EVALUE_CHARS], "traceback": kept}
    raise BadReply("unknown output type")
