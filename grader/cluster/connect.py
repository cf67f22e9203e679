"""Start or reach the Dask cluster for a batch, check its workers, and close what we started."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

from grader.cluster.spec import ClusterError, ClusterSpec

#: Worker deaths a submission may cause: after the first it is retried on another worker,
#: the second ends it as a grader error.
ALLOWED_FAILURES = 1
#: Seconds to wait for an existing scheduler and its first worker.
CONNECT_SECONDS = 60


@contextlib.contextmanager
def open_cluster(spec: ClusterSpec, *, submissions: int, gpu: bool, course: str | None = None
                 ) -> Iterator[Any]:
    """A connected, checked `distributed.Client`; closes what it started (Slurm jobs included)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'dask[distributed]' (and dask-jobqueue for slurm)"
                           ) from None
    from distributed import Client

    cluster = None
    client = None
    try:
        if spec.kind == "local":
            from distributed import LocalCluster

            n = spec.workers or os.cpu_count() or 1
            resources = {"GPU": 1} if gpu else None
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, resources=resources)
            client = Client(cluster)
        elif spec.kind == "slurm":
            cluster = _slurm(spec, submissions)
            client = Client(cluster)
            client.wait_for_workers(1, timeout=spec.slurm.startup_seconds)
        else:
            kwargs = {"scheduler_file": spec.address} if spec.kind == "scheduler-file" else {"address": spec.address}
            client = Client(timeout=CONNECT_SECONDS, **kwargs)
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except ClusterError:
        _close(client, cluster)
        raise
    except Exception as e:  # OSError, TimeoutError, dask's own: one line for people
        _close(client, cluster)
        raise ClusterError(f"cannot start or reach the cluster ({spec.describe()}): {_line(e)}") from None
    try:
        check_workers(client, gpu=gpu, course=course)
        client.run_on_scheduler(_allowed_failures_on_scheduler)
        yield client
    finally:
        _close(client, cluster)


def _allowed_failures_on_scheduler(dask_scheduler: Any) -> int:  # noqa: ANN401
    from grader.cluster.worker import set_allowed_failures

    return set_allowed_failures(dask_scheduler, ALLOWED_FAILURES)


def check_workers(client: Any, *, gpu: bool, course: str | None = None) -> dict[str, dict[str, Any]]:
    """Refuse workers whose grader version or course differs from ours; a GPU job needs a GPU worker."""
    from grader.cluster.worker import identity

    mine = identity(course)
    workers = client.scheduler_info(n_workers=-1)["workers"] if _takes_n_workers(client) else \
        client.scheduler_info()["workers"]
    try:
        theirs = client.run(identity)
    except Exception as e:
        raise ClusterError(f"a worker of the cluster cannot run dlgrade: {_line(e)}") from None
    for address, info in sorted(theirs.items()):
        name = workers.get(address, {}).get("name", address)
        if info.get("version") != mine["version"] or info.get("course") != mine["course"]:
            raise ClusterError(
                f"worker {name} ({address}) runs dlgrade {info.get('version')} with course "
                f"{str(info.get('course'))[:12]}; this driver runs {mine['version']} with course "
                f"{mine['course'][:12]}: install the same grader and course on every worker")
    if gpu and not any(float((w.get("resources") or {}).get("GPU", 0)) >= 1 for w in workers.values()):
        raise ClusterError("this assignment's submissions need a GPU worker, and no worker of the cluster "
                           "advertises one: start the GPU machines' workers with `dask worker ... "
                           "--resources GPU=1`")
    return theirs


def _takes_n_workers(client: Any) -> bool:  # noqa: ANN401
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _slurm(spec: ClusterSpec, submissions: int) -> Any:  # noqa: ANN401
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ClusterError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    s = spec.slurm
    # one worker process per core, one thread each: a job grades `cores` submissions at once
    kwargs: dict[str, Any] = dict(cores=s.cores, processes=s.cores, memory=s.memory, walltime=s.walltime,
                                  python=s.python or sys.executable,
                                  scheduler_options={"dashboard_address": None},
                                  job_extra_directives=list(s.job_extra_directives))
    if s.queue:
        kwargs["queue"] = s.queue
    if s.account:
        kwargs["account"] = s.account
    if s.interface:
        kwargs["interface"] = s.interface
    if s.log_directory:
        kwargs["log_directory"] = s.log_directory
    if s.worker_gpus:
        kwargs["worker_extra_args"] = ["--resources", f"GPU={s.worker_gpus}"]
    cluster = SLURMCluster(**kwargs)
    cluster.scale(jobs=max(1, min(s.jobs, submissions)))
    return cluster


def _close(client: Any, cluster: Any) -> None:  # noqa: ANN401
    for thing in (client, cluster):
        if thing is not None:
            with contextlib.suppress(Exception):
                thing.close()


def _line(e: BaseException) -> str:
    from grader.textsafe import one_line

    return one_line(f"{type(e).__name__}: {e}", 300)
