"""GPUs for the sandbox: parsing `--gpus`, Docker device requests, and which GPU each job gets.

`--gpus` takes what `docker run --gpus` takes, in short: `all`, a count (`2`), or device ids
(`0,1`, also `device=0,1`). Docker is given either a count or device ids, never both.

In a batch, concurrent jobs get distinct GPUs: one device per job, round-robin over the devices
given (`gpu_for_slot`, or `GpuScheduler` where jobs come and go). With fewer devices than
concurrent jobs, devices are shared, as evenly as the order allows.

Everything here is pure (no Docker, no NVIDIA driver), so it is unit-tested on any machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

ALL = -1
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")  # an index, or a UUID like GPU-1a2b...


class GpuError(ValueError):
    """A `--gpus` value that cannot be understood; the message is one line for people."""


@dataclass(frozen=True)
class GpuRequest:
    """Which GPUs a worker may use: `count` (ALL for every GPU) or explicit `device_ids`."""

    count: int = 0
    device_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.count) == bool(self.device_ids):
            raise GpuError("a GPU request has either a count or device ids, not both and not neither")
        if self.count < ALL:
            raise GpuError(f"bad GPU count {self.count}")

    @property
    def all(self) -> bool:
        return self.count == ALL

    def indices(self, available: int | None = None) -> tuple[str, ...]:
        """The devices this request names, as ids; () when unknown ('all' with no device count)."""
        if self.device_ids:
            return self.device_ids
        n = available if self.all else self.count
        return tuple(str(i) for i in range(n or 0))

    def __str__(self) -> str:
        if self.all:
            return "all"
        if self.device_ids:
            return ",".join(self.device_ids)
        return str(self.count)


def parse_gpus(text: str | None) -> GpuRequest | None:
    """`--gpus` -> a request, or None for no GPU (None, "" or "none").

    As with `docker run --gpus`, a bare number is a count: `2` is any two GPUs. Device ids need
    a comma or `device=`: `0,1`, `device=1`. A bare `0` is refused (docker reads it as "no GPU",
    people mean device 0).
    """
    if text is None:
        return None
    value = text.strip()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1].strip()
    if value.lower() in ("", "none"):
        return None
    if value.lower() == "all":
        return GpuRequest(count=ALL)
    explicit = value.startswith("device=")
    if explicit:
        value = value[len("device="):]
    parts = [p.strip() for p in value.split(",")]
    if not explicit and len(parts) == 1 and parts[0].isdigit():
        count = int(parts[0])
        if count == 0:
            raise GpuError("--gpus 0 is ambiguous: write device=0 for the first GPU, or leave --gpus out")
        return GpuRequest(count=count)
    if not all(parts) or not all(_ID_RE.match(p) for p in parts):
        raise GpuError(f"--gpus {text!r}: give 'all', a count like 2, or device ids like 0,1")
    ids: list[str] = []
    for p in parts:
        if p not in ids:
            ids.append(p)
    return GpuRequest(device_ids=tuple(ids))


def device_requests(request: GpuRequest | None) -> list[Any]:
    """docker-py `device_requests` for `request`: count=-1 for all, count=N, or device_ids."""
    if request is None:
        return []
    from docker.types import DeviceRequest

    if request.device_ids:
        return [DeviceRequest(device_ids=list(request.device_ids), capabilities=[["gpu"]])]
    return [DeviceRequest(count=request.count, capabilities=[["gpu"]])]


def gpu_for_slot(request: GpuRequest | None, slot: int, jobs: int = 1,
                 available: int | None = None) -> GpuRequest | None:
    """The GPUs of the job in `slot` (0 <= slot < jobs) among `jobs` concurrent jobs.

    One job alone gets the whole request. Concurrent jobs get one device each, round-robin over
    the devices the request names (for `all`, devices 0..available-1), so jobs <= devices never
    share one. When `all` is asked with no known device count, every job gets all of them.
    """
    if request is None or jobs <= 1:
        return request
    ids = request.indices(available)
    if not ids:
        return request
    return GpuRequest(device_ids=(ids[slot % len(ids)],))


class GpuScheduler:
    """Hands out one device per running job: the least busy one, ties broken round-robin.

    For a batch whose jobs start and finish at different times (`with scheduler.job() as gpu:`).
    Thread-safe. Without devices to split (`all` with an unknown count), every job gets the
    whole request.
    """

    def __init__(self, request: GpuRequest | None, available: int | None = None) -> None:
        self.request = request
        self.devices = request.indices(available) if request is not None else ()
        self.busy = {d: 0 for d in self.devices}
        self._next = 0
        self._lock = threading.Lock()

    def acquire(self) -> GpuRequest | None:
        if self.request is None or not self.devices:
            return self.request
        with self._lock:
            n = len(self.devices)
            order = [self.devices[(self._next + i) % n] for i in range(n)]
            device = min(order, key=lambda d: self.busy[d])  # min keeps the first of equals
            self.busy[device] += 1
            self._next = (self.devices.index(device) + 1) % n
            return GpuRequest(device_ids=(device,))

    def release(self, got: GpuRequest | None) -> None:
        if got is None or not self.devices or not got.device_ids:
            return
        with self._lock:
            for d in got.device_ids:
                if self.busy.get(d, 0) > 0:
                    self.busy[d] -= 1

    def job(self) -> "_Job":
        return _Job(self)


class _Job:
    def __init__(self, scheduler: GpuScheduler) -> None:
        self.scheduler = scheduler
        self.gpu: GpuRequest | None = None

    def __enter__(self) -> GpuRequest | None:
        self.gpu = self.scheduler.acquire()
        return self.gpu

    def __exit__(self, *exc: object) -> None:
        self.scheduler.release(self.gpu)


def cuda_visible_devices(request: GpuRequest | None) -> str | None:
    """CUDA_VISIBLE_DEVICES for a worker outside Docker: "" for none, None to leave all visible."""
    if request is None:
        return ""
    if request.all:
        return None
    return ",".join(request.indices())


def host_gpu_count() -> int | None:
    """How many GPUs `nvidia-smi -L` lists on this host, or None without a working nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
