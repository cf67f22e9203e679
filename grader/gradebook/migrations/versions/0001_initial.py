"""The first gradebook schema: students, assignments, blobs, submissions, runs, gradings,
test results, feedback files, overrides, extensions, LMS pushes, exports.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "students",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(256), nullable=False),
        sa.Column("sis_user_id", sa.String(128), nullable=False),
        sa.Column("sis_login_id", sa.String(128), nullable=False),
        sa.Column("section", sa.String(256), nullable=False),
        sa.Column("in_roster", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("late_policy", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "blobs",
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), sa.ForeignKey("students.id"), nullable=False),
        sa.Column("assignment_id", sa.String(128), sa.ForeignKey("assignments.id"), nullable=False),
        sa.Column("source_name", sa.String(1024), nullable=False),
        sa.Column("content_hash", sa.String(64), sa.ForeignKey("blobs.content_hash"), nullable=False),
        sa.Column("intake", sa.String(32), nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("late_flag", sa.Boolean, nullable=False),
        sa.Column("seconds_late", sa.Float, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.UniqueConstraint("student_id", "assignment_id", "content_hash", name="uq_submission_content"),
    )
    op.create_index("ix_submissions_assignment_student", "submissions", ["assignment_id", "student_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("grader_version", sa.String(64), nullable=False),
        sa.Column("sandbox", sa.String(64), nullable=False),
        sa.Column("jobs", sa.Integer, nullable=False),
        sa.Column("intake", sa.String(2048), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_table(
        "gradings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("traceback", sa.Text, nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("grader_version", sa.String(64), nullable=False),
        sa.Column("sandbox", sa.String(256), nullable=False),
        sa.Column("graded_at", TS, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
    )
    op.create_index("ix_gradings_submission", "gradings", ["submission_id"])
    op.create_table(
        "test_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grading_id", sa.Integer, sa.ForeignKey("gradings.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("suite", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("visibility", sa.String(32), nullable=False),
    )
    op.create_index("ix_test_results_grading", "test_results", ["grading_id"])
    op.create_table(
        "feedback_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("grading_id", sa.Integer, sa.ForeignKey("gradings.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
    )
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("test_name", sa.String(512), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("student_id", "assignment_id", "test_name", name="uq_override"),
    )
    op.create_table(
        "extensions",
        sa.Column("student_id", sa.String(128), primary_key=True),
        sa.Column("assignment_id", sa.String(128), primary_key=True),
        sa.Column("until", TS, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "lms_pushes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("final_score", sa.Float, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("pushed_at", TS, nullable=False),
    )
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("exported_at", TS, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("exports", "lms_pushes", "extensions", "overrides", "feedback_files", "test_results",
                  "gradings", "runs", "submissions", "blobs", "assignments", "students"):
        op.drop_table(table)
