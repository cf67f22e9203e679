"""Manual grading: questions, rubric items, answers, manual grades and their items, grader
accounts, the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.UniqueConstraint("assignment_id", "key", name="uq_question_key"),
    )
    op.create_table(
        "rubric_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.UniqueConstraint("question_id", "key", name="uq_rubric_item_key"),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.UniqueConstraint("submission_id", "question_id", name="uq_answer"),
    )
    op.create_table(
        "manual_grades",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id"), nullable=False),
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("answers.id"), nullable=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("grader", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("graded_at", TS, nullable=False),
        sa.UniqueConstraint("student_id", "question_id", name="uq_manual_grade"),
    )
    op.create_index("ix_manual_grades_question", "manual_grades", ["question_id"])
    op.create_table(
        "manual_grade_items",
        sa.Column("grade_id", sa.Integer, sa.ForeignKey("manual_grades.id"), primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("rubric_items.id"), primary_key=True),
    )
    op.create_table(
        "graders",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "graders", "manual_grade_items", "manual_grades", "answers", "rubric_items",
                  "questions"):
        op.drop_table(table)
