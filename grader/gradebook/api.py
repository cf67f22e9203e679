"""The gradebook's API: what batch grading writes and what exports, reports and LMS code read.

    from grader.gradebook.api import Gradebook
    gb = Gradebook.open()                      # --db URL / $DLGRADE_DB / sqlite:///gradebook.db
    for row in gb.students("backprop"):        # one StudentRow per student (missing ones too)
        row.student, row.status, row.score, row.final_score, row.tests
    gb.test_results(row.grading_id)            # [TestOutcome] with messages and visibility
    for sub in gb.submissions("backprop"):     # current submissions, with stored notebook bytes
        sub.notebook(), sub.result_path, sub.feedback_path
    gb.overrides("backprop"); gb.record_push(student, "backprop", "canvas", 8.5, "ok")

Every write is one transaction. Reads return frozen dataclasses (plain values, no ORM objects).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from grader.gradebook import models as m
from grader.gradebook.db import open_gradebook
from grader.gradebook.scoring import Lateness, LatePolicy, assess, final_score

#: Statuses of a student for an assignment. graded/invalid/error come from the judge.
STATUSES = ("graded", "invalid", "error", "missing")


@dataclass(frozen=True)
class StudentRow:
    """One student's standing for one assignment (the export's row)."""

    student: str
    name: str
    email: str
    sis_user_id: str
    sis_login_id: str
    section: str
    status: str  # graded | invalid | error | missing
    score: float  # the autograde (0 unless graded)
    final_score: float  # autograde (with overrides) + manual grades, minus the late penalty
    max_score: float  # autograde points + manual questions' points
    late: bool
    seconds_late: float | None
    late_penalty: float  # points taken off for lateness
    tests: dict[str, float] = field(default_factory=dict)  # test name -> autograde score
    overrides: tuple[OverrideInfo, ...] = ()
    reason: str = ""  # invalid: the one-line reason; error: the exception line
    source_name: str = ""
    content_hash: str = ""
    submitted_at: dt.datetime | None = None
    submission_id: int | None = None
    grading_id: int | None = None
    graded_at: dt.datetime | None = None
    #: question key -> manual score; None while a person has not graded it
    manual: dict[str, float | None] = field(default_factory=dict)
    manual_score: float = 0.0  # sum of the graded manual questions

    @property
    def incomplete(self) -> bool:
        """A submitted answer still waits for a person's grade."""
        return self.submission_id is not None and any(v is None for v in self.manual.values())


@dataclass(frozen=True)
class TestOutcome:
    """One test of one grading."""

    __test__ = False
    name: str
    suite: str
    score: float
    max_score: float
    status: str
    message: str
    visibility: str


@dataclass(frozen=True)
class OverrideInfo:
    """An instructor's override: a test's score, or (test "") the total."""

    student: str
    assignment: str
    test: str
    score: float
    comment: str
    created_at: dt.datetime


@dataclass(frozen=True)
class SubmissionInfo:
    """A current submission with where its bytes and files are."""

    student: str
    assignment: str
    submission_id: int
    source_name: str
    content_hash: str
    status: str  # of its current grading; "" when not graded yet
    result_path: str
    feedback_path: str
    submitted_at: dt.datetime | None
    late_flag: bool
    notebook: Callable[[], bytes] = field(repr=False, compare=False, default=lambda: b"")


@dataclass(frozen=True)
class PushInfo:
    student: str
    assignment: str
    target: str
    final_score: float | None
    status: str
    detail: str
    pushed_at: dt.datetime


@dataclass(frozen=True)
class NewSubmission:
    """What the intake found for one student (input to `record_grading`)."""

    student: str
    assignment: str
    source_name: str
    content_hash: str
    data: bytes
    intake: str = ""
    submitted_at: dt.datetime | None = None
    late_flag: bool = False
    seconds_late: float | None = None


@dataclass(frozen=True)
class NewGrading:
    """What the judge concluded (input to `record_grading`)."""

    status: str  # graded | invalid | error
    score: float = 0.0
    max_score: float = 0.0
    reason: str = ""
    traceback: str = ""
    result_json: str = ""
    duration: float = 0.0
    grader_version: str = ""
    sandbox: str = ""
    tests: tuple[TestOutcome, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (kind, path)
    #: grader.manual.answers.Answer of each manual question (stored for the submission)
    answers: tuple[Any, ...] = ()


class Gradebook:
    """A gradebook database. Cheap to create; each method is its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @staticmethod
    def open(url: str | None = None) -> Gradebook:
        return Gradebook(open_gradebook(url))

    @property
    def url(self) -> str:
        return self.sessions.kw["bind"].url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.sessions.kw["bind"].dispose()

    # -- writes --------------------------------------------------------------------------
    def ensure_assignment(self, assignment: str, title: str, max_score: float, policy: LatePolicy,
                          regrades: Any = None) -> None:
        """Add or update an assignment; `regrades`: its grader.regrades.links.RegradeSettings (None: kept)."""
        with self.sessions.begin() as s:
            _insert_missing(s, m.Assignment, id=assignment, title=title, max_score=float(max_score),
                            late_policy=policy.to_json(), regrades="{}", updated_at=m.utcnow())
            row = s.get(m.Assignment, assignment)
            row.title, row.max_score, row.late_policy = title, float(max_score), policy.to_json()
            if regrades is not None:
                row.regrades = regrades.to_json()

    def ensure_students(self, students: Iterable[dict[str, Any]], roster: bool = False) -> None:
        """Add or update students: dicts with `id` and any of name, email, sis_user_id, sis_login_id, section.

        A roster (`roster=True`) overwrites what is known; other sources (an LMS entry's name) only
        fill fields that are still empty."""
        with self.sessions.begin() as s:
            for info in students:
                _insert_missing(s, m.Student, id=info["id"], name="", email="", sis_user_id="",
                                sis_login_id="", section="", in_roster=False, created_at=m.utcnow())
                row = s.get(m.Student, info["id"])
                for key in ("name", "email", "sis_user_id", "sis_login_id", "section"):
                    if info.get(key) and (roster or not getattr(row, key)):
                        setattr(row, key, str(info[key]))
                if roster:
                    row.in_roster = True

    def start_run(self, assignment: str, grader_version: str, sandbox: str, jobs: int, intake: str) -> int:
        with self.sessions.begin() as s:
            run = m.Run(assignment_id=assignment, grader_version=grader_version, sandbox=sandbox, jobs=jobs,
                        intake=intake, summary="{}")
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with self.sessions.begin() as s:
            run = s.get(m.Run, run_id)
            if run is not None:
                run.finished_at, run.summary = m.utcnow(), json.dumps(summary)

    def record_grading(self, sub: NewSubmission, grading: NewGrading, run_id: int | None = None) -> int:
        """Store one submission and its grading in one transaction; it becomes the student's current one."""
        with self.sessions.begin() as s:
            # Another batch may add the same student or blob at the same moment: insert-or-ignore.
            _insert_missing(s, m.Student, id=sub.student, name="", email="", sis_user_id="",
                            sis_login_id="", section="", in_roster=False, created_at=m.utcnow())
            _insert_missing(s, m.Blob, content_hash=sub.content_hash, data=sub.data, size=len(sub.data))
            row = s.scalars(sa.select(m.Submission).where(
                m.Submission.student_id == sub.student, m.Submission.assignment_id == sub.assignment,
                m.Submission.content_hash == sub.content_hash)).first()
            s.execute(sa.update(m.Submission).where(
                m.Submission.student_id == sub.student, m.Submission.assignment_id == sub.assignment,
                m.Submission.is_current.is_(True)).values(is_current=False))
            if row is None:
                row = m.Submission(student_id=sub.student, assignment_id=sub.assignment,
                                   content_hash=sub.content_hash)
                s.add(row)
            row.source_name, row.intake, row.is_current = sub.source_name, sub.intake, True
            row.submitted_at, row.late_flag, row.seconds_late = sub.submitted_at, sub.late_flag, sub.seconds_late
            s.flush()
            s.execute(sa.update(m.Grading).where(m.Grading.submission_id == row.id,
                                                 m.Grading.is_current.is_(True)).values(is_current=False))
            g = m.Grading(submission_id=row.id, run_id=run_id, status=grading.status, score=grading.score,
                          max_score=grading.max_score, reason=grading.reason, traceback=grading.traceback,
                          result_json=grading.result_json, duration=grading.duration,
                          grader_version=grading.grader_version, sandbox=grading.sandbox, is_current=True)
            g.tests = [m.TestRow(position=i, name=t.name, suite=t.suite, score=t.score, max_score=t.max_score,
                                 status=t.status, message=t.message, visibility=t.visibility)
                       for i, t in enumerate(grading.tests)]
            g.files = [m.FeedbackFile(kind=k, path=p) for k, p in grading.files]
            s.add(g)
            s.flush()
            if grading.answers:
                from grader.gradebook.manual import store_answers

                store_answers(s, row.id, sub.assignment, grading.answers)
            return g.id

    def set_override(self, student: str, assignment: str, score: float, comment: str, test: str = "") -> None:
        with self.sessions.begin() as s:
            row = s.scalars(sa.select(m.Override).where(
                m.Override.student_id == student, m.Override.assignment_id == assignment,
                m.Override.test_name == test)).first()
            if row is None:
                row = m.Override(student_id=student, assignment_id=assignment, test_name=test)
                s.add(row)
            row.score, row.comment, row.created_at = float(score), comment, m.utcnow()

    def clear_override(self, student: str, assignment: str, test: str | None = None) -> int:
        """Remove the student's override of `test` (None: all of them); returns how many."""
        with self.sessions.begin() as s:
            q = sa.delete(m.Override).where(m.Override.student_id == student,
                                            m.Override.assignment_id == assignment)
            if test is not None:
                q = q.where(m.Override.test_name == test)
            return s.execute(q).rowcount or 0

    def set_extension(self, student: str, assignment: str, until: dt.datetime, comment: str = "") -> None:
        with self.sessions.begin() as s:
            row = s.get(m.Extension, (student, assignment)) or m.Extension(student_id=student,
                                                                          assignment_id=assignment)
            row.until, row.comment, row.created_at = until, comment, m.utcnow()
            s.add(row)

    def record_push(self, student: str, assignment: str, target: str, final: float | None, status: str,
                    detail: str = "") -> None:
        """For LMS code: note that a grade was sent (or failed to be)."""
        with self.sessions.begin() as s:
            s.add(m.LmsPush(student_id=student, assignment_id=assignment, target=target, final_score=final,
                            status=status, detail=detail))

    def record_export(self, assignment: str, fmt: str, path: str, rows: list[StudentRow]) -> None:
        snapshot = {r.student: [r.status, r.final_score] for r in rows}
        with self.sessions.begin() as s:
            s.add(m.Export(assignment_id=assignment, format=fmt, path=path, snapshot=json.dumps(snapshot)))

    # -- reads ---------------------------------------------------------------------------
    def assignment(self, assignment: str) -> tuple[str, float, LatePolicy] | None:
        """(title, max_score, late policy) as last graded, or None if never graded.

        max_score is the whole assignment's: the autograde's points plus the manual questions'."""
        with self.sessions() as s:
            row = s.get(m.Assignment, assignment)
            if row is None:
                return None
            manual = s.scalar(sa.select(sa.func.coalesce(sa.func.sum(m.QuestionRow.points), 0.0))
                              .where(m.QuestionRow.assignment_id == assignment)) or 0.0
            return row.title, round(row.max_score + manual, 6), LatePolicy.from_json(row.late_policy)

    def regrade_settings(self, assignment: str) -> Any:
        """The assignment's grader.regrades.links.RegradeSettings as last graded (empty when none)."""
        from grader.regrades.links import RegradeSettings

        with self.sessions() as s:
            row = s.get(m.Assignment, assignment)
            return RegradeSettings.from_json(row.regrades if row is not None else None)

    def autograde_max(self, assignment: str) -> float | None:
        """The autograde's points as last stored (without the manual questions), or None."""
        with self.sessions() as s:
            row = s.get(m.Assignment, assignment)
            return None if row is None else row.max_score

    def assignments(self) -> list[str]:
        with self.sessions() as s:
            return list(s.scalars(sa.select(m.Assignment.id).order_by(m.Assignment.id)))

    def current(self, assignment: str) -> dict[str, tuple[str, str]]:
        """student -> (content hash, grading status) of each current, graded submission (for resume)."""
        with self.sessions() as s:
            q = (sa.select(m.Submission.student_id, m.Submission.content_hash, m.Grading.status)
                 .join(m.Grading, m.Grading.submission_id == m.Submission.id)
                 .where(m.Submission.assignment_id == assignment, m.Submission.is_current.is_(True),
                        m.Grading.is_current.is_(True)))
            return {student: (h, status) for student, h, status in s.execute(q)}

    def overrides(self, assignment: str, student: str | None = None) -> list[OverrideInfo]:
        with self.sessions() as s:
            q = sa.select(m.Override).where(m.Override.assignment_id == assignment)
            if student is not None:
                q = q.where(m.Override.student_id == student)
            return [OverrideInfo(o.student_id, o.assignment_id, o.test_name, o.score, o.comment, o.created_at)
                    for o in s.scalars(q.order_by(m.Override.student_id, m.Override.test_name))]

    def extensions(self, assignment: str) -> dict[str, dt.datetime]:
        with self.sessions() as s:
            q = sa.select(m.Extension).where(m.Extension.assignment_id == assignment)
            return {e.student_id: e.until for e in s.scalars(q)}

    def lateness(self, assignment: str, student: str, submitted_at: dt.datetime | None,
                 late_flag: bool) -> Lateness:
        """The late verdict for a submission under the stored policy and the student's extension."""
        info = self.assignment(assignment)
        policy = info[2] if info else LatePolicy()
        return assess(policy, submitted_at, late_flag, self.extensions(assignment).get(student))

    def students(self, assignment: str) -> list[StudentRow]:
        """Every student with a submission for `assignment`, and every roster student (missing if none)."""
        info = self.assignment(assignment)
        title, max_score, policy = info if info else ("", 0.0, LatePolicy())
        overrides: dict[str, list[OverrideInfo]] = {}
        for o in self.overrides(assignment):
            overrides.setdefault(o.student, []).append(o)
        extensions = self.extensions(assignment)
        with self.sessions() as s:
            subs = {sub.student_id: sub for sub in s.scalars(sa.select(m.Submission).where(
                m.Submission.assignment_id == assignment, m.Submission.is_current.is_(True)))}
            gradings = {g.submission_id: g for g in s.scalars(sa.select(m.Grading).where(
                m.Grading.submission_id.in_([x.id for x in subs.values()] or [-1]),
                m.Grading.is_current.is_(True)))}
            tests: dict[int, dict[str, float]] = {}
            for gid, name, score in s.execute(sa.select(m.TestRow.grading_id, m.TestRow.name, m.TestRow.score)
                                              .where(m.TestRow.grading_id.in_([g.id for g in gradings.values()]
                                                                              or [-1]))
                                              .order_by(m.TestRow.grading_id, m.TestRow.position)):
                tests.setdefault(gid, {})[name] = score
            people = {p.id: p for p in s.scalars(sa.select(m.Student).where(
                sa.or_(m.Student.id.in_(list(subs) or [""]), m.Student.in_roster.is_(True))))}
        from grader.gradebook.manual import Manual

        questions, manual = Manual(self.sessions).scores(assignment)
        max_score = round(max_score, 6)
        rows = []
        for sid in sorted(people, key=_natural):
            p, sub = people[sid], subs.get(sid)
            g = gradings.get(sub.id) if sub is not None else None
            status = g.status if g is not None else "missing"
            score = g.score if g is not None and g.status == "graded" else 0.0
            per_test = tests.get(g.id, {}) if g is not None else {}
            late = assess(policy, sub.submitted_at, sub.late_flag, extensions.get(sid)) if sub else \
                assess(policy, None, False)
            own = overrides.get(sid, [])
            graded = manual.get(sid, {})
            mine = {k: graded.get(k) for k, _ in questions} if sub is not None else {k: None for k, _ in questions}
            manual_score = round(sum(v for v in mine.values() if v is not None), 6)
            final = final_score(score, per_test, [(o.test, o.score) for o in own], max_score, late, manual_score)
            rows.append(StudentRow(
                student=sid, name=p.name, email=p.email, sis_user_id=p.sis_user_id, sis_login_id=p.sis_login_id,
                section=p.section, status=status, score=round(score, 6), final_score=final, max_score=max_score,
                late=late.late, seconds_late=late.seconds, late_penalty=round(late.penalty * max_score, 6),
                tests=per_test, overrides=tuple(own), reason=g.reason if g is not None else "",
                source_name=sub.source_name if sub else "", content_hash=sub.content_hash if sub else "",
                submitted_at=sub.submitted_at if sub else None, submission_id=sub.id if sub else None,
                grading_id=g.id if g is not None else None, graded_at=g.graded_at if g is not None else None,
                manual=mine, manual_score=manual_score))
        return rows

    def test_results(self, grading_id: int) -> list[TestOutcome]:
        with self.sessions() as s:
            q = sa.select(m.TestRow).where(m.TestRow.grading_id == grading_id).order_by(m.TestRow.position)
            return [TestOutcome(t.name, t.suite, t.score, t.max_score, t.status, t.message, t.visibility)
                    for t in s.scalars(q)]

    def grading(self, grading_id: int) -> dict[str, Any]:
        """A grading's plain fields, result.json text and traceback included."""
        with self.sessions() as s:
            g = s.get(m.Grading, grading_id)
            if g is None:
                raise KeyError(grading_id)
            return {c: getattr(g, c) for c in ("id", "submission_id", "run_id", "status", "score", "max_score",
                                               "reason", "traceback", "result_json", "duration",
                                               "grader_version", "sandbox", "graded_at")}

    def notebook_bytes(self, content_hash: str) -> bytes:
        with self.sessions() as s:
            blob = s.get(m.Blob, content_hash)
            if blob is None:
                raise KeyError(content_hash)
            return blob.data

    def submissions(self, assignment: str) -> list[SubmissionInfo]:
        """The current submission of every student, with its stored bytes (`notebook()`) and files."""
        with self.sessions() as s:
            out = []
            q = sa.select(m.Submission).where(m.Submission.assignment_id == assignment,
                                              m.Submission.is_current.is_(True))
            for sub in s.scalars(q.order_by(m.Submission.student_id)):
                g = next((g for g in sub.gradings if g.is_current), None)
                files = {f.kind: f.path for f in g.files} if g is not None else {}
                out.append(SubmissionInfo(
                    student=sub.student_id, assignment=assignment, submission_id=sub.id,
                    source_name=sub.source_name, content_hash=sub.content_hash,
                    status=g.status if g is not None else "", result_path=files.get("result", ""),
                    feedback_path=files.get("feedback", ""), submitted_at=sub.submitted_at,
                    late_flag=sub.late_flag, notebook=_loader(self, sub.content_hash)))
            return out

    def pushes(self, assignment: str) -> list[PushInfo]:
        with self.sessions() as s:
            q = sa.select(m.LmsPush).where(m.LmsPush.assignment_id == assignment).order_by(m.LmsPush.id)
            return [PushInfo(p.student_id, p.assignment_id, p.target, p.final_score, p.status, p.detail,
                             p.pushed_at) for p in s.scalars(q)]

    def changes_since_export(self, assignment: str, rows: list[StudentRow] | None = None
                             ) -> tuple[dt.datetime | None, list[tuple[str, Any, Any]]]:
        """(time of the last export, [(student, (status, final) then or None, (status, final) now)])."""
        rows = self.students(assignment) if rows is None else rows
        with self.sessions() as s:
            last = s.scalars(sa.select(m.Export).where(m.Export.assignment_id == assignment)
                             .order_by(m.Export.id.desc()).limit(1)).first()
        if last is None:
            return None, []
        before = {k: tuple(v) for k, v in json.loads(last.snapshot or "{}").items()}
        changes = []
        for r in rows:
            now = (r.status, r.final_score)
            if before.get(r.student) != now:
                changes.append((r.student, before.get(r.student), now))
        return last.exported_at, changes


def _insert_missing(s: Session, model: type, **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL), keyed by the primary key."""
    if s.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(model).values(**values).on_conflict_do_nothing())


def _loader(gb: Gradebook, content_hash: str) -> Callable[[], bytes]:
    return lambda: gb.notebook_bytes(content_hash)


def _natural(key: str) -> tuple:
    """Numbers first, by value: ASCII digits only (`'①'.isdigit()` is true, `int('①')` fails)."""
    return (0, int(key), key) if key.isascii() and key.isdigit() else (1, 0, key)
