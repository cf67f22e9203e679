"""Manual grading in the gradebook: questions and rubrics, answers, rubric grades, audit.

    from grader.gradebook.manual import Manual
    mb = Manual(gb.sessions)
    mb.sync_questions("optim", questions)          # from the solution (grader.manual.questions)
    mb.queue("optim", "lr_plot", seed=7)           # [QueueEntry] in a seeded pseudo-random order
    mb.answer("optim", "lr_plot", "s17")           # AnswerView: text / figure, evidence, grade
    mb.save("optim", "lr_plot", "s17", {"axes"}, "comment", grader="ta1", version=0)
    mb.edit_item("optim", "lr_plot", "axes", points=1, ..., actor="prof")   # everyone re-scored

A grade belongs to (student, question), not to a submission: a regrade (`grade batch --force`)
or a resubmission never removes it; the view says when the answer changed since. Every save
names the version it was made from; a save from an older version raises `StaleGrade` (two
graders on one answer: the second is refused, nothing is overwritten). Rubric edits re-score
every grade using the item and are written to the audit log.

Callers: grader.gradebook.api (scores), grader.batch (answers at intake), grader.serve, grader.cli
(through grader.gradebook.accounts for graders), grader.report, grader.lms. Calls grader.manual.questions for the score rule.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from grader.gradebook import models as m
from grader.manual.answers import MAX_ANSWER_CHARS
from grader.manual.questions import Question, question_score
from grader.textsafe import clean_text


class ManualError(ValueError):
    """A manual-grading request that cannot be done (unknown question, student, item); one line."""


class StaleGrade(ManualError):
    """Someone saved this answer's grade since the form was loaded; nothing was written."""


@dataclass(frozen=True)
class ItemInfo:
    """A rubric item as the gradebook holds it now."""

    id: int
    key: str
    points: float
    description: str
    comment: str


@dataclass(frozen=True)
class QuestionInfo:
    """A question as the gradebook holds it, with its rubric."""

    id: int
    assignment: str
    key: str
    kind: str
    title: str
    prompt: str
    points: float
    evidence: tuple[Any, ...]
    items: tuple[ItemInfo, ...]


@dataclass(frozen=True)
class QueueEntry:
    """One student in a question's grading order."""

    student: str
    graded: bool


@dataclass(frozen=True)
class GradeInfo:
    """A saved grade: the applied items' keys, the comment, the score, who saved it and its version."""

    items: frozenset[str]
    comment: str
    score: float
    grader: str
    version: int
    graded_at: dt.datetime | None
    answer_changed: bool = False  # the student's current answer is not the one graded


@dataclass(frozen=True)
class AnswerView:
    """Everything the grading page shows for one student's answer."""

    student: str
    name: str
    text: str
    has_figure: bool
    note: str
    evidence: tuple[tuple[str, str], ...]  # (label, text) from the student's result.json
    grade: GradeInfo | None


@dataclass(frozen=True)
class AppliedItem:
    """A rubric item applied to a student's answer, as feedback shows it."""

    description: str
    points: float
    comment: str


@dataclass(frozen=True)
class QuestionFeedback:
    """A student's manual grade of one question, for the feedback page and zips."""

    key: str
    title: str
    points: float
    score: float | None  # None: not graded yet
    items: tuple[AppliedItem, ...]
    comment: str


def seeded_order(students: Iterable[str], seed: int | str) -> list[str]:
    """A pseudo-random order of `students` fixed by `seed` (the same for every grader)."""
    return sorted(students, key=lambda s: _rank(str(seed), s))


@functools.lru_cache(maxsize=65_536)
def _rank(seed: str, student: str) -> bytes:
    # cached: the app sorts the whole class on every request
    return hashlib.sha256(f"{seed}\0{student}".encode("utf-8", "replace")).digest()


class Manual:
    """Manual grading on a gradebook's session factory; each method is its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    # -- questions -------------------------------------------------------------------
    def sync_questions(self, assignment: str, questions: list[Question]) -> None:
        """Add the course's questions and rubric items; refresh their text, points and evidence.

        Rubric items already in the gradebook keep their points, description and comment (the app
        may have edited them); new items are added. Scores are recomputed if points changed."""
        with self.sessions.begin() as s:
            for pos, q in enumerate(questions):
                row = s.scalars(sa.select(m.QuestionRow).where(m.QuestionRow.assignment_id == assignment,
                                                               m.QuestionRow.key == q.id)).first()
                if row is None:
                    row = m.QuestionRow(assignment_id=assignment, key=q.id, points=q.points)
                    s.add(row)
                changed = row.points != q.points
                row.kind, row.title, row.prompt, row.points = q.kind, q.title, q.prompt, q.points
                row.position, row.evidence = pos, json.dumps(list(q.evidence))
                s.flush()
                have = {i.key for i in s.scalars(sa.select(m.RubricItemRow)
                                                 .where(m.RubricItemRow.question_id == row.id))}
                for ipos, item in enumerate(q.rubric):
                    if item.id not in have:
                        s.add(m.RubricItemRow(question_id=row.id, key=item.id, position=ipos, points=item.points,
                                              description=item.description, comment=item.comment))
                if changed:
                    s.flush()
                    _rescore(s, row)

    def questions(self, assignment: str) -> list[QuestionInfo]:
        with self.sessions() as s:
            rows = list(s.scalars(sa.select(m.QuestionRow).where(m.QuestionRow.assignment_id == assignment)
                                  .order_by(m.QuestionRow.position, m.QuestionRow.id)))
            items: dict[int, list[ItemInfo]] = {}
            for i in s.scalars(sa.select(m.RubricItemRow).where(
                    m.RubricItemRow.question_id.in_([r.id for r in rows] or [-1]))
                    .order_by(m.RubricItemRow.position, m.RubricItemRow.id)):
                items.setdefault(i.question_id, []).append(ItemInfo(i.id, i.key, i.points, i.description,
                                                                    i.comment))
            return [QuestionInfo(r.id, assignment, r.key, r.kind, r.title, r.prompt, r.points,
                                 tuple(json.loads(r.evidence or "[]")), tuple(items.get(r.id, ())))
                    for r in rows]

    def question(self, assignment: str, key: str) -> QuestionInfo:
        for q in self.questions(assignment):
            if q.key == key:
                return q
        raise ManualError(f"assignment {assignment!r} has no question {key!r}")

    # -- answers ---------------------------------------------------------------------
    def store_answers(self, submission_id: int, assignment: str, answers: Iterable[Any]) -> None:
        """Store (replace) a submission's answers: grader.manual.answers.Answer objects."""
        with self.sessions.begin() as s:
            store_answers(s, submission_id, assignment, answers)

    def queue(self, assignment: str, key: str, seed: int | str = 0, q: QuestionInfo | None = None
              ) -> list[QueueEntry]:
        """Every student with a current submission, in the seeded order, with whether they are graded.

        `q`: the question as the caller already read it (saves reading it again; so below)."""
        q = q or self.question(assignment, key)
        with self.sessions() as s:
            students = list(s.scalars(sa.select(m.Submission.student_id).where(
                m.Submission.assignment_id == assignment, m.Submission.is_current.is_(True))))
            graded = set(s.scalars(sa.select(m.ManualGradeRow.student_id)
                                   .where(m.ManualGradeRow.question_id == q.id)))
        return [QueueEntry(st, st in graded) for st in seeded_order(students, seed)]

    def _current(self, s: Session, assignment: str, student: str) -> m.Submission:
        sub = s.scalars(sa.select(m.Submission).where(
            m.Submission.assignment_id == assignment, m.Submission.student_id == student,
            m.Submission.is_current.is_(True))).first()
        if sub is None:
            raise ManualError(f"no submission of student {student!r} for {assignment!r}")
        return sub

    def answer(self, assignment: str, key: str, student: str, q: QuestionInfo | None = None) -> AnswerView:
        q = q or self.question(assignment, key)
        with self.sessions() as s:
            sub = self._current(s, assignment, student)
            ans = s.scalars(sa.select(m.AnswerRow).where(m.AnswerRow.submission_id == sub.id,
                                                         m.AnswerRow.question_id == q.id)).first()
            person = s.get(m.Student, student)
            grade = _grade_info(s, q.id, student, ans.id if ans else None)
            result_json = s.scalars(sa.select(m.Grading.result_json).where(
                m.Grading.submission_id == sub.id, m.Grading.is_current.is_(True))).first() or ""
        return AnswerView(student, person.name if person else "", ans.text if ans else "",
                          bool(ans and ans.png), ans.note if ans else "no answer stored (grade the class again)",
                          _evidence(q, result_json), grade)

    def figure(self, assignment: str, key: str, student: str) -> bytes | None:
        """The re-encoded PNG of a student's figure (never the bytes they sent)."""
        q = self.question(assignment, key)
        with self.sessions() as s:
            sub = self._current(s, assignment, student)
            return s.scalars(sa.select(m.AnswerRow.png).where(m.AnswerRow.submission_id == sub.id,
                                                              m.AnswerRow.question_id == q.id)).first()

    # -- grades ----------------------------------------------------------------------
    def save(self, assignment: str, key: str, student: str, items: Iterable[str], comment: str, grader: str,
             version: int, q: QuestionInfo | None = None) -> GradeInfo:
        """Save a grade made from `version` (0: none existed). StaleGrade if it is no longer current."""
        q = q or self.question(assignment, key)
        by_key = {i.key: i for i in q.items}
        chosen = set(items)
        unknown = chosen - set(by_key)
        if unknown:
            raise ManualError(f"question {key!r} has no rubric item {sorted(unknown)[0]!r} (reload the page)")
        score = question_score(q.points, [by_key[k].points for k in chosen])
        try:
            with self.sessions.begin() as s:
                sub = self._current(s, assignment, student)
                answer_id = s.scalars(sa.select(m.AnswerRow.id).where(m.AnswerRow.submission_id == sub.id,
                                                                      m.AnswerRow.question_id == q.id)).first()
                row = s.scalars(sa.select(m.ManualGradeRow).where(m.ManualGradeRow.student_id == student,
                                                                  m.ManualGradeRow.question_id == q.id)).first()
                now = m.utcnow()
                if row is None:
                    if version != 0:
                        raise StaleGrade("this grade was removed since the page was loaded; reload")
                    row = m.ManualGradeRow(student_id=student, question_id=q.id, answer_id=answer_id, score=score,
                                           comment=comment, grader=grader, version=1, graded_at=now)
                    s.add(row)
                    s.flush()
                else:
                    done = s.execute(sa.update(m.ManualGradeRow).where(
                        m.ManualGradeRow.id == row.id, m.ManualGradeRow.version == version).values(
                        version=version + 1, score=score, comment=comment, grader=grader, answer_id=answer_id,
                        graded_at=now, score_override=None).execution_options(synchronize_session=False)).rowcount
                    if done != 1:
                        raise StaleGrade(f"{row.grader or 'another grader'} saved this answer since you opened "
                                         "it; your change was not saved. Reload to see their grade.")
                    s.execute(sa.delete(m.ManualGradeItemRow).where(m.ManualGradeItemRow.grade_id == row.id))
                for k in sorted(chosen):
                    s.add(m.ManualGradeItemRow(grade_id=row.id, item_id=by_key[k].id))
                s.flush()
                return _grade_info(s, q.id, student, answer_id)
        except sa.exc.IntegrityError:
            raise StaleGrade("another grader saved this answer at the same moment; your change was not "
                             "saved. Reload to see their grade.") from None

    def toggle(self, assignment: str, key: str, student: str, item: str, grader: str, version: int,
               q: QuestionInfo | None = None) -> GradeInfo:
        """Apply the rubric item if it is not applied, else remove it (a save from `version`)."""
        q = q or self.question(assignment, key)
        with self.sessions() as s:
            g = _grade_info(s, q.id, student, None)
        current = set(g.items) if g else set()
        if (g.version if g else 0) != version:
            raise StaleGrade(f"{g.grader if g else 'another grader'} saved this answer since you opened it; "
                             "your change was not saved. Reload to see their grade.")
        current ^= {item}
        return self.save(assignment, key, student, current, g.comment if g else "", grader, version, q)

    # -- rubric edits ----------------------------------------------------------------
    def edit_item(self, assignment: str, key: str, item: str | None, points: float, description: str,
                  comment: str, actor: str) -> int:
        """Change rubric item `item` (None: add a new one); re-score everyone graded with it.

        Returns how many grades were re-scored; the change goes to the audit log."""
        q = self.question(assignment, key)
        description = description.strip()
        if not description:
            raise ManualError("a rubric item needs a description")
        if abs(points) > q.points:
            raise ManualError(f"an item of question {key!r} is worth at most {q.points:g} points either way")
        with self.sessions.begin() as s:
            qrow = s.get(m.QuestionRow, q.id)
            if item is None:
                taken = {i.key for i in q.items}
                n = len(q.items) + 1
                while f"item{n}" in taken:
                    n += 1
                row = m.RubricItemRow(question_id=q.id, key=f"item{n}", position=len(q.items), points=points,
                                      description=description, comment=comment)
                s.add(row)
                before: dict[str, Any] = {}
            else:
                row = s.scalars(sa.select(m.RubricItemRow).where(m.RubricItemRow.question_id == q.id,
                                                                 m.RubricItemRow.key == item)).first()
                if row is None:
                    raise ManualError(f"question {key!r} has no rubric item {item!r}")
                before = {"points": row.points, "description": row.description, "comment": row.comment}
                row.points, row.description, row.comment = points, description, comment
            s.flush()
            n = _rescore(s, qrow, row.id)
            s.add(m.AuditRow(actor=actor, action="rubric_item_add" if item is None else "rubric_item_edit",
                             assignment_id=assignment, at=m.utcnow(), detail=json.dumps(
                                 {"question": key, "item": row.key, "before": before,
                                  "after": {"points": points, "description": description, "comment": comment},
                                  "rescored": n})))
            return n

    def audit(self, assignment: str | None = None) -> list[dict[str, Any]]:
        with self.sessions() as s:
            q = sa.select(m.AuditRow).order_by(m.AuditRow.id)
            if assignment is not None:
                q = q.where(m.AuditRow.assignment_id == assignment)
            return [{"at": a.at, "actor": a.actor, "action": a.action, "assignment": a.assignment_id,
                     "detail": json.loads(a.detail or "{}")} for a in s.scalars(q)]

    # -- reads for scores, reports, feedback -----------------------------------------
    def scores(self, assignment: str) -> tuple[list[tuple[str, float]], dict[str, dict[str, float]]]:
        """([(question key, points)], {student: {question key: score}}) of the graded answers."""
        with self.sessions() as s:
            qs = list(s.execute(sa.select(m.QuestionRow.id, m.QuestionRow.key, m.QuestionRow.points)
                                .where(m.QuestionRow.assignment_id == assignment)
                                .order_by(m.QuestionRow.position, m.QuestionRow.id)))
            keys = {qid: k for qid, k, _ in qs}
            out: dict[str, dict[str, float]] = {}
            for student, qid, score in s.execute(sa.select(
                    m.ManualGradeRow.student_id, m.ManualGradeRow.question_id, m.ManualGradeRow.score)
                    .where(m.ManualGradeRow.question_id.in_(list(keys) or [-1]))):
                out.setdefault(student, {})[keys[qid]] = score
        return [(k, p) for _, k, p in qs], out

    def item_usage(self, assignment: str) -> dict[str, list[tuple[ItemInfo, int]]]:
        """question key -> [(item, how many grades apply it)] in rubric order."""
        questions = self.questions(assignment)
        with self.sessions() as s:
            counts = dict(s.execute(sa.select(m.ManualGradeItemRow.item_id, sa.func.count())
                                    .group_by(m.ManualGradeItemRow.item_id)).all())
        return {q.key: [(i, counts.get(i.id, 0)) for i in q.items] for q in questions}

    def feedback(self, assignment: str, student: str) -> list[QuestionFeedback]:
        """The student's manual grades, question by question (score None when not graded)."""
        out = []
        questions = self.questions(assignment)
        with self.sessions() as s:
            for q in questions:
                g = _grade_info(s, q.id, student, None)
                items = tuple(AppliedItem(i.description, i.points, i.comment) for i in q.items
                              if g is not None and i.key in g.items)
                out.append(QuestionFeedback(q.key, q.title, q.points, g.score if g else None, items,
                                            g.comment if g else ""))
        return out


# --------------------------------------------------------------------------- helpers

def store_answers(s: Session, submission_id: int, assignment: str, answers: Iterable[Any]) -> None:
    """Upsert answers of one submission in session `s` (questions must be synced)."""
    qids = dict(s.execute(sa.select(m.QuestionRow.key, m.QuestionRow.id)
                          .where(m.QuestionRow.assignment_id == assignment)).all())
    for a in answers:
        qid = qids.get(a.question)
        if qid is None:
            continue
        row = s.scalars(sa.select(m.AnswerRow).where(m.AnswerRow.submission_id == submission_id,
                                                     m.AnswerRow.question_id == qid)).first()
        if row is None:
            row = m.AnswerRow(submission_id=submission_id, question_id=qid)
            s.add(row)
        # Sanitised again here, so that the table holds no control or bidi characters whoever wrote it.
        row.text, row.png, row.note = clean_text(a.text, MAX_ANSWER_CHARS), a.png, clean_text(a.note, 500)


def _grade_info(s: Session, qid: int, student: str, answer_id: int | None) -> GradeInfo | None:
    row = s.scalars(sa.select(m.ManualGradeRow).where(m.ManualGradeRow.student_id == student,
                                                      m.ManualGradeRow.question_id == qid)).first()
    if row is None:
        return None
    keys = frozenset(s.scalars(sa.select(m.RubricItemRow.key).join(
        m.ManualGradeItemRow, m.ManualGradeItemRow.item_id == m.RubricItemRow.id)
        .where(m.ManualGradeItemRow.grade_id == row.id)))
    changed = answer_id is not None and row.answer_id is not None and row.answer_id != answer_id
    return GradeInfo(keys, row.comment, row.score, row.grader, row.version, row.graded_at, changed)


def _rescore(s: Session, question: m.QuestionRow, item_id: int | None = None) -> int:
    """Recompute the score of every grade of `question` (only those applying `item_id` if given)."""
    points = dict(s.execute(sa.select(m.RubricItemRow.id, m.RubricItemRow.points)
                            .where(m.RubricItemRow.question_id == question.id)).all())
    grades = sa.select(m.ManualGradeRow).where(m.ManualGradeRow.question_id == question.id)
    if item_id is not None:
        grades = grades.where(m.ManualGradeRow.id.in_(
            sa.select(m.ManualGradeItemRow.grade_id).where(m.ManualGradeItemRow.item_id == item_id)))
    rows = list(s.scalars(grades))
    applied: dict[int, list[float]] = {}
    for gid, iid in s.execute(sa.select(m.ManualGradeItemRow.grade_id, m.ManualGradeItemRow.item_id)
                              .where(m.ManualGradeItemRow.grade_id.in_([r.id for r in rows] or [-1]))):
        applied.setdefault(gid, []).append(points.get(iid, 0.0))
    for r in rows:  # a score an accepted regrade request set stays until the next save
        r.score = r.score_override if r.score_override is not None else \
            question_score(question.points, applied.get(r.id, []))
    return len(rows)


def _evidence(q: QuestionInfo, result_json: str) -> tuple[tuple[str, str], ...]:
    """(label, text) of the tests the question names as evidence, from the stored result.json."""
    wanted = [e["test"] for e in q.evidence if isinstance(e, dict) and "test" in e]
    if not wanted:
        return ()
    try:
        tests = {t.get("name"): t for t in (json.loads(result_json or "{}").get("tests") or [])
                 if isinstance(t, dict)}
    except (ValueError, AttributeError):
        tests = {}
    out = []
    for name in wanted:
        t = tests.get(name)
        if t is None:
            out.append((name, "not run for this student"))
        else:
            msg = str(t.get("message") or "")
            out.append((name, f"{t.get('status')} ({t.get('score', 0):g}/{t.get('max_score', 0):g})"
                              + (f": {msg}" if msg else "")))
    return tuple(out)
