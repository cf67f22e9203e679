"""`grade serve` and Debian's Chromium for the grading app's browser tests.

    from serve_env import chromium, start_serve, stop_serve

`start_serve` runs the real app in its own process on a free loopback port (`--port 0`) and
returns it with its base URL; `chromium()` is a headless Chromium (a context manager), driven by
Playwright from PyPI (never `playwright install`). Both skip on a developer machine without
them and fail in CI (REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent


def missing(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def start_serve(db_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """(the `grade serve` process on `db_url`, its base URL without a trailing slash)."""
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "serve", "--db", db_url, "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=env or {**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    if not line.startswith("Grading app on http://127.0.0.1:"):
        proc.kill()
        pytest.fail(f"grade serve printed {line!r}; stderr: {proc.stderr.read()[-2000:]}")
    return proc, line.split()[3].rstrip("/")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=20)


@contextlib.contextmanager
def chromium() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright; never `playwright install`)")
    exe = os.environ.get("DLGRADE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        missing("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
