"""GPUs without GPUs: parsing --gpus, Docker device requests, per-job scheduling, and the
assignment's gpu = none | optional | required, all checked on a CPU-only machine."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from grader.course.assignment import load_assignment
from grader.judge.pipeline import BadInput, gpu_plan
from grader.sandbox.gpu import (
    ALL,
    GpuError,
    GpuRequest,
    GpuScheduler,
    cuda_visible_devices,
    device_requests,
    gpu_for_slot,
    parse_gpus,
)


@pytest.mark.parametrize("text, expected", [
    (None, None), ("", None), ("none", None),
    ("all", GpuRequest(count=ALL)), ('"all"', GpuRequest(count=ALL)),
    ("2", GpuRequest(count=2)), ("1", GpuRequest(count=1)),
    ("0,1", GpuRequest(device_ids=("0", "1"))), ("1, 3", GpuRequest(device_ids=("1", "3"))),
    ("device=0", GpuRequest(device_ids=("0",))), ("device=0,2", GpuRequest(device_ids=("0", "2"))),
    ("GPU-3a1b2c,GPU-77", GpuRequest(device_ids=("GPU-3a1b2c", "GPU-77"))),
    ("1,1,2", GpuRequest(device_ids=("1", "2"))),
])
def test_parse_gpus(text, expected):
    assert parse_gpus(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1,,2", "gpu 0", "a;b", "device="])
def test_parse_gpus_refuses(text):
    with pytest.raises(GpuError):
        parse_gpus(text)


def test_a_request_is_count_or_ids_never_both():
    with pytest.raises(GpuError):
        GpuRequest(count=2, device_ids=("0",))
    with pytest.raises(GpuError):
        GpuRequest()


def test_device_requests_for_docker():
    pytest.importorskip("docker")
    assert device_requests(None) == []
    (everything,) = device_requests(parse_gpus("all"))
    assert everything["Count"] == -1 and everything["Capabilities"] == [["gpu"]]
    assert not everything.get("DeviceIDs")
    (two,) = device_requests(parse_gpus("2"))
    assert two["Count"] == 2 and not two.get("DeviceIDs")
    (ids,) = device_requests(parse_gpus("0,1"))
    assert ids["DeviceIDs"] == ["0", "1"] and not ids.get("Count")


def test_one_job_gets_the_whole_request():
    for text in ("all", "2", "0,1"):
        assert gpu_for_slot(parse_gpus(text), slot=0, jobs=1) == parse_gpus(text)
    assert gpu_for_slot(None, slot=3, jobs=4) is None


def test_concurrent_jobs_get_distinct_gpus_round_robin():
    ids = parse_gpus("0,1,2")
    got = [gpu_for_slot(ids, slot, jobs=3).device_ids for slot in range(3)]
    assert got == [("0",), ("1",), ("2",)]
    # more jobs than devices: round-robin, each device shared as evenly as possible
    got = [gpu_for_slot(ids, slot, jobs=5).device_ids[0] for slot in range(5)]
    assert got == ["0", "1", "2", "0", "1"]
    assert [gpu_for_slot(parse_gpus("2"), s, jobs=2).device_ids for s in range(2)] == [("0",), ("1",)]
    assert [gpu_for_slot(parse_gpus("all"), s, jobs=2, available=4).device_ids for s in range(2)] == [
        ("0",), ("1",)]
    # all, with no known device count: nothing to split, every job gets all
    assert gpu_for_slot(parse_gpus("all"), 1, jobs=2) == parse_gpus("all")


def test_scheduler_hands_out_the_least_busy_device():
    sched = GpuScheduler(parse_gpus("0,1"))
    a, b, c = sched.acquire(), sched.acquire(), sched.acquire()
    assert [a.device_ids, b.device_ids, c.device_ids] == [("0",), ("1",), ("0",)]
    sched.release(b)
    assert sched.acquire().device_ids == ("1",)  # the free one, not the next in turn
    sched.release(a)
    sched.release(c)
    with sched.job() as gpu:
        assert gpu.device_ids == ("0",)
        assert sched.busy == {"0": 1, "1": 1}
    assert sched.busy == {"0": 0, "1": 1}


def test_scheduler_is_thread_safe_and_balanced():
    sched = GpuScheduler(parse_gpus("4"))
    got: list[str] = []
    lock = threading.Lock()

    def take():
        g = sched.acquire()
        with lock:
            got.append(g.device_ids[0])

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ["0", "0", "1", "1", "2", "2", "3", "3"]


def test_scheduler_without_devices_to_split():
    assert GpuScheduler(None).acquire() is None
    everything = GpuScheduler(parse_gpus("all"))  # unknown count
    assert everything.acquire() == parse_gpus("all")


def test_cuda_visible_devices_outside_docker():
    assert cuda_visible_devices(None) == ""
    assert cuda_visible_devices(parse_gpus("all")) is None
    assert cuda_visible_devices(parse_gpus("2")) == "0,1"
    assert cuda_visible_devices(parse_gpus("3,1")) == "3,1"


BACKPROP = load_assignment("backprop")


def test_gpu_none_ignores_gpus():
    assert gpu_plan(BACKPROP, "all", "docker") == (None, [])
    assert gpu_plan(BACKPROP, None, "process") == (None, [])


def test_gpu_required_without_a_gpu_fails_clearly():
    needs = dataclasses.replace(BACKPROP, gpu="required")
    with pytest.raises(BadInput, match=r"needs a GPU \(gpu = \"required\"\).*--gpus all"):
        gpu_plan(needs, None, "docker")
    with pytest.raises(BadInput, match="--gpus"):
        gpu_plan(needs, "0", "docker")  # ambiguous: refused, not silently no GPU


def test_gpu_required_with_gpus_under_docker():
    needs = dataclasses.replace(BACKPROP, gpu="required")
    assert gpu_plan(needs, "all", "docker") == (parse_gpus("all"), [])
    assert gpu_plan(needs, "0,1", "docker", slot=1, jobs=2) == (GpuRequest(device_ids=("1",)), [])


def test_gpu_optional_runs_on_the_cpu_and_says_so():
    may = dataclasses.replace(BACKPROP, gpu="optional")
    job, notes = gpu_plan(may, None, "docker")
    assert job is None
    assert notes and "ran on the CPU" in notes[0] and "optional" in notes[0]
    assert gpu_plan(may, "2", "docker") == (parse_gpus("2"), [])


def test_process_backend_checks_the_host_for_gpus(monkeypatch):
    import grader.judge.pipeline as judge

    needs = dataclasses.replace(BACKPROP, gpu="required")
    monkeypatch.setattr(judge, "host_gpu_count", lambda: None)
    with pytest.raises(BadInput, match="lists no GPU"):
        gpu_plan(needs, "all", "process")
    monkeypatch.setattr(judge, "host_gpu_count", lambda: 2)
    assert gpu_plan(needs, "all", "process", slot=1, jobs=2) == (GpuRequest(device_ids=("1",)), [])


@pytest.mark.parametrize("aid", ["finetune", "attention"])
def test_the_fine_tuning_assignments_use_a_gpu_when_given(aid):
    """gpu = "optional" (their model part, docs/models.md): the GPUs given, else the CPU with a note."""
    a = load_assignment(aid)
    assert a.gpu == "optional" and a.model is not None
    assert gpu_plan(a, "1", "docker") == (parse_gpus("1"), [])
    assert gpu_plan(a, "0,1", "docker", slot=1, jobs=2) == (GpuRequest(device_ids=("1",)), [])
    job, notes = gpu_plan(a, None, "process")
    assert job is None and "ran on the CPU" in notes[0]
