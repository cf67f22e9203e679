"""`grade` as a real process: `python -m grader.cli` in a fresh interpreter, output captured as text.

The one subprocess helper of the CLI tests. `isolated=True` drops DLGRADE_COURSE and puts
this checkout alone on PYTHONPATH, so that the command finds the course as an editable
install does (the checkout above the package), even where the venv's install points at
another checkout (a git worktree); `env` adds or replaces variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The checkout these tests belong to.
REPO = Path(__file__).resolve().parent.parent
#: The command line of `grade` in this interpreter.
GRADE = (sys.executable, "-m", "grader.cli")


def grade_argv(*args: str | Path) -> list[str]:
    """`grade ARGS...` as an argv list."""
    return [*GRADE, *map(str, args)]


def grade_env(isolated: bool = False, env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment; if `isolated`, less DLGRADE_COURSE and with PYTHONPATH this
    checkout only; plus `env`."""
    base = {k: v for k, v in os.environ.items()
            if not (isolated and k in ("DLGRADE_COURSE", "PYTHONPATH"))}
    if isolated:
        base["PYTHONPATH"] = str(REPO)
    return {**base, **(env or {})}


def grade(*args: str | Path, cwd: Path | None = None, timeout: float = 900, isolated: bool = False,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `grade ARGS...` to the end and return what it printed (never raises on exit codes)."""
    return subprocess.run(grade_argv(*args), cwd=cwd, env=grade_env(isolated, env), capture_output=True,
                          text=True, timeout=timeout)
