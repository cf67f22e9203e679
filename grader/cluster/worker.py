"""What runs on a Dask worker: its identity (grader version, course digest, GPUs) and the task.

A worker process keeps one warm judge per assignment and options (grader.batch.job caches
the loaded assignment, sandbox backend, public data and renderer per process), so the
per-batch costs are paid once per worker, not per task. Tasks are serialised per process:
pytest is not thread-safe, so a worker started with several threads still grades one
submission at a time.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from grader.course.assignment import course_digest  # the course folder's digest (grader.course)

_GRADE_LOCK = threading.Lock()


def identity(course: str | None = None) -> dict[str, Any]:
    """What the driver compares with its own before it sends work."""
    from grader.sandbox.gpu import host_gpu_count
    from grader.version import __version__

    try:
        gpus = host_gpu_count()
    except Exception:
        gpus = 0
    return {"version": __version__, "course": course_digest(course), "python": sys.version.split()[0],
            "gpus": gpus}


def grade_task(data: bytes, content_hash: str, assignment_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """Grade one submission on this worker (grader.batch.job.grade_job, which never raises).

    `options["cluster_gpu"]`: the task was placed on a worker advertising a GPU; the judge then
    uses this machine's GPUs if it has any, else runs on the CPU (gpu = "optional") or reports
    the submission as not gradable here (gpu = "required").
    """
    from grader.batch.job import grade_job

    opts = dict(options)
    if opts.pop("cluster_gpu", False):
        try:
            from grader.sandbox.gpu import host_gpu_count

            opts["gpus"] = "all" if host_gpu_count() else None
        except Exception:
            opts["gpus"] = None
    with _GRADE_LOCK:
        result = grade_job(data, content_hash, assignment_id, opts)
    result["worker"] = _worker_name()
    return result


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except Exception:
        return ""


def set_allowed_failures(dask_scheduler: Any, count: int) -> int:  # noqa: ANN401
    """On the scheduler: how many worker deaths a task may survive (then KilledWorker)."""
    dask_scheduler.allowed_failures = count
    return count
