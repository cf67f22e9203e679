"""The per-submission job: `grade_job(notebook_bytes, content_hash, assignment_id, options) -> dict`.

A top-level, picklable function with plain inputs and a JSON-able output, so any process pool
can run it (grader.batch.pool here; Dask workers elsewhere). It never raises: bad input is
status `invalid` with the one-line reason `grade submit` prints; anything that breaks the grader
is status `error` with the traceback kept. It writes nothing but temporary files.

What does not change between students is paid once per process (`warm`): the imports, the
loaded assignment (with `--limit` overrides), the sandbox backend and its image check, the
public data folder, held-out data, and the feedback renderer. While one submission runs, the
next sandbox worker is already starting (`_Prestart`).

`options` (all optional): course, sandbox ("process"), gpus, jobs (1), slot (0), limits
({key: value} over [limits]), mode ("submit"), source_name, adjust ({"overrides": [[test or
"", score, comment]], "lateness": {late, seconds, days, penalty}, "manual": [the student's
grader.gradebook.manual.QuestionFeedback as a dict], "max_score": the whole assignment's points
with the manual questions}: the gradebook's adjustments, shown on the feedback page with the
final score), instructor (False), feedback (True), student (the id the page's regrade links name,
when the assignment has `[regrades]`, and from which [model.proof] draws its replayed segments).

Callers: grader.batch.pool, grader.batch.driver, cluster back-ends. Calls the judge.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import re
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from grader.textsafe import one_line

STATUSES = ("graded", "invalid", "error")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.+-]+")


def grade_job(notebook_bytes: bytes, content_hash: str, assignment_id: str,
              options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Grade one submission; returns {status, score, max_score, result, feedback_html, reason,
    traceback, duration, content_hash}. Never raises."""
    options = dict(options or {})
    started = time.monotonic()
    out: dict[str, Any] = {"status": "error", "score": 0.0, "max_score": 0.0, "result": None,
                           "feedback_html": "", "reason": "", "traceback": "", "duration": 0.0,
                           "content_hash": content_hash}
    try:
        if hashlib.sha256(notebook_bytes).hexdigest() != content_hash:
            raise ValueError("the notebook's bytes do not match its content hash")
        out.update(_run(notebook_bytes, assignment_id, options))
    except Exception as e:
        out.update(status="error", reason=one_line(f"{type(e).__name__}: {e}", 300),
                   traceback=traceback.format_exc())
    out["duration"] = round(time.monotonic() - started, 3)
    return out


def warm(assignment_id: str, options: dict[str, Any] | None = None) -> None:
    """Pay the per-process costs now (a pool calls this when a judge process starts)."""
    _judge(assignment_id, dict(options or {}))


# --------------------------------------------------------------------------- the warm judge


@dataclasses.dataclass
class _Judge:
    spec: Any
    backend: Any
    data_dir: Path
    templates: Path


_JUDGES: dict[tuple, _Judge] = {}
_LOCK = threading.Lock()


def _key(assignment_id: str, options: dict[str, Any]) -> tuple:
    limits = tuple(sorted((options.get("limits") or {}).items()))
    return (assignment_id, str(options.get("course") or ""), limits, options.get("sandbox", "process"),
            str(options.get("gpus") or ""), int(options.get("slot", 0)), int(options.get("jobs", 1)))


def _judge(assignment_id: str, options: dict[str, Any]) -> _Judge:
    key = _key(assignment_id, options)
    with _LOCK:
        if key in _JUDGES:
            return _JUDGES[key]
        from grader.course import datasets
        from grader.course.assignment import _limits, load_assignment, templates_dir
        from grader.judge.pipeline import gpu_plan
        from grader.sandbox import get_backend

        course = options.get("course") or None
        spec = load_assignment(assignment_id, course)
        if options.get("limits"):
            table = {**dataclasses.asdict(spec.limits), **options["limits"]}
            spec = dataclasses.replace(spec, limits=_limits(table))
        sandbox = options.get("sandbox", "process")
        job_gpus, _ = gpu_plan(spec, options.get("gpus"), sandbox, int(options.get("slot", 0)),
                               int(options.get("jobs", 1)))
        backend = _Prestart(get_backend(sandbox, gpus=job_gpus))  # docker: the image check, once
        data_dir = Path(tempfile.mkdtemp(prefix="dlgrade-batch-data-")) / "data"
        datasets.write_public(spec.datasets, data_dir, spec.public_files)  # held-out splits load here too
        atexit.register(shutil.rmtree, data_dir.parent, True)
        atexit.register(backend.close)
        import grader.judge.pytest_plugin  # noqa: F401  pytest, before the first student

        judge = _Judge(spec, backend, data_dir, templates_dir(course))
        _warm_feedback(judge)
        _JUDGES[key] = judge
        return judge


def _warm_feedback(judge: _Judge) -> None:
    """Render one throwaway page: the renderer's imports and template cache, once per process."""
    try:
        from grader.course.notebook import read_notebook
        from grader.feedback import build_feedback
        from grader.judge.results import GradingResult

        nb = read_notebook(judge.spec.starter) if judge.spec.starter.is_file() else {"cells": []}
        build_feedback(GradingResult(assignment=judge.spec.id, notebook="warm-up", mode="submit", score=0.0,
                                     max_score=0.0, tests=()), nb, templates=judge.templates)
    except Exception:  # only a warm-up: the first real page pays instead
        pass


class _Prestart:
    """A sandbox backend that keeps one spare worker starting in the background.

    Every worker is started from one long-lived thread: bubblewrap's --die-with-parent is tied
    to the thread that started it, so a worker started from a short-lived thread would die
    with that thread.
    """

    def __init__(self, inner: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.inner = inner
        self.name = getattr(inner, "name", "process")
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlgrade-starter")
        self._spare: tuple[Any, Any] | None = None  # (spec, future)

    def start(self, spec: Any) -> Any:
        worker = self._take(spec)
        if worker is None:
            worker = self._starter.submit(self.inner.start, spec).result()  # SandboxError goes up
        self._spare = (spec, self._starter.submit(self.inner.start, spec))
        return worker

    def _take(self, spec: Any) -> Any:
        if self._spare is None:
            return None
        wanted, future = self._spare
        self._spare = None
        try:
            worker = future.result()
        except Exception:  # start() tries again in the foreground and reports the error then
            return None
        if wanted != spec or not worker.alive():
            worker.kill()
            return None
        return worker

    def close(self) -> None:
        worker = self._take(None)
        if worker is not None:
            worker.kill()
        self._starter.shutdown(wait=False)


class _Failures(logging.Handler):
    """Catches the judge's last-resort traceback (logged at DEBUG by grader.judge.pipeline.grade)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.texts.append("".join(traceback.format_exception(*record.exc_info)))


def _run(data: bytes, assignment_id: str, options: dict[str, Any]) -> dict[str, Any]:
    from grader.judge.pipeline import BadInput, grade, prepare

    judge = _judge(assignment_id, options)
    name = _SAFE_NAME.sub("_", Path(str(options.get("source_name") or "submission.ipynb")).name)[:120]
    name = name if name.strip("._") else "submission.ipynb"
    work = Path(tempfile.mkdtemp(prefix="dlgrade-job-"))
    try:
        path = work / name
        path.write_bytes(data)
        try:
            nb, _ = prepare(path, assignment_id, options.get("course") or None)
        except BadInput as e:
            return {"status": "invalid", "reason": one_line(str(e).replace(f"{work}/", ""), 500)}
        mode = options.get("mode", "submit")
        failures = _Failures()
        log = logging.getLogger("grader.judge.pipeline")
        log.addHandler(failures)
        saved = log.level
        log.setLevel(logging.DEBUG)
        try:
            result = grade(nb, judge.spec, notebook_name=name, mode=mode,
                           sandbox=options.get("sandbox", "process"), slot=int(options.get("slot", 0)),
                           gpus=options.get("gpus"), jobs=int(options.get("jobs", 1)),
                           backend=judge.backend, data_dir=judge.data_dir, files=_files(options),
                           student=str(options.get("student") or ""))
        except BadInput as e:
            return {"status": "invalid", "reason": one_line(str(e).replace(f"{work}/", ""), 500)}
        finally:
            log.removeHandler(failures)
            log.setLevel(saved)
        feedback = ""
        if options.get("feedback", True):
            from grader.feedback import build_feedback

            page = build_feedback(result, nb, templates=judge.templates,
                                  instructor=bool(options.get("instructor")),
                                  adjustments=_adjustments(result, options), manual=_manual(options),
                                  regrade_links=_regrade_links(judge.spec, result, options))
            feedback = page.html
            result = page.result_with_errors(result)  # cells the page could not show, in result.json too
        status, reason, tb = "graded", "", ""
        if isinstance(result.extra, dict) and result.extra.get("grading_failed"):
            status = "error"
            reason = one_line(result.errors[0] if result.errors else "grading failed", 500)
            tb = "\n".join(failures.texts) or reason
        return {"status": status, "score": result.score, "max_score": result.max_score,
                "result": result.to_json(), "feedback_html": feedback, "reason": reason, "traceback": tb}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _files(options: dict[str, Any]) -> dict[str, Any]:
    """The submission's model files: name -> Path, or -> the reason it could not be kept (a str)."""
    out: dict[str, Any] = {}
    for name, where in (options.get("files") or {}).items():
        out[str(name)] = str(where["refused"]) if isinstance(where, dict) else Path(where)
    return out


def _adjustments(result: Any, options: dict[str, Any]) -> tuple[str, ...]:
    from grader.gradebook.scoring import Lateness, adjustment_lines

    adjust = options.get("adjust") or {}
    late = adjust.get("lateness") or {}
    lateness = Lateness(bool(late.get("late")), late.get("seconds"), int(late.get("days", 0)),
                        float(late.get("penalty", 0.0)), None)
    overrides = [(str(n), float(v), str(c)) for n, v, c in adjust.get("overrides") or ()]
    manual = _manual(options)
    return tuple(adjustment_lines(result.score, {t.name: t.score for t in result.tests}, overrides,
                                  float(adjust.get("max_score") or result.max_score), lateness,
                                  sum(q.score or 0.0 for q in manual) if manual else None))


def _regrade_links(spec: Any, result: Any, options: dict[str, Any]) -> dict[str, str]:
    """item -> signed regrade link for the student's page (grader.regrades.links); {} when off."""
    student = options.get("student")
    if not student or spec.regrades is None or not spec.regrades.enabled:
        return {}
    from grader.regrades.links import feedback_links

    questions = [str(q.get("key")) for q in (options.get("adjust") or {}).get("manual") or ()]
    return feedback_links(spec.regrades, str(student), spec.id, [t.name for t in result.tests], questions)


def _manual(options: dict[str, Any]) -> list[Any]:
    """The written and figure questions' grades the driver sent, as build_feedback reads them."""
    from types import SimpleNamespace

    out = []
    for q in (options.get("adjust") or {}).get("manual") or ():
        items = tuple(SimpleNamespace(**i) for i in q.get("items") or ())
        out.append(SimpleNamespace(**{**q, "items": items}))
    return out
