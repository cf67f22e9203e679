"""`--cluster SPEC` and `--cluster-config FILE`, parsed into plain settings (no Dask import here)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ClusterError(Exception):
    """The cluster cannot be used; the message is one line for the instructor."""


@dataclass(frozen=True)
class SlurmSettings:
    """`[cluster.slurm]` of the config file: what dask_jobqueue.SLURMCluster gets."""

    queue: str = ""  # partition (-p); "" = the cluster's default
    account: str = ""  # -A; "" = none
    cores: int = 1  # cores per job (one Dask worker process per job, one thread)
    memory: str = "4GB"  # memory per job
    walltime: str = "01:00:00"  # per job
    jobs: int = 2  # jobs started for the batch (never more than there are submissions)
    python: str = ""  # the Python on the nodes; "" = this interpreter's path
    interface: str = ""  # network interface for scheduler and workers, e.g. "lo" or "ib0"; "" = default
    log_directory: str = ""  # where the jobs' slurm-N.out logs go; "" = OUT/slurm-logs (grade batch --out)
    job_extra_directives: tuple[str, ...] = ()  # more #SBATCH lines, e.g. ("--gres=gpu:1",)
    worker_gpus: int = 0  # GPUs each job's worker advertises (Dask resource GPU)
    startup_seconds: float = 300.0  # how long to wait for the first worker to connect


_SLURM_KEYS = {f for f in SlurmSettings.__dataclass_fields__}


@dataclass(frozen=True)
class ClusterSpec:
    """Where the batch runs: kind is local | address | scheduler-file | slurm."""

    kind: str
    workers: int = 0  # local: worker processes (0 = one per core)
    address: str = ""  # address: tcp://HOST:PORT or tls://HOST:PORT; scheduler-file: the path
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    def describe(self) -> str:
        if self.kind == "local":
            return f"Dask LocalCluster ({self.workers or 'one per core'} workers)"
        if self.kind == "slurm":
            return f"Slurm through dask-jobqueue ({self.slurm.jobs} jobs)"
        return f"Dask scheduler {self.address}"


def parse_spec(text: str, config: Path | None = None) -> ClusterSpec:
    """`local[:N]`, `tcp://HOST:PORT`, `tls://HOST:PORT`, `scheduler-file:PATH` or `slurm`."""
    text = (text or "").strip()
    if text == "local" or text.startswith("local:"):
        n = text.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise ClusterError(f"--cluster {text}: expected local or local:N with N a positive number")
        return ClusterSpec("local", workers=int(n) if n else 0)
    if text.startswith(("tcp://", "tls://")):
        host, _, port = text[6:].rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"--cluster {text}: expected tcp://HOST:PORT or tls://HOST:PORT")
        return ClusterSpec("address", address=text)
    if text.startswith("scheduler-file:"):
        path = text.partition(":")[2]
        if not path:
            raise ClusterError("--cluster scheduler-file:PATH: the path is missing")
        if not Path(path).is_file():
            raise ClusterError(f"--cluster {text}: no such scheduler file")
        return ClusterSpec("scheduler-file", address=path)
    if text == "slurm":
        return ClusterSpec("slurm", slurm=read_slurm_config(config))
    raise ClusterError(f"--cluster {text!r}: expected local[:N], tcp://HOST:PORT, tls://HOST:PORT, "
                       "scheduler-file:PATH or slurm")


def read_slurm_config(path: Path | None) -> SlurmSettings:
    """The `[cluster.slurm]` table of `path` (TOML); defaults when there is no file."""
    if path is None:
        return SlurmSettings()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClusterError(f"--cluster-config {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ClusterError(f"--cluster-config {path}: not a readable TOML file ({e})") from None
    table: Any = data.get("cluster", {}).get("slurm", {}) if isinstance(data.get("cluster"), dict) else {}
    if not isinstance(table, dict):
        raise ClusterError(f"--cluster-config {path}: [cluster.slurm] must be a table")
    unknown = sorted(set(table) - _SLURM_KEYS)
    if unknown:
        raise ClusterError(f"--cluster-config {path}: unknown key(s) in [cluster.slurm]: {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(_SLURM_KEYS))}")
    values: dict[str, Any] = {}
    defaults = SlurmSettings()
    for key, value in table.items():
        want = type(getattr(defaults, key))
        if want is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ClusterError(f"--cluster-config {path}: cluster.slurm.{key} must be a list of strings")
            value = tuple(value)
        elif want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, want) or isinstance(value, bool):
            raise ClusterError(f"--cluster-config {path}: cluster.slurm.{key} must be a {want.__name__}")
        values[key] = value
    settings = SlurmSettings(**values)
    if settings.cores < 1 or settings.jobs < 1 or settings.worker_gpus < 0:
        raise ClusterError(f"--cluster-config {path}: cores and jobs must be at least 1, worker_gpus at least 0")
    if settings.log_directory:
        check_log_directory(settings.log_directory, f"--cluster-config {path}: cluster.slurm.log_directory")
    return settings


_SBATCH_SAFE = re.compile(r"[A-Za-z0-9_./+@=,:-]+")


def check_log_directory(folder: str, what: str) -> None:
    """Refuse a Slurm log folder that an `#SBATCH -e/-o` line cannot carry as written.

    dask-jobqueue writes the folder into the job script unquoted, so a space would split the
    directive and a quote or `#` would change it."""
    if not _SBATCH_SAFE.fullmatch(folder):
        raise ClusterError(f"{what} {folder!r}: a Slurm log folder may hold only letters, digits and _ . / + @ = , : -; "
                           "choose another --out, or set log_directory in --cluster-config")
