"""A private, throwaway PostgreSQL server for the gradebook tests (Debian's postgresql package).

`postgres_url` (session fixture, import it into a test module) starts one server per test session:
initdb into a temporary folder, a unix socket only (no TCP), its own socket folder and port
number, fsync off. Each test that asks for `pg_database` gets a fresh database on it.
Without the server binaries the tests skip with the reason; with REQUIRE_POSTGRES=1 (CI) that
is a failure instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pgbin() -> Path:
    """$DLGRADE_PGBIN, else the newest Debian server (/usr/lib/postgresql/<major>/bin)."""
    if os.environ.get("DLGRADE_PGBIN"):
        return Path(os.environ["DLGRADE_PGBIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PGBIN = _pgbin()


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def _as_postgres(cmd: list[str], **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="session")
def postgres_server():  # noqa: ANN201
    """(socket dir, port) of a running private server; stopped after the session."""
    if not (PGBIN / "initdb").exists() or not (PGBIN / "pg_ctl").exists():
        _unavailable(f"no server binaries in {PGBIN} (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    root = Path(tempfile.mkdtemp(prefix="dlgrade-pg-"))
    sock = root / "sock"
    data = root / "data"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = 56000 + secrets.randbelow(2000)
    r = _as_postgres([str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
    if r.returncode:
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"initdb failed: {r.stderr.strip()[-300:]}")
    opts = (f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off")
    r = _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
                      "-o", opts, "start"])
    if r.returncode:
        log = (root / "server.log").read_text(errors="replace")[-500:] if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the server did not start: {r.stderr.strip()[-300:]} {log}")
    try:
        yield str(sock), port
    finally:
        _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_server) -> str:  # noqa: ANN001
    """The SQLAlchemy URL of a new, empty database on the session's server."""
    import psycopg

    sock, port = postgres_server
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(host=sock, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@/{name}?host={sock}&port={port}"
