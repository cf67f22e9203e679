"""Alembic environment for the gradebook: runs online on the engine grader.gradebook.db passes in.

On PostgreSQL the whole upgrade holds a transaction-level advisory lock, so that two batches
starting at once on an empty database do not both create the tables; on SQLite the upgrade's
transaction starts with BEGIN IMMEDIATE (see grader.gradebook.db), which serialises it too.
"""

from __future__ import annotations

from alembic import context

from grader.gradebook.models import Base

MIGRATION_LOCK = 0x646C6772  # "dlgr"


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.run_migrations()


run_migrations_online()
