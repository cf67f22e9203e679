"""The Docker sandbox against a real engine: same results as the process sandbox, limits, clear
per-submission messages (OOM, daemon errors, stale image), cleanup on every way out.

Needs dockerd and the image (`grade sandbox build`); skips otherwise, fails with REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from docker_env import (  # noqa: F401  (docker_ready: an autouse fixture)
    client,
    docker_ps_a,
    docker_ready,
    our_containers,
    skip_module_without_docker,
)
from hostile_cases import SOLUTION, write_notebook

from grader.course.assignment import Limits, load_assignment
from grader.course.notebook import read_notebook, strip_ipython
from grader.judge.pipeline import BadInput, grade, grade_notebook
from grader.judge.remote import Submission
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import SandboxError, WorkerSpec, get_backend
from grader.sandbox.docker import JUDGE_LABEL, LABEL, DockerBackend, judge_id

pytestmark = pytest.mark.docker
skip_module_without_docker()

BACKPROP = load_assignment("backprop")
REPO = Path(__file__).resolve().parent.parent
GRADE = [sys.executable, "-m", "grader.cli"]


def session(sources: list[str], limits: Limits = Limits(cell_seconds=20, call_seconds=10, max_restarts=1),
            slot: int = 0, backend=None) -> WorkerSession:  # noqa: ANN001
    s = WorkerSession(backend or get_backend("docker"), WorkerSpec(limits=limits, slot=slot),
                      [Cell(i, src) for i, src in enumerate(sources)])
    return s


def outcome(result) -> dict:  # noqa: ANN001
    return {"score": result.score, "max_score": result.max_score,
            "tests": {t.name: (t.status, t.score, t.max_score) for t in result.tests},
            "cells": [(c.index, c.status) for c in result.cells]}


@pytest.mark.parametrize("notebook", [BACKPROP.solution, BACKPROP.root / "examples" / "submission.ipynb"],
                         ids=["solution", "example-submission"])
def test_same_results_as_the_process_sandbox(notebook, tmp_path):
    results = {}
    for sandbox in ("process", "docker"):
        out = tmp_path / sandbox
        proc = subprocess.run([*GRADE, "submit", str(notebook), "--sandbox", sandbox, "--out", str(out)],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[sandbox] = json.loads((out / "result.json").read_text())
    p, d = results["process"], results["docker"]
    assert d["sandbox"].startswith("docker: docker container")
    assert (d["score"], d["max_score"]) == (p["score"], p["max_score"])
    assert {t["name"]: (t["status"], t["score"]) for t in d["tests"]} == {
        t["name"]: (t["status"], t["score"]) for t in p["tests"]}
    assert [c["status"] for c in d["cells"]] == [c["status"] for c in p["cells"]]
    if notebook == BACKPROP.solution:
        assert d["score"] == d["max_score"] > 0


def test_worker_runs_locked_down():
    probe = (
        "import os, resource\n"
        "uid = os.getuid()\n"
        "nets = sorted(os.listdir('/sys/class/net'))\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
        "nnp = [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0]\n"
        "core = resource.getrlimit(resource.RLIMIT_CORE)\n"
        "try:\n    open('/etc/evil', 'w'); rootfs = 'writable'\n"
        "except OSError as e:\n    rootfs = type(e).__name__\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "data = sorted(os.listdir('data')) if os.path.isdir('data') else []\n"
        "for d in ('.', os.path.expanduser('~'), '/tmp'):\n"
        "    open(os.path.join(d, 'scratch.txt'), 'w').write('ok')\n"  # writable, as under bwrap
        "home = os.getcwd()\n"
    )
    s = session([probe, strip_ipython("from grader import check\ncheck()\n%load_ext grader\n%check relu")])
    try:
        runs = s.run_notebook()
        assert runs[0].status == "ok", runs[0].message
        # the image has no grader package: the worker's stand-in makes the in-notebook check a no-op
        assert runs[1].status == "ok", runs[1].message
        assert "nothing checked" in runs[1].outputs[0]["text"]
        sub = Submission(s)
        assert sub.uid >= 1000
        assert sub.home == "/home/student"
        assert sub.nets == ["lo"]
        assert int(sub.caps, 16) == 0 and sub.nnp == "1"
        assert sub.core == (0, 0)
        assert sub.rootfs in ("OSError", "PermissionError")  # EROFS or EACCES, never written
        assert len(sub.pids) <= 3  # its own PID namespace: docker-init, the worker, this probe's nothing
        assert "docker container" in s.description
    finally:
        s.close()


def test_public_data_is_mounted_read_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "digits_train.npz").write_bytes(b"public")
    spec = WorkerSpec(limits=Limits(cell_seconds=20), data_dir=data)
    s = WorkerSession(get_backend("docker"), spec, [Cell(0, (
        "import os\nfiles = sorted(os.listdir('data'))\ncontent = open('data/digits_train.npz').read()\n"
        "try:\n    open('data/x', 'w'); wrote = True\nexcept OSError:\n    wrote = False\n"))])
    try:
        assert s.run_notebook()[0].status == "ok"
        sub = Submission(s)
        assert sub.files == ["digits_train.npz"] and sub.content == "public" and sub.wrote is False
    finally:
        s.close()
    assert sorted(p.name for p in data.iterdir()) == ["digits_train.npz"]


def test_out_of_memory_is_reported_as_such():
    hog = ("import os, time\n"
           "for _ in range(3):\n"
           "    if os.fork() == 0:\n"
           "        data = b'x' * (300 * 2**20)\n"
           "        time.sleep(120)\n"
           "        os._exit(0)\n"
           "with open('/proc/self/oom_score_adj', 'w') as f:\n"  # make the worker the OOM killer's pick
           "    f.write('1000')\n"
           "time.sleep(30)\n")
    s = session([hog, "after = 1"], limits=Limits(memory_mb=512, cell_seconds=40, max_restarts=1))
    try:
        runs = s.run_notebook()
        assert runs[0].status == "crashed"
        assert "out of memory (the sandbox's 512 MB memory limit)" in runs[0].message
        assert runs[1].status == "ok" and Submission(s).after == 1
    finally:
        s.close()


def test_container_log_is_capped():
    flood = ("import os\n"
             "fd = os.open('/proc/1/fd/1', os.O_WRONLY)\n"  # docker-init's stdout: the container log
             "for _ in range(40):\n"
             "    os.write(fd, b'y' * 2**20)\n")
    s = session([flood])
    try:
        runs = s.run_notebook()
        container = s.worker.container
        container.reload()
        log_path = Path(container.attrs["LogPath"])
        size = log_path.stat().st_size if log_path.exists() else 0
        assert runs[0].status in ("ok", "error"), runs[0].message
        assert size < 3 * 2**20, f"container log is {size} bytes"
    finally:
        s.close()


def test_a_container_removed_from_outside_is_a_clear_per_submission_message():
    s = session(["import time\ntime.sleep(15)", "b = 2"])

    def remove_it():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if s.worker is not None and getattr(s.worker, "container", None) is not None:
                time.sleep(1.5)
                client().containers.get(s.worker.container.id).remove(force=True)
                return
            time.sleep(0.1)

    t = threading.Thread(target=remove_it)
    t.start()
    try:
        runs = s.run_notebook()
        t.join()
        assert runs[0].status == "crashed"
        assert "container disappeared" in runs[0].message or "SIGKILL" in runs[0].message, runs[0].message
        assert runs[1].status == "ok"
    finally:
        s.close()


def test_daemon_errors_at_start_become_messages_in_the_result():
    backend = get_backend("docker")
    backend.image_name = "dlgrade-no-such-image:never"  # the daemon refuses every start
    s = session(["a = 1"], backend=backend)
    try:
        runs = s.run_notebook()
    finally:
        s.close()
    assert runs[0].status == "skipped"
    assert any("the Docker daemon could not start the sandbox" in e and "dlgrade-no-such-image" in e
               for e in s.events), s.events


def test_missing_or_stale_image_is_refused_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("DLGRADE_DOCKER_IMAGE", "dlgrade-no-such-image:never")
    with pytest.raises(BadInput, match=r"no sandbox image 'dlgrade-no-such-image:never'.*grade sandbox build"):
        grade(SOLUTION, BACKPROP, sandbox="docker")
    # an image from an older grader: same content, other labels
    docker = client()
    stale = "dlgrade-sandbox:stale-test"
    (tmp_path / "Dockerfile").write_text("FROM dlgrade-sandbox:cpu\nLABEL dlgrade.version=0.0.1\n")
    docker.images.build(path=str(tmp_path), tag=stale, rm=True)
    try:
        monkeypatch.setenv("DLGRADE_DOCKER_IMAGE", stale)
        with pytest.raises(SandboxError, match=r"stale: it was built for dlgrade 0\.0\.1"):
            DockerBackend()
        nb = write_notebook(tmp_path / "nb.ipynb", SOLUTION)
        proc = subprocess.run([*GRADE, "submit", str(nb), "--sandbox", "docker"], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "DLGRADE_DOCKER_IMAGE": stale})
        assert proc.returncode == 2
        assert "is stale" in proc.stderr and "grade sandbox build" in proc.stderr
    finally:
        docker.images.remove(stale, force=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_the_grader_removes_its_containers(sig, tmp_path):
    nb = read_notebook(BACKPROP.solution)
    nb["cells"].insert(1, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": "import time\ntime.sleep(60)"})
    path = write_notebook(tmp_path / "slow.ipynb", nb)
    proc = subprocess.Popen([*GRADE, "submit", str(path), "--sandbox", "docker", "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    label = f"{JUDGE_LABEL}={judge_id().rpartition(':')[0]}:{proc.pid}"
    try:
        deadline = time.monotonic() + 60
        while not docker_ps_a(label) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert docker_ps_a(label), "the grader never started a container"
        time.sleep(1.0)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert docker_ps_a(label) == [], proc.stderr.read()[-2000:]


def test_prune_removes_leftovers_of_dead_judges_only():
    docker = client()
    dead = docker.containers.create("dlgrade-sandbox:cpu", ["true"],
                                    labels={LABEL: "1", JUDGE_LABEL: f"{judge_id().rpartition(':')[0]}:999999"})
    alive = docker.containers.create("dlgrade-sandbox:cpu", ["true"], labels={LABEL: "1", JUDGE_LABEL: judge_id()})
    try:
        out = subprocess.run([*GRADE, "sandbox", "prune"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert dead.name in out.stdout and alive.name not in out.stdout
        names = {c.name for c in our_containers(all_judges=True)}
        assert dead.name not in names and alive.name in names
    finally:
        for c in (dead, alive):
            try:
                c.remove(force=True)
            except Exception:
                pass


def test_concurrent_workers_use_distinct_uids_and_containers():
    a, b = session(["import os\nuid = os.getuid()"], slot=0), session(["import os\nuid = os.getuid()"], slot=1)
    try:
        a.run_notebook()
        b.run_notebook()
        assert Submission(a).uid != Submission(b).uid
        assert a.worker.container.id != b.worker.container.id
    finally:
        a.close()
        b.close()


def test_grade_notebook_under_docker_with_limit_overrides(tmp_path):
    nb = write_notebook(tmp_path / "sol.ipynb", SOLUTION)
    tight = dataclasses.replace(BACKPROP, limits=dataclasses.replace(BACKPROP.limits, memory_mb=1024))
    result = grade(read_notebook(nb), tight, sandbox="docker")
    assert result.score == result.max_score
    out = subprocess.run([*GRADE, "check", str(nb), "--sandbox", "docker", "--limit", "memory_mb=1024",
                          "--limit", "cpus=1", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["sandbox"].startswith("docker")
    bad = subprocess.run([*GRADE, "check", str(nb), "--limit", "memory_mb=lots"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--limit" in bad.stderr
    assert grade_notebook  # imported for the public API check
