"""The batch driver: intake -> plan (by content hash) -> judge pool -> files and gradebook.

The driver alone writes: for each finished submission, `OUT/<student>/result.json` and
`feedback.html` (grader.outputs: atomic, no links), then one gradebook transaction. A SIGKILL
at any moment loses at most the submissions in flight, which the next run grades again.
Ctrl-C or SIGTERM stops the judges (their sandboxes are killed) and keeps what finished.

Callers: grader.commands.batch. Calls grader.batch.{intake,roster,pool,job}, grader.gradebook.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from grader.batch.intake import Intake, Picked
from grader.batch.pool import Job
from grader.textsafe import one_line, storable
from grader.version import __version__

MAX_SKIP_LINES = 50  # skipped extra files listed one per line; the rest are counted


class BatchInputError(Exception):
    """The batch cannot start (bad intake, roster, database, assignment or options). One line."""


@dataclass(frozen=True)
class BatchConfig:
    """Everything `grade batch` was asked to do."""

    submissions: Path
    assignment: str
    jobs: int | None = None  # None: one per core (per GPU for GPU assignments)
    sandbox: str = "process"
    gpus: str | None = None
    db: str | None = None
    roster: Path | None = None
    out: Path | None = None  # default: next to the intake, <name>-batch/
    force: bool = False
    students: tuple[str, ...] = ()  # regrade only these
    intake: str | None = None  # the layout (--layout); None or "auto": detected
    course: Path | None = None
    limits: dict[str, Any] = field(default_factory=dict)  # --limit overrides of [limits]
    job_timeout: float | None = None  # driver-side deadline per submission (seconds)
    cluster: str | None = None  # --cluster SPEC (grader.cluster): the workers' GPUs count, not this machine's


def default_out(submissions: Path) -> Path:
    p = Path(os.path.abspath(submissions))
    return p.parent / f"{p.stem if p.is_file() else p.name}-batch"


def default_jobs(spec: Any, gpus: str | None) -> int:
    cores = os.cpu_count() or 1
    n = max(1, cores // max(1, spec.limits.cpus))
    if spec.gpu != "none" and gpus:
        from grader.sandbox.gpu import host_gpu_count, parse_gpus

        request = parse_gpus(gpus)
        count = len(request.device_ids) if request.device_ids else (host_gpu_count() if request.all else request.count)
        n = max(1, min(n, count or 1))
    return n


#: Runs jobs somewhere and yields (job, grade_job's result) as they finish: (jobs, n, assignment
#: id, batch-wide options, per-job deadline in seconds). The default is the local JudgePool; a
#: cluster back-end (Dask, say) passes its own to Batch and the driver still writes everything.
Runner = Callable[[list[Job], int, str, dict[str, Any], float], Iterator[tuple[Job, dict[str, Any]]]]


def local_runner(jobs: list[Job], n: int, assignment: str, options: dict[str, Any],
                 timeout: float) -> Iterator[tuple[Job, dict[str, Any]]]:
    """The default Runner: `n` warm judge processes on this machine."""
    from grader.batch.pool import JudgePool

    pool = JudgePool(min(n, len(jobs)), assignment, options, timeout)
    try:
        yield from pool.run(jobs)
        pool.close()
    except BaseException:  # Ctrl-C, SIGTERM, or the driver's own failure: stop the judges first
        pool.terminate()
        raise


class Batch:
    """One run of `grade batch`; `run()` returns the summary (the --json output)."""

    def __init__(self, cfg: BatchConfig, report: Callable[[str], None] = lambda line: None,
                 runner: Runner | None = None) -> None:
        self.cfg, self.report, self.runner = cfg, report, runner or local_runner
        self._digests: dict[str, str] = {}  # student -> digest of the kept files ([model]) in this intake
        self._graded: dict[str, str] | None = None  # student -> the digest their current grading recorded

    # -- setup -------------------------------------------------------------------------
    def prepare(self) -> None:
        import dataclasses

        from grader.batch.intake import IntakeError, read_intake
        from grader.batch.roster import RosterError, read_roster
        from grader.course.assignment import AssignmentError, _limits, load_assignment
        from grader.gradebook.api import Gradebook
        from grader.gradebook.db import GradebookError

        cfg = self.cfg
        try:
            spec = load_assignment(cfg.assignment, cfg.course)
            if cfg.limits:
                spec = dataclasses.replace(spec, limits=_limits({**dataclasses.asdict(spec.limits), **cfg.limits}))
        except AssignmentError as e:
            raise BatchInputError(str(e)) from None
        except Exception as e:  # assignment._Bad from --limit
            raise BatchInputError(f"--limit: {e}") from None
        from grader.judge.pipeline import BadInput, gpu_plan

        try:
            if not cfg.cluster:  # on a cluster, grader.cluster checks the workers' GPUs instead
                gpu_plan(spec, cfg.gpus, cfg.sandbox)  # a GPU assignment without GPUs stops here, once
        except BadInput as e:
            raise BatchInputError(str(e)) from None
        from grader.batch.answers import course_questions
        from grader.course.notebook import BadNotebook
        from grader.manual.questions import QuestionError

        try:
            self.questions = course_questions(spec.solution) if spec.solution.is_file() else []
        except (BadNotebook, QuestionError) as e:
            raise BatchInputError(f"{spec.solution}: {e}") from None
        self.spec = spec
        self.jobs = cfg.jobs or default_jobs(spec, cfg.gpus)
        self.out = Path(os.path.abspath(cfg.out or default_out(cfg.submissions)))
        try:
            self.roster = read_roster(cfg.roster) if cfg.roster else []
        except RosterError as e:
            raise BatchInputError(str(e)) from None
        try:
            keep = tuple(self._kept_caps()) if spec.model else ()
            self.intake: Intake = read_intake(cfg.submissions, spec.id, cfg.intake, exclude=self.out,
                                              roster_ids=[r["id"] for r in self.roster], keep=keep)
        except IntakeError as e:
            raise BatchInputError(str(e)) from None
        try:
            self.gb = Gradebook.open(cfg.db)
        except GradebookError as e:
            raise BatchInputError(str(e)) from None

    # -- the run -----------------------------------------------------------------------
    def plan(self) -> tuple[list[Picked], int]:
        current = self.gb.current(self.spec.id)
        picked = self.intake.picked
        wanted = set(self.cfg.students)
        for sid in sorted(wanted - set(picked)):
            self.report(f"warning: --student {one_line(sid)}: no submission in {self.cfg.submissions}")
        todo, unchanged = [], 0
        for sid in sorted(picked, key=_natural):
            p = picked[sid]
            if wanted and sid not in wanted:
                continue
            if self.cfg.force or sid in wanted or current.get(sid, ("", ""))[0] != p.content_hash \
                    or (self.spec.model is not None and (p.files or self._graded_digest(sid))
                        and self._files_digest(p) != self._graded_digest(sid)):
                todo.append(p)
            else:
                unchanged += 1
        return todo, unchanged

    def _files_digest(self, p: Picked) -> str:
        """sha256 over a submission's kept files ([model]: names and bytes, or why unreadable): new
        weights next to an unchanged notebook are a new submission. Kept in the result's extra.model."""
        digests = self._digests
        if p.student not in digests:
            h = hashlib.sha256()
            for f, data in self._read_kept(p):
                h.update(f"{f.name}\0{len(data)}\0".encode())
                h.update(data.encode() if isinstance(data, str) else hashlib.sha256(data).digest())
            digests[p.student] = h.hexdigest()
        return digests[p.student]

    def _graded_digest(self, student: str) -> str:
        """The kept files' digest of the student's current grading ("" if none was recorded)."""
        if self._graded is None:
            self._graded = {}
            for row in self.gb.students(self.spec.id):
                if row.grading_id is None:
                    continue
                try:
                    result = json.loads(self.gb.grading(row.grading_id)["result_json"] or "{}")
                    self._graded[row.student] = str(result["extra"]["model"]["files_digest"])
                except (ValueError, KeyError, TypeError):
                    continue
        return self._graded.get(student, "")

    def _kept_caps(self) -> dict[str, int]:
        """The `[model]` files kept with a notebook, each with its cap in whole MiB (rounded up)."""
        limits = self.spec.limits
        return {name: -(-cap // (1 << 20))
                for name, cap in self.spec.model.file_caps(limits.model_file_mb, limits.predictions_kb).items()}

    def _read_kept(self, p: Picked):  # noqa: ANN202 - yields (KeptFile, bytes | str)
        caps = self._kept_caps()
        for f in p.files:
            yield f, f.read(max(1, caps.get(f.name, 1)))

    def run(self, progress: Any = None) -> dict[str, Any]:
        from grader.authoring.validate import summarize
        from grader.gradebook.api import NewGrading, NewSubmission, TestOutcome
        from grader.gradebook.scoring import assess

        self.prepare()
        spec, gb, cfg = self.spec, self.gb, self.cfg
        for line in self.intake.refused:
            self.report(line)
        for line in self.intake.skipped[:MAX_SKIP_LINES]:
            self.report(line)
        if len(self.intake.skipped) > MAX_SKIP_LINES:
            self.report(f"... and {len(self.intake.skipped) - MAX_SKIP_LINES} more files skipped")
        todo, unchanged = self.plan()
        try:
            max_score = float(summarize(spec).points)
        except Exception:
            max_score = 0.0
        previous = gb.autograde_max(spec.id)
        if previous:
            max_score = previous
        gb.ensure_assignment(spec.id, spec.title, max_score, spec.late, spec.regrades)
        from grader.batch.answers import answers_from_bytes
        from grader.gradebook.manual import Manual

        Manual(gb.sessions).sync_questions(spec.id, self.questions)
        gb.ensure_students(self.roster, roster=True)
        gb.ensure_students([{"id": p.student, "name": p.person} for p in self.intake.picked.values()])
        counts = {"graded": 0, "invalid": 0, "error": 0}
        durations: list[tuple[float, str]] = []
        errors: list[dict[str, str]] = []
        interrupted = False
        run_id = None
        if todo:
            run_id = gb.start_run(spec.id, __version__, cfg.sandbox, self.jobs, str(cfg.submissions))
            from grader.outputs import ensure_dir

            ensure_dir(self.out)
            overrides: dict[str, list] = {}
            for o in gb.overrides(spec.id):
                overrides.setdefault(o.student, []).append([o.test, o.score, o.comment])
            extensions = gb.extensions(spec.id)
            book = Manual(gb.sessions)
            whole_max = (gb.assignment(spec.id) or ("", max_score))[1]
            base = {"course": str(cfg.course) if cfg.course else None, "sandbox": cfg.sandbox, "gpus": cfg.gpus,
                    "limits": cfg.limits, "mode": "submit"}

            def record(p: Picked, res: dict[str, Any]) -> None:
                late = assess(spec.late, p.submitted_at, p.late_flag)
                model = ((res.get("result") or {}).get("extra") or {}).get("model")
                if p.files and isinstance(model, dict):
                    model["files_digest"] = self._files_digest(p)
                try:
                    files = self._write_files(p.student, res)
                except OSError as e:  # a link planted in OUT, a full disk: this student only
                    reason = one_line(f"cannot write the result files in {self.out / p.student}: "
                                      f"{e.strerror or e}", 300)
                    res = {**res, "status": "error", "reason": reason,
                           "traceback": f"{reason}\n{res.get('traceback', '')}".strip()}
                    files = ()
                tests = tuple(TestOutcome(t["name"], t["suite"], t["score"], t["max_score"], t["status"],
                                          t.get("message", ""), t.get("visibility", "visible"))
                              for t in ((res.get("result") or {}).get("tests") or ()))
                gb.record_grading(
                    NewSubmission(p.student, spec.id, p.source, p.content_hash, p.data, self.intake.kind,
                                  p.submitted_at, p.late_flag, late.seconds if late.late else None),
                    NewGrading(res["status"], float(res.get("score") or 0), float(res.get("max_score") or 0),
                               res.get("reason", ""), res.get("traceback", ""),
                               json.dumps(res["result"]) if res.get("result") else "", float(res.get("duration", 0)),
                               __version__, cfg.sandbox, tests, files,
                               tuple(answers_from_bytes(p.data, self.questions))), run_id)
                counts[res["status"]] += 1
                durations.append((float(res.get("duration", 0)), p.student))
                if res["status"] == "error":
                    errors.append({"student": p.student, "reason": res.get("reason", "")})
                if progress is not None:
                    progress.advance(p.student, res["status"])

            if progress is not None:
                progress.begin(len(todo), 0)
            jobs = []
            for p in todo:
                if p.reason:  # the intake already knows it cannot be graded
                    record(p, {"status": "invalid", "reason": p.reason, "duration": 0.0})
                    continue
                lateness = assess(spec.late, p.submitted_at, p.late_flag, extensions.get(p.student))
                adjust = {"overrides": overrides.get(p.student, []),
                          "lateness": {"late": lateness.late, "seconds": lateness.seconds, "days": lateness.days,
                                       "penalty": lateness.penalty}}
                if self.questions:  # the page shows the written and figure questions, graded or not yet
                    adjust["manual"] = [asdict(f) for f in book.feedback(spec.id, p.student)]
                    adjust["max_score"] = whole_max
                jobs.append(Job(p.student, p.data, p.content_hash,
                                {**base, "source_name": p.name, "adjust": adjust, "student": p.student,
                                 **self._model_files(p)}))
            by_key = {p.student: p for p in todo}
            if jobs:
                timeout = cfg.job_timeout or (2 * spec.limits.notebook_seconds + 600)
                results = self.runner(jobs, self.jobs, spec.id, base, timeout)
                try:
                    for job, res in results:
                        record(by_key[job.key], res)
                except (KeyboardInterrupt, SystemExit):
                    interrupted = True
                finally:
                    close = getattr(results, "close", None)
                    if close is not None:
                        close()  # a generator runner stops its workers here
        summary = self._summary(counts, unchanged, durations, errors, interrupted, bool(todo))
        if run_id is not None:
            gb.finish_run(run_id, summary)
        gb.dispose()
        return summary

    def _model_files(self, p: Picked) -> dict[str, Any]:
        """{"files": {name: path | {"refused": why}}} for a submission's kept files ([model]), written
        to OUT/<student>/files/ for the judge to read; {} when it has none."""
        if not p.files:
            return {}
        from grader.outputs import ensure_dir, write_bytes

        out: dict[str, Any] = {}
        for f, data in self._read_kept(p):
            if isinstance(data, str):
                out[f.name] = {"refused": f"{f.name}: {data.removeprefix('refuse: ')}"}
                continue
            try:
                out[f.name] = str(write_bytes(ensure_dir(self.out / p.student / "files"), f.name, data))
            except OSError as e:
                out[f.name] = {"refused": f"{f.name}: cannot be stored for grading: {e.strerror or e}"}
        return {"files": out}

    def _write_files(self, student: str, res: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """OUT/<student>/result.json and feedback.html, as grade submit writes them."""
        from grader.outputs import ensure_dir, write_text

        if not res.get("result"):  # invalid now: an earlier grading's files must not stand for it
            folder = self.out / student
            if folder.is_dir() and not folder.is_symlink():
                for name in ("result.json", "feedback.html"):
                    stale = folder / name
                    if stale.is_symlink() or stale.is_file():
                        stale.unlink()
            return ()
        folder = ensure_dir(self.out / student)
        for stale in folder.glob(".*.tmp"):  # left by a run killed mid-write
            stale.unlink(missing_ok=True)
        files = [("result", str(write_text(folder, "result.json", json.dumps(res["result"], indent=2) + "\n")))]
        if res.get("feedback_html"):
            files.append(("feedback", str(write_text(folder, "feedback.html", storable(res["feedback_html"])))))
        return tuple(files)

    def _summary(self, counts: dict[str, int], unchanged: int, durations: list[tuple[float, str]],
                 errors: list[dict[str, str]], interrupted: bool, did_work: bool) -> dict[str, Any]:
        rows = self.gb.students(self.spec.id)
        per_status = {s: sum(r.status == s for r in rows) for s in ("graded", "invalid", "error", "missing")}
        scores = [r.score for r in rows if r.status == "graded"]
        slowest = sorted(durations, reverse=True)[:5]
        return {
            "assignment": self.spec.id,
            "graded": counts["graded"], "invalid": counts["invalid"], "error": counts["error"],
            "skipped": unchanged, "missing": per_status["missing"],
            "refused": len(self.intake.refused), "ignored_files": len(self.intake.skipped),
            "interrupted": interrupted, "nothing_to_do": not did_work,
            "class": {**per_status, "students": len(rows),
                      "mean": round(statistics.fmean(scores), 4) if scores else None,
                      "median": round(statistics.median(scores), 4) if scores else None,
                      "max_score": rows[0].max_score if rows else None},
            "slowest": [{"student": s, "seconds": d} for d, s in slowest],
            "errors": errors,
            "refusals": self.intake.refused,
            "out": str(self.out), "db": self.gb.url, "jobs": self.jobs, "intake": self.intake.kind,
        }


def print_summary(summary: dict[str, Any], echo: Callable[[str], None]) -> None:
    """The human summary after a run (student-derived text through textsafe)."""
    c = summary["class"]
    if summary["nothing_to_do"]:
        echo(f"Nothing to do: {summary['skipped']} submission(s) unchanged since they were graded "
             "(--force regrades all, --student ID one)")
    else:
        echo(f"This run: {summary['graded']} graded, {summary['invalid']} invalid, {summary['error']} error, "
             f"{summary['skipped']} unchanged" + (" (interrupted)" if summary["interrupted"] else ""))
    mean = "-" if c["mean"] is None else f"{c['mean']:g}"
    median = "-" if c["median"] is None else f"{c['median']:g}"
    echo(f"Class: {c['students']} students: {c['graded']} graded, {c['invalid']} invalid, {c['error']} error, "
         f"{c['missing']} missing; mean {mean}, median {median} / {c['max_score'] or 0:g}")
    if summary["slowest"]:
        echo("Slowest: " + ", ".join(f"{one_line(s['student'], 40)} {s['seconds']:.1f} s" for s in summary["slowest"]))
    for e in summary["errors"]:
        echo(f"grader error: {one_line(e['student'], 40)}: {one_line(e['reason'], 300)}")
    if summary["refused"]:
        echo(f"{summary['refused']} archive entr{'y' if summary['refused'] == 1 else 'ies'} refused (listed above)")
    echo(f"Results: {summary['out']}  Gradebook: {summary['db']}")


def _natural(key: str) -> tuple:
    """Numbers first, by value: ASCII digits only (`'①'.isdigit()` is true, `int('①')` fails)."""
    return (0, int(key), key) if key.isascii() and key.isdigit() else (1, 0, key)


def stderr_line(line: str) -> None:
    print(one_line(line, 400), file=sys.stderr)

