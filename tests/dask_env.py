"""A real Dask scheduler and `dask worker` processes on 127.0.0.1 for the cluster tests.

Started as separate processes from this venv's `dask` command, as a department would start
them; stopped (process groups killed) at teardown. Skips with the reason when Dask is not
installed, unless REQUIRE_DASK=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
START_SECONDS = 90


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_DASK") == "1":
        pytest.fail(f"Dask is required (REQUIRE_DASK=1) but {reason}")
    pytest.skip(reason)


class DaskCluster:
    """A scheduler and named workers; `address` is tcp://127.0.0.1:PORT."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = {**os.environ, **(env or {})}
        self.procs: dict[str, subprocess.Popen] = {}
        self.scheduler_file = root / "scheduler.json"
        self.address = ""

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "w")
        proc = subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**self.env, **(env or {})}, start_new_session=True, cwd=self.root)
        self.procs[name] = proc
        return proc

    def start_scheduler(self) -> None:
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(self.scheduler_file)])
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.scheduler_file.exists() and self.scheduler_file.stat().st_size:
                try:
                    self.address = json.loads(self.scheduler_file.read_text())["address"]
                    return
                except (ValueError, KeyError):
                    pass
            if self.procs["scheduler"].poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the Dask scheduler did not start: {self.log('scheduler')}")

    def start_worker(self, name: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self._spawn(name, ["worker", self.address, "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                           "--nworkers", "1", "--nthreads", "1", "--death-timeout", "60", "--name", name,
                           "--local-directory", str(self.root / name), *extra], env=env)

    def wait_for(self, names: set[str]) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_SECONDS) as c:
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline:
                have = {w["name"] for w in c.scheduler_info(n_workers=-1)["workers"].values()}
                if names <= have:
                    return
                time.sleep(0.2)
        raise RuntimeError(f"workers {sorted(names)} did not connect; logs: "
                           + " | ".join(self.log(n) for n in names))

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)

    def close(self) -> None:
        for name in [n for n in self.procs if n != "scheduler"] + ["scheduler"]:
            self.stop(name)


def start_cluster(workers: dict[str, tuple[str, ...]], env: dict[str, str] | None = None,
                  worker_env: dict[str, dict[str, str]] | None = None) -> DaskCluster:
    """A scheduler plus `workers` (name -> extra `dask worker` arguments), all connected."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        _unavailable("distributed is not installed (pip install 'dask[distributed]')")
    if not (BIN / "dask").exists():
        _unavailable(f"no dask command in {BIN}")
    cluster = DaskCluster(Path(tempfile.mkdtemp(prefix="dlgrade-dask-")), env)
    try:
        cluster.start_scheduler()
        for name, extra in workers.items():
            cluster.start_worker(name, *extra, env=(worker_env or {}).get(name))
        cluster.wait_for(set(workers))
    except BaseException:
        cluster.close()
        shutil.rmtree(cluster.root, ignore_errors=True)
        raise
    return cluster
