"""Second workers whose sandbox lacks some packages, for "write it without torch" calls.

Owns: the judge's side of `submission.refusing("torch")` in an assignment that otherwise needs
torch (cnn, regularization). Such calls do not run in the notebook's own worker, where a
profile hook could be undone from inside (`sys.setprofile(None)`, a thread); they run in a
sibling worker started on first use, whose sandbox does not hold the package at all (its
folders are masked: `WorkerSpec.hide_modules`), fed the student's code cells. In that worker
`import torch` gives a placeholder whose every attribute raises (a courtesy, so that a cell
importing torch beside numpy still defines the rest); nothing there can reach the real one.

May call: grader.judge.session (WorkerSession), grader.sandbox (the backend and its environment).
Called by: grader.judge.pipeline (creates and closes it), grader.judge.remote (Submission.refusing).
"""

from __future__ import annotations

import dataclasses

from grader.judge.session import Cell, WorkerSession
from grader.sandbox import Backend, WorkerSpec

#: Packages the worker itself imports: they cannot be hidden, so refusing them stays a hook.
WORKER_NEEDS = frozenset({"numpy"})
#: The worker reads this variable and installs the placeholder modules (untrusted_worker.py).
ABSENT_ENV = "DLGRADE_ABSENT_MODULES"


class WorkersWithout:
    """Lazily started sibling workers, one per set of hidden packages, closed with the grading."""

    def __init__(self, backend: Backend, spec: WorkerSpec, cells: list[Cell], *,
                 forbidden: tuple[str, ...] = (), seed: int = 0, parent: WorkerSession | None = None) -> None:
        """`parent`: the notebook's own session, whose clocks (tests, total) the siblings share."""
        self.backend, self.spec, self.cells, self.parent = backend, spec, cells, parent
        self.forbidden, self.seed = forbidden, seed
        self.sessions: dict[tuple[str, ...], WorkerSession] = {}
        self.events: list[str] = []
        self._installed: dict[str, bool] = {}

    def split(self, modules: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(hidden by the sandbox, refused by the in-process hook only) for `modules`.

        A top-level package that is installed and that the worker does not need is hidden;
        anything else (numpy, a dotted name, a package that is not there) keeps the hook.
        """
        hide, hook = [], []
        for m in modules:
            if "." not in m and m not in WORKER_NEEDS and self._has(m):
                hide.append(m)
            else:
                hook.append(m)
        return tuple(sorted(set(hide))), tuple(hook)

    def _has(self, module: str) -> bool:
        if module not in self._installed:
            self._installed[module] = self.backend.environment().has(module, self.spec.hide_modules)
        return self._installed[module]

    def session(self, hidden: tuple[str, ...]) -> WorkerSession:
        """The worker without `hidden`, started (and its notebook run) on first use."""
        key = tuple(sorted(set(hidden)))
        if key not in self.sessions:
            env = tuple(kv for kv in self.spec.env if kv[0] != ABSENT_ENV) + ((ABSENT_ENV, ",".join(key)),)
            spec = dataclasses.replace(self.spec, hide_modules=tuple(sorted({*self.spec.hide_modules, *key})),
                                       env=env)
            session = WorkerSession(self.backend, spec, self.cells, seed=self.seed,
                                    forbidden=tuple(m for m in self.forbidden if m not in key))
            if self.parent is not None:  # its notebook run and calls count against the same deadlines
                session.clock_end, session.tests_end = self.parent.clock_end, self.parent.tests_end
            self.sessions[key] = session
            session.run_notebook()
        return self.sessions[key]

    def close(self) -> None:
        for key, session in self.sessions.items():
            session.close()
            what = ", ".join(key)
            self.events += [f"worker without {what} (by-hand calls): {e}" for e in session.events]
        self.sessions.clear()
