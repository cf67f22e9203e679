"""The batch Runner for Dask: one task per submission, results yielded as they finish.

Plugged into grader.batch.driver.Batch(runner=...), so the driver keeps writing the gradebook
(one transaction per result) and resume, kill-safety and progress behave as in the local pool.
"""

from __future__ import annotations

import secrets
from typing import Any, Iterator

from grader.cluster.spec import ClusterSpec

CRASHED_TWICE = "this submission crashed its grader twice (two Dask workers died while grading it); not retried"


def needs_gpu(assignment_id: str, options: dict[str, Any]) -> bool:
    """GPU tasks: the assignment requires one, or may use one and --gpus was given."""
    from grader.course.assignment import load_assignment

    spec = load_assignment(assignment_id, options.get("course") or None)
    return spec.gpu == "required" or (spec.gpu == "optional" and bool(options.get("gpus")))


def dask_runner(cluster: ClusterSpec) -> Any:  # noqa: ANN401
    """A Runner (see grader.batch.driver.Runner) that grades on `cluster`."""

    def run(jobs: list[Any], n: int, assignment: str, options: dict[str, Any],
            timeout: float) -> Iterator[tuple[Any, dict[str, Any]]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from grader.batch.pool import failure_record
        from grader.cluster.connect import open_cluster
        from grader.cluster.worker import grade_task

        gpu = needs_gpu(assignment, options)
        with open_cluster(cluster, submissions=len(jobs), gpu=gpu, course=options.get("course")) as client:
            run_id = secrets.token_hex(4)
            futures = {}
            for job in jobs:
                opts = {**job.options, "cluster_gpu": gpu, "jobs": 1, "slot": 0}
                key = f"dlgrade-{assignment}-{job.key}-{job.content_hash[:12]}-{run_id}"
                futures[client.submit(grade_task, job.data, job.content_hash, assignment, opts, key=key,
                                      pure=False, retries=0, resources={"GPU": 1} if gpu else None)] = job
            pending = set(futures)
            try:
                for future in as_completed(list(futures)):
                    pending.discard(future)
                    job = futures[future]
                    if future.status == "finished":
                        yield job, future.result()
                        continue
                    error = future.exception()
                    if isinstance(error, KilledWorker):
                        yield job, failure_record(job, CRASHED_TWICE)
                    else:
                        yield job, failure_record(job, f"the Dask task failed: {type(error).__name__}: {error}")
            finally:
                if pending:  # Ctrl-C, SIGTERM or the driver's own failure
                    client.cancel(list(pending), force=True)

    return run
