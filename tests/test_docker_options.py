"""The Docker backend's settings, checked without a daemon: container options, image staleness,
build plans. (The engine-backed tests are tests/test_docker.py and tests/test_docker_hostile.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader import __version__
from grader.course.assignment import Limits
from grader.sandbox import WorkerSpec
from grader.sandbox.docker import DockerBackend
from grader.sandbox.docker_image import stale_reason
from grader.sandbox.gpu import parse_gpus

pytest.importorskip("docker")


def backend(gpus: str | None = None) -> DockerBackend:
    b = DockerBackend.__new__(DockerBackend)  # no daemon: only the pure parts are used
    b.client, b.gpus, b.image_name, b.remapped = None, parse_gpus(gpus), "dlgrade-sandbox:cpu", False
    return b


def options(spec: WorkerSpec, gpus: str | None = None) -> dict:
    return backend(gpus).container_options(spec, 61003, Path("/tmp/stage/abc"), "dlgrade-test")


def test_container_is_locked_down_with_the_assignments_limits():
    limits = Limits(memory_mb=1024, max_processes=32, max_file_mb=32, cpus=min(2, os.cpu_count() or 1))
    o = options(WorkerSpec(limits=limits, data_dir=Path("/tmp/data"), slot=3))
    assert o["network_mode"] == "none"
    assert o["read_only"] is True
    assert o["cap_drop"] == ["ALL"]
    assert o["security_opt"] == ["no-new-privileges"]
    assert o["user"] == "61003:61003" and not o["user"].startswith("0")
    assert o["pids_limit"] == 32 + 2
    assert o["mem_limit"] == o["memswap_limit"] == f"{1024 + 3 * 32}m"
    assert o["nano_cpus"] == limits.cpus * 1_000_000_000
    assert options(WorkerSpec(limits=Limits(cpus=10_000)))["nano_cpus"] == (os.cpu_count() or 1) * 1_000_000_000
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in o["ulimits"]}
    assert ulimits["core"] == (0, 0)
    assert ulimits["fsize"] == (32 * 2**20, 32 * 2**20)
    assert o["log_config"]["Config"]["max-size"] == "1m"
    assert set(o["tmpfs"]) == {"/tmp", "/home/student"}
    assert all("size=32m" in v for v in o["tmpfs"].values())
    mounts = {m["Target"]: m for m in o["mounts"]}
    assert set(mounts) == {"/opt/dlgrade", "/home/student/data"}
    assert all(m["ReadOnly"] for m in mounts.values())
    assert mounts["/home/student/data"]["Source"] == "/tmp/data"
    assert o["labels"]["dlgrade"] == "1" and o["labels"]["dlgrade.slot"] == "3"
    assert o["init"] is True and o["detach"] is True
    assert "auto_remove" not in o  # we remove containers ourselves, after reading their state
    assert "device_requests" not in o
    assert o["environment"]["CUDA_VISIBLE_DEVICES"] == ""
    assert o["environment"]["DLGRADE_PRIVATE_PIDS"] == "1"
    assert o["command"][:2] == ["/bin/sh", "-c"] and str(1024 * 1024) in o["command"]  # RLIMIT_AS


def test_gpu_requests_only_for_a_gpu_spec():
    spec = WorkerSpec(limits=Limits())
    assert "device_requests" not in options(spec, gpus="all")  # the assignment did not ask
    o = options(WorkerSpec(limits=Limits(), gpu=True), gpus="all")
    (req,) = o["device_requests"]
    assert req["Count"] == -1 and not req.get("DeviceIDs") and req["Capabilities"] == [["gpu"]]
    assert "CUDA_VISIBLE_DEVICES" not in o["environment"]
    assert "unlimited" in o["command"]  # CUDA reserves address space: no RLIMIT_AS
    (req,) = options(WorkerSpec(limits=Limits(), gpu=True), gpus="1,3")["device_requests"]
    assert req["DeviceIDs"] == ["1", "3"] and not req.get("Count")


def test_stale_images_are_named_with_the_reason():
    from grader.sandbox.docker_image import sandbox_digest, sandbox_dir

    folder = sandbox_dir()
    assert folder is not None
    good = {"dlgrade.sandbox": "1", "dlgrade.version": __version__, "dlgrade.sandbox-digest": sandbox_digest(folder)}
    assert stale_reason(good) == ""
    assert "not built by `grade sandbox build`" in stale_reason({})
    assert "built for dlgrade 0.0.1" in stale_reason({**good, "dlgrade.version": "0.0.1"})
    assert "changed since it was built" in stale_reason({**good, "dlgrade.sandbox-digest": "0" * 16})


def test_build_plans():
    from grader.sandbox.docker_build import BASE_IMAGE, plan, target_platform_args

    offline = plan()
    assert offline.offline and offline.base == BASE_IMAGE and offline.tag == "dlgrade-sandbox:cpu"
    assert "torch==2.13.0+cpu" in offline.requirements  # never unpinned torch
    assert any(r.startswith("numpy==") for r in offline.requirements)
    assert offline.pip_args == "--no-index --find-links /wheelhouse"
    assert offline.labels["dlgrade.version"] == __version__
    online = plan(base_image="python:3.11-slim", tag="mine:1")
    assert not online.offline and online.base == "python:3.11-slim" and online.tag == "mine:1"
    assert "torch==2.13.0" in online.requirements and "download.pytorch.org/whl/cpu" in online.pip_args
    gpu = plan(gpu=True)
    assert gpu.tag == "dlgrade-sandbox:gpu" and "torch==2.13.0" in gpu.requirements
    args = target_platform_args()
    assert "--only-binary=:all:" in args and "cp311" in args


def test_the_image_context_holds_no_judge_files(tmp_path):
    from grader.sandbox.docker_build import make_context, plan

    make_context(plan(), None, tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert "Dockerfile" in names and "requirements.txt" in names
    assert not [n for n in names if n.endswith(".py") or "test" in n or "reference" in n or ".npz" in n]


class _FakeContainer:
    def __init__(self, status: int, output: bytes) -> None:
        self.id, self.name, self.status_code, self.output = "c1", "gpu-check", status, output
        self.removed = False

    def start(self):
        pass

    def wait(self, timeout=None):  # noqa: ANN001
        return {"StatusCode": self.status_code}

    def logs(self, **kw):  # noqa: ANN003
        return self.output

    def remove(self, force=False):  # noqa: ANN001
        self.removed = True


class _FakeContainers:
    def __init__(self, result) -> None:  # noqa: ANN001
        self.result, self.created = result, []

    def create(self, image, command, **kw):  # noqa: ANN001, ANN003
        if isinstance(self.result, Exception):
            raise self.result
        self.created.append(kw)
        return self.result


def _gpu_backend(result) -> tuple[DockerBackend, _FakeContainers]:  # noqa: ANN001
    b = backend("all")
    b.client = type("Client", (), {})()
    b.client.containers = _FakeContainers(result)
    return b, b.client.containers


def test_gpu_check_runs_nvidia_smi_in_a_container_with_the_request():
    ok = _FakeContainer(0, b"GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-6324bbff)\n")
    b, containers = _gpu_backend(ok)
    b.check_gpus()
    (kw,) = containers.created
    assert kw["device_requests"][0]["Count"] == -1 and kw["network_mode"] == "none"
    assert ok.removed


def test_gpu_check_failures_are_one_clear_line():
    import docker

    from grader.sandbox import SandboxError

    b, _ = _gpu_backend(docker.errors.APIError(
        "500", explanation='could not select device driver "" with capabilities: [[gpu]]'))
    with pytest.raises(SandboxError, match=r"--gpus all: Docker could not give the sandbox a GPU.*NVIDIA Container"):
        b.check_gpus()
    blind = _FakeContainer(9, b"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver")
    b, _ = _gpu_backend(blind)
    with pytest.raises(SandboxError, match=r"nvidia-smi inside the sandbox sees no GPU \(exit 9: NVIDIA-SMI has failed"):
        b.check_gpus()
    assert blind.removed
