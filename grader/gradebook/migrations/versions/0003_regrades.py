"""Regrade requests: the requests table, the assignments' [regrades] settings, and the score an
accepted request sets on a manual grade.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "regrade_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("assignment_id", sa.String(128), nullable=False),
        sa.Column("item", sa.String(600), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filed_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolver", sa.String(64), nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("old_score", sa.Float, nullable=True),
        sa.Column("new_score", sa.Float, nullable=True),
    )
    op.create_index("ix_regrades_assignment_status", "regrade_requests", ["assignment_id", "status"])
    op.create_index("uq_regrade_open", "regrade_requests", ["student_id", "assignment_id", "item"], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("regrades", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("manual_grades") as batch:
        batch.add_column(sa.Column("score_override", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("manual_grades") as batch:
        batch.drop_column("score_override")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("regrades")
    op.drop_index("uq_regrade_open", "regrade_requests")
    op.drop_index("ix_regrades_assignment_status", "regrade_requests")
    op.drop_table("regrade_requests")
