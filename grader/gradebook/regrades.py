"""Regrade requests in the gradebook: filing, the staff queue, resolutions as audited overrides.

    from grader.gradebook.regrades import Regrades
    rq = Regrades(gb.sessions)
    rq.item("essay", "s01", "test:test_a")                 # ItemView: label, score, message or rubric
    rq.file("essay", "s01", "test:test_a", "reason", seen=0)   # -> request id
    rq.requests("essay")                                     # open ones, oldest first
    rq.resolve(7, "accept", actor="ta1", new_score=8, reply="...")

An item is `test:NAME` (a test of the student's current grading) or `question:KEY` (a written or
figure question). At most one request per student and item is open (checked, and enforced by a
partial unique index); `seen`, the number of requests the student's page showed, refuses a form
posted twice or a page that is out of date. Resolutions:

- accept with a new score: a test gets a per-test override (the same row `grade override` writes)
  whose comment names the request; a question gets the score on its manual grade
  (`score_override`, kept until a grader saves that answer again);
- adjust: the rubric was changed in the grading app (for everyone); the request records the score
  it gave;
- reject, with a reply.

Every resolution writes an audit row (who, when, old and new score, the reply, the request id),
shown in the app's audit log. Callers: grader.serve, grader.commands.regrades, grader.batch,
grader.report. Calls grader.gradebook.manual.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from grader.gradebook import models as m
from grader.gradebook.manual import Manual, ManualError
from grader.textsafe import clean_text

#: Longest reason or reply, in characters.
MAX_REASON_CHARS = 2_000
ACTIONS = ("accept", "adjust", "reject")
_STATUS = {"accept": "accepted", "adjust": "adjusted", "reject": "rejected"}


class RegradeError(ValueError):
    """A request that cannot be filed or resolved; `status` is the HTTP status its page gets."""

    def __init__(self, message: str, status: int = 400, title: str = "Not saved") -> None:
        super().__init__(message)
        self.status, self.title = status, title


@dataclass(frozen=True)
class ItemView:
    """One item of one student as the request pages show it."""

    item: str
    kind: str  # test | question
    label: str
    score: float | None  # None: not graded yet
    max_score: float
    lines: tuple[str, ...]  # the feedback message, or the rubric items applied and the comment
    evidence: tuple[str, ...] = ()  # staff only: the answer text or the full test message


@dataclass(frozen=True)
class RequestInfo:
    """A regrade request and, once resolved, its resolution."""

    id: int
    student: str
    assignment: str
    item: str
    reason: str
    status: str  # open | accepted | adjusted | rejected
    filed_at: dt.datetime
    resolved_at: dt.datetime | None
    resolver: str
    reply: str
    old_score: float | None
    new_score: float | None

    @property
    def label(self) -> str:
        kind, _, name = self.item.partition(":")
        return f"{kind} {name}"


def _info(r: m.RegradeRow) -> RequestInfo:
    return RequestInfo(r.id, r.student_id, r.assignment_id, r.item, r.reason, r.status, r.filed_at, r.resolved_at,
                       r.resolver, r.reply, r.old_score, r.new_score)


class Regrades:
    """Regrade requests on a gradebook's session factory; each method is its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.manual = Manual(sessions)

    # -- the item ------------------------------------------------------------------------
    def item(self, assignment: str, student: str, item: str, staff: bool = False) -> ItemView:
        """The item as it stands for the student (RegradeError 404 when there is no such item)."""
        kind, _, name = item.partition(":")
        if kind == "test":
            with self.sessions() as s:
                t = s.execute(sa.select(m.TestRow.score, m.TestRow.max_score, m.TestRow.status,
                                        m.TestRow.message, m.TestRow.visibility)
                              .join(m.Grading, m.Grading.id == m.TestRow.grading_id)
                              .join(m.Submission, m.Submission.id == m.Grading.submission_id)
                              .where(m.Submission.assignment_id == assignment, m.Submission.student_id == student,
                                     m.Submission.is_current.is_(True), m.Grading.is_current.is_(True),
                                     m.TestRow.name == name)).first()
                over = s.scalar(sa.select(m.Override.score).where(
                    m.Override.assignment_id == assignment, m.Override.student_id == student,
                    m.Override.test_name == name))
            if t is None:
                raise RegradeError(f"There is no test {name!r} in this grading.", 404, "No such item")
            score, max_score, status, message, visibility = t
            shown = message if staff or visibility == "visible" else "(the message of this test is not shown)"
            lines = [f"status: {status}"] + ([clean_text(shown, 4_000)] if shown else [])
            if over is not None:
                lines.append(f"set to {over:g} by the instructor (autograde {score:g})")
            return ItemView(item, kind, f"test {name}", over if over is not None else score, max_score,
                            tuple(lines))
        if kind == "question":
            try:
                q = self.manual.question(assignment, name)
            except ManualError:
                raise RegradeError(f"There is no question {name!r}.", 404, "No such item") from None
            fb = next(f for f in self.manual.feedback(assignment, student) if f.key == name)
            lines = [f"{i.points:+g} {i.description}" + (f": {i.comment}" if i.comment else "") for i in fb.items]
            if fb.comment:
                lines.append(f"grader's comment: {fb.comment}")
            evidence: tuple[str, ...] = ()
            if staff:
                try:
                    view = self.manual.answer(assignment, name, student, q)
                    evidence = (view.text or view.note or ("(a figure)" if view.has_figure else ""),
                                *(f"{label}: {text}" for label, text in view.evidence))
                except ManualError:
                    evidence = ("no submission",)
            return ItemView(item, kind, f"question {q.title or name}", fb.score, q.points, tuple(lines), evidence)
        raise RegradeError(f"{item!r} is not a test or a question.", 404, "No such item")

    # -- filing --------------------------------------------------------------------------
    def history(self, assignment: str, student: str, item: str) -> list[RequestInfo]:
        """The student's requests on the item, oldest first."""
        with self.sessions() as s:
            return [_info(r) for r in s.scalars(sa.select(m.RegradeRow).where(
                m.RegradeRow.assignment_id == assignment, m.RegradeRow.student_id == student,
                m.RegradeRow.item == item).order_by(m.RegradeRow.id))]

    def file(self, assignment: str, student: str, item: str, reason: str, seen: int) -> int:
        """File a request; its id. RegradeError (nothing written) for a bad reason, an open request, a
        page that is out of date (`seen` is not the number of requests on the item) or no such item."""
        if len(reason) > MAX_REASON_CHARS:
            raise RegradeError(f"The reason has {len(reason):,} characters; at most {MAX_REASON_CHARS:,} are "
                               "allowed. Nothing was filed: go back and shorten it.", 400, "Reason too long")
        text = clean_text(reason).strip()
        if not text:
            raise RegradeError("Write why you think the score is wrong; nothing was filed.", 400, "No reason")
        self.item(assignment, student, item)
        try:
            with self.sessions.begin() as s:
                rows = list(s.scalars(sa.select(m.RegradeRow).where(
                    m.RegradeRow.assignment_id == assignment, m.RegradeRow.student_id == student,
                    m.RegradeRow.item == item)))
                if any(r.status == "open" for r in rows):
                    raise RegradeError("You already have an open request on this item; a second one can be "
                                       "filed once it is answered. Nothing was filed.", 409, "Already filed")
                if seen != len(rows):
                    raise RegradeError("This form is out of date (it was sent before, or a request was filed "
                                       "since it was loaded). Nothing was filed; open the link again.", 409,
                                       "Already filed")
                row = m.RegradeRow(student_id=student, assignment_id=assignment, item=item, reason=text,
                                   status="open", filed_at=m.utcnow(), resolver="", reply="")
                s.add(row)
                s.flush()
                return row.id
        except sa.exc.IntegrityError:  # the same form, posted twice at the same moment
            raise RegradeError("You already have an open request on this item. Nothing was filed.", 409,
                               "Already filed") from None

    # -- the queue -----------------------------------------------------------------------
    def requests(self, assignment: str | None = None, status: str | None = "open") -> list[RequestInfo]:
        """Requests (of `status`; None: all), by assignment and item, oldest first."""
        with self.sessions() as s:
            q = sa.select(m.RegradeRow)
            if assignment is not None:
                q = q.where(m.RegradeRow.assignment_id == assignment)
            if status is not None:
                q = q.where(m.RegradeRow.status == status)
            rows = [_info(r) for r in s.scalars(q.order_by(m.RegradeRow.filed_at, m.RegradeRow.id))]
        return sorted(rows, key=lambda r: (r.assignment, r.item, r.filed_at, r.id))

    def get(self, request_id: int) -> RequestInfo:
        with self.sessions() as s:
            row = s.get(m.RegradeRow, request_id)
            if row is None:
                raise RegradeError(f"There is no regrade request {request_id}.", 404, "No such request")
            return _info(row)

    def open_count(self, assignment: str) -> int:
        with self.sessions() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(m.RegradeRow).where(
                m.RegradeRow.assignment_id == assignment, m.RegradeRow.status == "open")) or 0

    def most_disputed(self, assignment: str, limit: int = 10) -> list[tuple[str, int, int]]:
        """[(item, requests, of them accepted or adjusted)] with the most requests first."""
        with self.sessions() as s:
            rows = s.execute(sa.select(m.RegradeRow.item, sa.func.count(),
                                       sa.func.sum(sa.case((m.RegradeRow.status.in_(("accepted", "adjusted")), 1),
                                                           else_=0)))
                             .where(m.RegradeRow.assignment_id == assignment)
                             .group_by(m.RegradeRow.item)).all()
        return sorted(((i, int(n), int(k or 0)) for i, n, k in rows), key=lambda r: (-r[1], r[0]))[:limit]

    # -- resolving -----------------------------------------------------------------------
    def resolve(self, request_id: int, action: str, actor: str, new_score: float | None = None,
                reply: str = "") -> RequestInfo:
        """Resolve an open request (see the module docstring); RegradeError, nothing written, otherwise."""
        if action not in ACTIONS:
            raise RegradeError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if len(reply) > MAX_REASON_CHARS:
            raise RegradeError(f"The reply has {len(reply):,} characters; at most {MAX_REASON_CHARS:,}. "
                               "Nothing was saved.")
        reply = clean_text(reply).strip()
        req = self.get(request_id)
        if req.status != "open":
            raise RegradeError(f"Request {request_id} was already resolved ({req.status} by {req.resolver}); "
                               "nothing was changed.", 409, "Already resolved")
        kind, _, name = req.item.partition(":")
        try:
            view = self.item(req.assignment, req.student, req.item, staff=True)
        except RegradeError:  # the item is gone (a regrade without that test): it can still be rejected
            if action != "reject":
                raise
            view = ItemView(req.item, kind, req.label, None, 0.0, ())
        if action == "accept":
            if new_score is None or new_score != new_score or not 0 <= new_score <= view.max_score:
                raise RegradeError(f"Accepting needs a new score between 0 and {view.max_score:g}; nothing was "
                                   "saved.")
        elif action == "adjust" and kind != "question":
            raise RegradeError("Only a question has a rubric to adjust; accept with a new score or reject. "
                               "Nothing was saved.")
        elif action == "reject" and not reply:
            raise RegradeError("A rejection needs a reply the student will read; nothing was saved.")
        old = view.score
        new = new_score if action == "accept" else old
        now = m.utcnow()
        with self.sessions.begin() as s:
            done = s.execute(sa.update(m.RegradeRow).where(m.RegradeRow.id == request_id,
                                                          m.RegradeRow.status == "open").values(
                status=_STATUS[action], resolved_at=now, resolver=actor, reply=reply, old_score=old,
                new_score=new).execution_options(synchronize_session=False)).rowcount
            if done != 1:
                raise RegradeError(f"Request {request_id} was resolved by someone else a moment ago; nothing "
                                   "was changed.", 409, "Already resolved")
            if action == "accept":
                note = f"regrade request {request_id}" + (f": {reply}" if reply else "")
                if kind == "test":
                    _set_test_override(s, req.student, req.assignment, name, float(new), note, now)
                else:
                    _set_question_score(s, req.student, req.assignment, name, float(new), note, actor, now)
            s.add(m.AuditRow(actor=actor, action=f"regrade_{action}", assignment_id=req.assignment, at=now,
                             detail=json.dumps({"request": request_id, "student": req.student, "item": req.item,
                                                "before": old, "after": new, "reply": reply})))
        return self.get(request_id)


def _set_test_override(s: Session, student: str, assignment: str, test: str, score: float, comment: str,
                       now: dt.datetime) -> None:
    row = s.scalars(sa.select(m.Override).where(m.Override.student_id == student,
                                                m.Override.assignment_id == assignment,
                                                m.Override.test_name == test)).first()
    if row is None:
        row = m.Override(student_id=student, assignment_id=assignment, test_name=test)
        s.add(row)
    row.score, row.comment, row.created_at = score, comment, now


def _set_question_score(s: Session, student: str, assignment: str, key: str, score: float, comment: str,
                        actor: str, now: dt.datetime) -> None:
    qid = s.scalar(sa.select(m.QuestionRow.id).where(m.QuestionRow.assignment_id == assignment,
                                                     m.QuestionRow.key == key))
    row = s.scalars(sa.select(m.ManualGradeRow).where(m.ManualGradeRow.student_id == student,
                                                      m.ManualGradeRow.question_id == qid)).first()
    if row is None:
        s.add(m.ManualGradeRow(student_id=student, question_id=qid, score=score, score_override=score,
                               comment=comment, grader=actor, version=1, graded_at=now))
        return
    row.score, row.score_override, row.version, row.graded_at = score, score, row.version + 1, now
    row.comment = f"{row.comment}\n{comment}".strip()
