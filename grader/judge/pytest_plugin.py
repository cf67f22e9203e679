"""The pytest plugin the judge runs the assignment's tests with (in the judge's own process).

It provides the fixtures of docs/authoring.md, reads the `points` and `visibility` markers,
and turns each test's outcome into a `TestResult`. Assertion rewriting is off (`--assert=plain`)
so a hidden test's source can never leak into a message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from grader.course import datasets
from grader.course.assignment import Assignment
from grader.course.misconceptions import Misconception, load_misconceptions
from grader.course.testing import Credit
from grader.judge.remote import MissingName, StudentError, Submission, SubmissionError, WorkerLost
from grader.judge.results import VISIBILITIES, TestResult

MARKERS = (
    "points(n): what the test is worth (default 1)",
    "visibility(level): visible | after_due_date | hidden; who reads the message",
    "starter_passes: a hidden test that may pass on the starter (grade validate)",
)


#: Once held-out inputs reach the notebook: the longest failure message, and all of them together.
HELDOUT_MESSAGE_CHARS = 300
HELDOUT_MESSAGE_BUDGET = 1200


def test_seed(assignment_id: str, test_name: str, secret: str) -> int:
    digest = hashlib.sha256(f"{assignment_id}\0{test_name}\0{secret}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class JudgePlugin:
    """Fixtures and result collection for one grading run."""

    def __init__(self, assignment: Assignment, submission: Submission, suites: dict[Path, str],
                 secret: str = "", on_test: Callable[[TestResult], None] | None = None,
                 stop: Callable[[], str] | None = None,
                 installed: Callable[[str], bool] | None = None) -> None:
        """`stop` says why no more tests may run ("" while they may): a judge budget is used up."""
        self._assignment = assignment
        self._stop = stop
        self._installed = installed
        self._submission = submission
        self.suites = suites
        self.secret = secret
        self.on_test = on_test
        self.results: list[TestResult] = []
        self._reference: Any = None
        self._started: dict[str, float] = {}
        self._handed_out = False
        self._heldout_chars = 0
        self._misconceptions: tuple[Misconception, ...] | None = None
        self._probed: dict[str, bool] = {}  # misconception name -> what its probe found

    # -- fixtures ------------------------------------------------------------------------
    @pytest.fixture
    def submission(self) -> Submission:
        return self._submission

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        return np.random.default_rng(test_seed(self._assignment.id, request.node.name, self.secret))

    @pytest.fixture
    def reference(self) -> Any:
        return self._load_reference()

    def _load_reference(self) -> Any:
        if self._reference is None:
            path = self._assignment.reference_path
            if path is None or not path.exists():
                pytest.fail(f"assignment {self._assignment.id} has no reference module")
            spec = importlib.util.spec_from_file_location(f"dlgrade_reference_{self._assignment.id}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._reference = module
        return self._reference

    @pytest.fixture
    def heldout(self) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
        """Held-out (X, y), X varied per course (datasets.perturb_heldout); see _bound_message."""
        def load(name: str) -> tuple[np.ndarray, np.ndarray]:
            if name not in self._assignment.datasets:
                raise KeyError(f"dataset {name!r} is not declared in assignment.toml")
            split = datasets.load(name)
            self._handed_out = True  # from now on the notebook may hold held-out inputs
            return datasets.perturb_heldout(name, split.X_heldout, self.secret), split.y_heldout.copy()

        return load

    @pytest.fixture
    def installed(self) -> Callable[[str], bool]:
        """`installed("torchvision")`: whether the sandbox's environment holds that package.

        Decided by the judge from the sandbox's files (grader/sandbox/environment.py), never
        from what the worker reports: a notebook can fake a module in sys.modules.
        """
        def check(module: str) -> bool:
            return bool(self._installed and self._installed(module))

        return check

    @pytest.fixture
    def credit(self, request: pytest.FixtureRequest) -> Credit:
        c = Credit()
        request.node.stash[_CREDIT] = c
        return c

    @pytest.fixture
    def assignment(self) -> Assignment:
        return self._assignment

    # -- hooks -------------------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        for line in MARKERS:
            config.addinivalue_line("markers", line)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Tests that hand held-out data to the notebook run last (in their own order), so that
        no later test's message can carry inputs the notebook kept."""
        items.sort(key=lambda item: "heldout" in getattr(item, "fixturenames", ()))

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._started[item.nodeid] = time.monotonic()
        why = self._stop() if self._stop else ""
        if why:  # fails the setup: scored as an error with this message, the test body never runs
            raise WorkerLost(why)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.results.append(self._result(item, call, report))
            if self.on_test:
                self.on_test(self.results[-1])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Diagnoses come after every test has its verdict: a probe's calls into the worker, and
        the budgets they spend, can never change a score."""
        self.results[:] = [self._diagnose(r) if r.status in ("failed", "partial") else r for r in self.results]

    def _result(self, item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> TestResult:
        points_mark = item.get_closest_marker("points")
        points = float(points_mark.args[0]) if points_mark and points_mark.args else 1.0
        vis_mark = item.get_closest_marker("visibility")
        visibility = vis_mark.args[0] if vis_mark and vis_mark.args else "visible"
        if visibility not in VISIBILITIES:
            visibility = "hidden"
        path = Path(str(item.path)).resolve()
        suite = next((s for d, s in self.suites.items() if path.is_relative_to(d)), "hidden")
        doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        duration = time.monotonic() - self._started.get(item.nodeid, time.monotonic())
        base = dict(name=item.name, suite=suite, max_score=points, visibility=visibility,
                    duration=round(duration, 4), description=doc[0] if doc else "")
        measured: Credit | None = item.stash.get(_CREDIT, None)
        if measured is not None and measured.accuracy is not None:  # the judge's number, not a message
            base.update(accuracy=measured.accuracy, accuracy_needed=measured.accuracy_needed)
        if report.skipped:
            reason = call.excinfo.value.msg if call.excinfo and hasattr(call.excinfo.value, "msg") else ""
            return TestResult(score=0.0, status="skipped", message=f"skipped: {reason}",
                              **{**base, "max_score": 0.0})
        if report.passed:
            credit: Credit | None = item.stash.get(_CREDIT, None)
            if credit is not None and credit.fraction is not None:
                frac = credit.fraction
                status = "passed" if frac >= 1 else ("partial" if frac > 0 else "failed")
                message = self._bound_message(credit.message, None) if self._handed_out else credit.message
                return TestResult(score=round(points * frac, 6), status=status, message=message, **base)
            return TestResult(score=points, status="passed", **base)
        exc = call.excinfo.value if call.excinfo else None
        cell = getattr(exc, "cell", None)
        if isinstance(exc, SubmissionError):
            status, message = "error", str(exc)
            if isinstance(exc, MissingName) and cell is not None:
                message += f"; it is defined in cell {cell}"
        elif isinstance(exc, AssertionError):
            status = "failed"
            message = str(exc).strip() or (
                "a check failed" + (f" ({item.name})" if suite == "public" else ""))
        elif exc is not None:
            status = "failed"
            message = f"{type(exc).__name__}: {exc}".strip()
            if report.when == "setup":
                message = f"could not set up the test: {message}"
        else:
            status, message = "failed", "failed"
        if self._handed_out:
            if cell is not None and not isinstance(exc, MissingName):  # the worker's number: counted
                cell = self._spend_cell(cell)
            message = self._bound_message(message, exc, cell)
        return TestResult(score=0.0, status=status, message=message[:4000], cell=cell, **base)

    def _diagnose(self, result: TestResult) -> TestResult:
        """`result` with the diagnoses whose probes match (each probe runs once per grading)."""
        if self._misconceptions is None:
            try:
                self._misconceptions = load_misconceptions(self._assignment.root)
            except ValueError:  # a malformed catalogue diagnoses nothing; `grade validate` reports it
                self._misconceptions = ()
        base = result.name.split("[", 1)[0]
        found = []
        for m in self._misconceptions:
            if base not in m.tests:
                continue
            if m.name not in self._probed:
                if self._stop and self._stop():
                    continue  # a budget is spent: no more calls into the worker
                try:
                    self._probed[m.name] = m.probe(self._submission, self._load_reference()) is True
                except (Exception, pytest.fail.Exception):  # student code raised, crashed, returned junk
                    self._probed[m.name] = False
            if self._probed[m.name]:
                found.append(m.diagnosis())
        return dataclasses.replace(result, diagnoses=tuple(found)) if found else result

    def _bound_message(self, message: str, exc: BaseException | None, cell: int | None = None) -> str:
        """A failure message once held-out inputs have reached the notebook: bounded, so that
        inputs the student's code kept cannot be carried out through it.

        Student code's exception text is not shown (only its type and cell); any other message
        is cut to HELDOUT_MESSAGE_CHARS, and all of them together to HELDOUT_MESSAGE_BUDGET.
        """
        left = HELDOUT_MESSAGE_BUDGET - self._heldout_chars
        if isinstance(exc, StudentError):  # the judge's words; only the class name is the student's
            kind = "".join(ch for ch in str(getattr(exc, "kind", "")) if ch.isalnum() or ch == "_")[:40]
            kind = kind if len(kind) <= left else ""
            self._heldout_chars += len(kind)
            where = f" in cell {cell}" if cell is not None else ""  # already counted (_spend_cell)
            return (f"the notebook's code raised {kind or 'an exception'}{where}; its text is not shown "
                    "in tests that use held-out data")
        message = message[:HELDOUT_MESSAGE_CHARS]
        if len(message) > left:
            return "(message withheld: the budget for messages of tests that use held-out data is spent)"
        self._heldout_chars += len(message)
        return message

    def _spend_cell(self, cell: int) -> int | None:
        """A cell number the worker reported, once held-out inputs are out: its digits count
        against HELDOUT_MESSAGE_BUDGET like any other text the student's code chose (None once
        spent). Once per test: the result's `cell` and the message's "in cell N" are one choice."""
        cost = len(str(cell))
        if cost > HELDOUT_MESSAGE_BUDGET - self._heldout_chars:
            return None
        self._heldout_chars += cost
        return cell


_CREDIT = pytest.StashKey[Credit]()


#: pytest plugins a run in a student's kernel (grader.kit.inkernel) leaves out: they cost time on
#: every call (gc.collect five times a run for unraisable exceptions) and change no verdict.
LEAN = ("unraisableexception", "threadexception", "faulthandler", "doctest", "junitxml", "pastebin",
        "setuponly", "setupplan", "nose", "legacypath")


def run_tests(plugin: JudgePlugin, paths: list[Path], without: tuple[str, ...] = ()) -> list[TestResult]:
    """Run pytest in this process over `paths`, quietly; returns the plugin's results.

    `without`: more pytest plugins to leave out (e.g. LEAN)."""
    paths = [p for p in paths if p.exists() and any(p.glob("test_*.py"))]
    if not paths:
        return []
    with tempfile.TemporaryDirectory(prefix="dlgrade-pytest-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        args = ["-q", "-p", "no:cacheprovider", "-p", "no:warnings", "-p", "no:stepwise",
                "--assert=plain", "--import-mode=importlib", "-c", str(ini),
                "--rootdir", str(paths[0].parent), "-o", "python_files=test_*.py",
                "--basetemp", str(Path(tmp) / "basetemp"),
                *[arg for name in without for arg in ("-p", f"no:{name}")], *map(str, paths)]
        saved_env = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        saved_out = sys.stdout
        modules_before = set(sys.modules)
        try:
            with open(os.devnull, "w") as quiet:
                sys.stdout = quiet
                pytest.main(args, plugins=[plugin])
        finally:
            sys.stdout = saved_out
            _forget_test_modules(modules_before, paths)
            if saved_env is None:
                os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
            else:
                os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved_env
    return plugin.results


def _forget_test_modules(before: set[str], paths: list[Path]) -> None:
    """Drop the test modules this run imported from sys.modules.

    `--import-mode=importlib` names a test module after its path below the rootdir
    (`hidden.test_affine`) and reuses a module of that name already in sys.modules, so without
    this a later run in the same process (another assignment, another copy of this one) would
    silently get this run's tests.
    """
    roots = [p.resolve() for p in paths]
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and any(Path(file).resolve().is_relative_to(r) for r in roots):
            del sys.modules[name]
