"""What every sandbox backend shares: the worker spec, the running worker, the error, the exit text.

Split from grader/sandbox/__init__.py so that the backends (process, docker) import these
without importing the package's registry (`get_backend`), which imports them: no circle.
"""


from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from grader.course.assignment import Limits

if TYPE_CHECKING:
    from grader.sandbox.environment import SandboxEnvironment

#: The worker's own files, and the student-side training helpers a notebook may import (docs/models.md).
WORKER_FILES = ("untrusted_worker.py", "untrusted_model_ops.py", "wire.py", "dlgrade_training.py")
PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WorkerSpec:
    """What a backend needs to start one worker."""

    limits: Limits
    data_dir: Path | None = None  # public data, mounted read-only at ./data in the worker
    masks: tuple[Path, ...] = ()  # host paths that must not be readable inside the sandbox
    slot: int = 0  # distinct per concurrent worker; picks the unprivileged uid
    gpu: bool = False
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # Top-level packages that must not exist inside the sandbox (their folders are masked), e.g.
    # ("torch",) for an assignment that forbids it: enforced by visibility, not by an import hook.
    hide_modules: tuple[str, ...] = ()


class Worker:
    """A started worker: the judge's end of the channel and the OS process behind it."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen, description: str,
                 cleanup: Callable[[], None] | None = None, isolated: bool = True) -> None:
        self.sock = sock
        self.proc = proc
        self.description = description  # e.g. "bubblewrap sandbox", shown in results
        self.isolated = isolated  # False for the documented no-bwrap fallback
        self._cleanup = cleanup  # runs once, after the process is gone

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker and everything it started; safe to call twice."""
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()

    def exit_reason(self) -> str:
        """Why the worker ended, in words for the student."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return describe_exit(code)


def describe_exit(code: int) -> str:
    sig = -code if code < 0 else (code - 128 if code > 128 else 0)
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hints = {
            "SIGKILL": "killed: out of memory or past a time limit",
            "SIGSEGV": "crashed with a segmentation fault",
            "SIGXCPU": "used up its CPU time",
            "SIGABRT": "aborted",
            "SIGBUS": "crashed (bus error)",
        }
        return f"{hints.get(name, 'killed')} ({name})"
    return f"exited with code {code}"


class Backend(Protocol):
    name: str

    def start(self, spec: WorkerSpec) -> Worker:
        """Start a worker. Raises SandboxError when the backend cannot run at all."""
        ...

    def environment(self) -> "SandboxEnvironment":
        """What the sandbox's Python holds, found by the judge (never reported by a worker)."""
        ...


class SandboxError(Exception):
    """A backend cannot run here (missing tool, engine down, image missing)."""


def stage_worker_files(directory: Path) -> Path:
    """Copy the worker's own files into `directory` (which the sandbox then mounts)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in WORKER_FILES:
        shutil.copyfile(PACKAGE_DIR / "worker" / name, directory / name)
    return directory
