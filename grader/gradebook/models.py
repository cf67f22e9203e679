"""The gradebook's tables (SQLAlchemy 2 declarative). Changing them needs an Alembic migration.

One row per thing that happened; "current" flags point at what counts now:

- `submissions.is_current`: the latest submission of a student for an assignment (one per pair);
- `gradings.is_current`: the latest grading of a submission (a regrade adds a row).

Times are stored in UTC (`UtcDateTime`: aware datetimes in, aware datetimes out, on SQLite too).
Every text column cleans what it is given (`_guard_text_columns`): no value a student shaped
(a NUL byte, a lone surrogate, a name longer than its column) can make one database refuse a row
that another accepts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator):
    """An aware datetime stored as UTC; naive values are refused, values read back are UTC-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the gradebook; attach a time zone")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001, ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class StoredString(TypeDecorator):
    """A String(n) that stores `grader.textsafe.storable(value, n)`: no NUL, no lone surrogate, at
    most n characters (PostgreSQL refuses all three; SQLite would keep them). Same DDL as String(n)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        from grader.textsafe import storable

        return None if value is None else storable(value, self.impl.length)


class StoredText(StoredString):
    """Text, cleaned like StoredString; never cut (the full value goes here when it matters)."""

    impl = Text
    cache_ok = True


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Student(Base):
    """A student, by the id the intake (LMS) gives; roster fields when a roster named them."""

    __tablename__ = "students"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(256), default="")
    sis_user_id: Mapped[str] = mapped_column(String(128), default="")
    sis_login_id: Mapped[str] = mapped_column(String(128), default="")
    section: Mapped[str] = mapped_column(String(256), default="")
    in_roster: Mapped[bool] = mapped_column(Boolean, default=False)  # a roster listed them
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Assignment(Base):
    """An assignment as last graded: its max score and late policy (JSON), copied from the course."""

    __tablename__ = "assignments"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    late_policy: Mapped[str] = mapped_column(Text, default="{}")  # grader.gradebook.scoring.LatePolicy
    regrades: Mapped[str] = mapped_column(Text, default="{}")  # grader.regrades.links.RegradeSettings
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Blob(Base):
    """A submitted file's bytes, by sha256 (shared by identical submissions)."""

    __tablename__ = "blobs"
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


class Submission(Base):
    """One file a student handed in for an assignment, as the intake found it."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("student_id", "assignment_id", "content_hash", name="uq_submission_content"),
        Index("ix_submissions_assignment_student", "assignment_id", "student_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"))
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"))
    source_name: Mapped[str] = mapped_column(String(1024))  # the entry name in the intake
    content_hash: Mapped[str] = mapped_column(ForeignKey("blobs.content_hash"))
    intake: Mapped[str] = mapped_column(String(32), default="")  # folder | students | canvas | moodle | gradescope
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    late_flag: Mapped[bool] = mapped_column(Boolean, default=False)  # the LMS said LATE
    seconds_late: Mapped[float | None] = mapped_column(Float, nullable=True)  # vs the due date at intake
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    gradings: Mapped[list[Grading]] = relationship(back_populates="submission", order_by="Grading.id")


class Run(Base):
    """One `grade batch` invocation."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    grader_version: Mapped[str] = mapped_column(String(64))
    sandbox: Mapped[str] = mapped_column(String(64))
    jobs: Mapped[int] = mapped_column(Integer, default=1)
    intake: Mapped[str] = mapped_column(String(2048), default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")  # the --json summary, once finished


class Grading(Base):
    """The judge's verdict on one submission: graded (a score), invalid (a reason) or error (a traceback)."""

    __tablename__ = "gradings"
    __table_args__ = (Index("ix_gradings_submission", "submission_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # graded | invalid | error
    score: Mapped[float] = mapped_column(Float, default=0.0)
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")  # one line: why invalid / what broke
    traceback: Mapped[str] = mapped_column(Text, default="")  # for status error, for the instructor
    result_json: Mapped[str] = mapped_column(Text, default="")  # result.json as written
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    grader_version: Mapped[str] = mapped_column(String(64), default="")
    sandbox: Mapped[str] = mapped_column(String(256), default="")
    graded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    submission: Mapped[Submission] = relationship(back_populates="gradings")
    tests: Mapped[list[TestRow]] = relationship(order_by="TestRow.position", cascade="all, delete-orphan")
    files: Mapped[list[FeedbackFile]] = relationship(cascade="all, delete-orphan")


class TestRow(Base):
    """One test's outcome within a grading."""

    __test__ = False
    __tablename__ = "test_results"
    __table_args__ = (Index("ix_test_results_grading", "grading_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grading_id: Mapped[int] = mapped_column(ForeignKey("gradings.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512))
    suite: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(32), default="visible")


class FeedbackFile(Base):
    """A file written for a grading: kind result (result.json), feedback (feedback.html), or others'."""

    __tablename__ = "feedback_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grading_id: Mapped[int] = mapped_column(ForeignKey("gradings.id"))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(4096))


class Override(Base):
    """An instructor's score, apart from the autograde: for one test, or (test_name "") the total."""

    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("student_id", "assignment_id", "test_name", name="uq_override"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(128))
    assignment_id: Mapped[str] = mapped_column(String(128))
    test_name: Mapped[str] = mapped_column(String(512), default="")
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Extension(Base):
    """Another due date for one student."""

    __tablename__ = "extensions"
    student_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    assignment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    until: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LmsPush(Base):
    """A grade sent to an LMS (recorded by the LMS code): what was sent, where, and how it went."""

    __tablename__ = "lms_pushes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(128))
    assignment_id: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(64))  # e.g. canvas, moodle
    final_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(32))  # e.g. ok, failed
    detail: Mapped[str] = mapped_column(Text, default="")
    pushed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Export(Base):
    """One `grade export`, with what each student had then (to say what changed since)."""

    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(4096), default="")
    exported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    snapshot: Mapped[str] = mapped_column(Text, default="{}")  # {student: [status, final_score]}


# --------------------------------------------------------------------------- manual grading
# Written and figure questions (grader.manual), the students' answers, the graders' rubric
# grades, grader accounts and the audit log (migration 0002).


class QuestionRow(Base):
    """A manually graded question of an assignment, as the course declares it (prompt, points, evidence)."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("assignment_id", "key", name="uq_question_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(64))  # the question id in the notebook
    kind: Mapped[str] = mapped_column(String(16))  # written | figure
    title: Mapped[str] = mapped_column(String(256), default="")
    prompt: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[float] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)
    evidence: Mapped[str] = mapped_column(Text, default="[]")  # JSON list: "figure" | {"test": name}


class RubricItemRow(Base):
    """One rubric item; edits in the grading app change it for everyone graded with it."""

    __tablename__ = "rubric_items"
    __table_args__ = (UniqueConstraint("question_id", "key", name="uq_rubric_item_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    key: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")


class AnswerRow(Base):
    """A submission's answer to a question: sanitised text, or a re-encoded PNG; a note when missing."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("submission_id", "question_id", name="uq_answer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    png: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ManualGradeRow(Base):
    """A person's grade of one student's answer to one question (kept across regrades and resubmissions).

    `version` goes up by one on every save; a save that names another version is refused."""

    __tablename__ = "manual_grades"
    __table_args__ = (UniqueConstraint("student_id", "question_id", name="uq_manual_grade"),
                      Index("ix_manual_grades_question", "question_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(128))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id"), nullable=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    comment: Mapped[str] = mapped_column(Text, default="")
    grader: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    graded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: a score set by an accepted regrade request; it replaces the rubric's sum until the next save
    score_override: Mapped[float | None] = mapped_column(Float, nullable=True)


class ManualGradeItemRow(Base):
    """A rubric item applied in a manual grade."""

    __tablename__ = "manual_grade_items"
    grade_id: Mapped[int] = mapped_column(ForeignKey("manual_grades.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rubric_items.id"), primary_key=True)


class GraderRow(Base):
    """A grading-app account: name, role (instructor | ta), scrypt password hash."""

    __tablename__ = "graders"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditRow(Base):
    """Who changed what in manual grading (rubric edits, accounts); detail is JSON."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class RegradeRow(Base):
    """A student's regrade request on one item (test:NAME or question:KEY), and its resolution.

    At most one request per (student, assignment, item) is open (a partial unique index)."""

    __tablename__ = "regrade_requests"
    __table_args__ = (Index("ix_regrades_assignment_status", "assignment_id", "status"),
                      Index("uq_regrade_open", "student_id", "assignment_id", "item", unique=True,
                            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(128))
    assignment_id: Mapped[str] = mapped_column(String(128))
    item: Mapped[str] = mapped_column(String(600))
    reason: Mapped[str] = mapped_column(Text, default="")  # neutralised, at most MAX_REASON_CHARS
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | accepted | rejected | adjusted
    filed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolver: Mapped[str] = mapped_column(String(64), default="")
    reply: Mapped[str] = mapped_column(Text, default="")
    old_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    new_score: Mapped[float | None] = mapped_column(Float, nullable=True)


def _guard_text_columns() -> None:
    """Give every String and Text column of every table the cleaning types above (columns added
    later are covered too); the DDL, and so the migrations, do not change."""
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if type(column.type) is Text:
                column.type = StoredText()
            elif type(column.type) is String:
                column.type = StoredString(column.type.length)


_guard_text_columns()
