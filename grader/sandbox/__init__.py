"""Sandbox backends: where the untrusted worker runs.

A backend has one job: start `untrusted_worker.py` in isolation and hand back a connected
socket plus a way to kill it. Everything else (the protocol, deadlines, restarts) is the
judge's. To add a backend, implement `Backend.start` and register it in `BACKENDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.sandbox.base import (
    PACKAGE_DIR,
    WORKER_FILES,
    Backend,
    SandboxError,
    Worker,
    WorkerSpec,
    describe_exit,
    stage_worker_files,
)

if TYPE_CHECKING:
    from grader.sandbox.gpu import GpuRequest

__all__ = ["PACKAGE_DIR", "WORKER_FILES", "Backend", "SandboxError", "Worker", "WorkerSpec", "describe_exit",
           "get_backend", "stage_worker_files"]


def get_backend(name: str, *, gpus: GpuRequest | None = None) -> Backend:
    """The backend called `name`. `gpus`: the GPUs its workers may use when a spec asks for one.

    Raises SandboxError when the backend cannot run here (for docker: no daemon, no image,
    a stale image, or requested GPUs that the container cannot see).
    """
    if name == "process":
        from grader.sandbox.process import ProcessBackend

        return ProcessBackend()
    if name == "docker":
        from grader.sandbox.docker import DockerBackend

        return DockerBackend(gpus=gpus)
    raise SandboxError(f"unknown sandbox {name!r} (known: process, docker)")
