"""Opening the gradebook database by URL, and bringing its schema to the newest migration.

The URL comes from `--db`, else `$DLGRADE_DB`, else `sqlite:///gradebook.db` in the current
folder. SQLite runs in WAL mode with a busy timeout, and every transaction starts with
`BEGIN IMMEDIATE`, so two batches writing the same file wait for each other instead of failing.
PostgreSQL URLs (`postgresql+psycopg://...`) use psycopg 3; migrations there hold an advisory
lock so that two batches starting together do not both create the tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///gradebook.db"
BUSY_TIMEOUT_MS = 60_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Alembic revision the code expects; a database at another head is migrated first.
HEAD = "0003"


class GradebookError(Exception):
    """The database cannot be opened or is not a gradebook. The message is one line."""


def resolve_url(url: str | None = None) -> str:
    """The database URL: the argument, else $DLGRADE_DB, else SQLite gradebook.db here."""
    return url or os.environ.get("DLGRADE_DB") or DEFAULT_URL


def make_engine(url: str | None = None) -> Engine:
    """An engine for the gradebook at `url` (see `resolve_url`); nothing is created yet."""
    url = resolve_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise GradebookError(f"--db {url!r} is not a database URL (e.g. sqlite:///gradebook.db or "
                             "postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().resolve().parent
            if not folder.is_dir():
                raise GradebookError(f"--db {url}: no folder {folder}")
        engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # noqa: ANN001, ANN202
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001, ANN202
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (ImportError, sa.exc.NoSuchModuleError) as e:
        raise GradebookError(f"--db {parsed.render_as_string(hide_password=True)}: {e}") from None


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty one."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(engine: Engine) -> None:
    """Run the Alembic migrations up to head (cheap when already there: one query)."""
    try:
        if current_revision(engine) == HEAD:
            return
    except sa.exc.OperationalError as e:
        raise GradebookError(f"cannot open the gradebook {_shown(engine)}: {_first_line(e)}") from None
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    try:
        command.upgrade(cfg, "head")
    except sa.exc.SQLAlchemyError as e:
        raise GradebookError(f"cannot migrate the gradebook {_shown(engine)}: {_first_line(e)}") from None


def open_gradebook(url: str | None = None) -> sessionmaker[Session]:
    """Open (and migrate) the gradebook; returns a session factory bound to it."""
    engine = make_engine(url)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__
