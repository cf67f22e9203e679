"""Hostile submissions against the Docker sandbox.

The same attacks as tests/test_hostile.py (shared pieces in tests/hostile_cases.py) and a few
that only make sense with containers. For each: a result comes back, the host and the other
submissions are unaffected, no point is forged, and no container is left (`docker ps -a` with
our label, checked after every test by the autouse fixture in docker_env.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from docker_env import (  # noqa: F401  (docker_ready: an autouse fixture)
    docker_ps_a,
    docker_ready,
    require_docker,
    skip_module_without_docker,
)
from hostile_cases import (
    BACKPROP,
    BIG_ALLOC,
    DISK_FILL,
    FAST,
    FORK_BOMB,
    SOLUTION,
    STARTER,
    assert_forged_nothing,
    assert_survives,
    with_cell,
    write_notebook,
)

from grader.course.assignment import Limits
from grader.course.notebook import code_cells
from grader.judge.pipeline import grade, worker_spec
from grader.judge.remote import Submission
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import WorkerSpec, get_backend
from grader.sandbox.docker import LABEL

pytestmark = pytest.mark.docker
skip_module_without_docker()
DOCKER = "docker"


@pytest.fixture(scope="module")
def full_marks() -> float:
    require_docker()  # module-scoped: runs before the autouse check
    result = grade(SOLUTION, FAST, sandbox=DOCKER)
    assert result.score == result.max_score > 0, [t for t in result.tests if t.status != "passed"]
    return result.max_score


def host_is_healthy() -> None:
    """The host still forks, and the Docker daemon still answers."""
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                          timeout=30).returncode == 0


def probe_session(source: str, slot: int = 0, seconds: float = 60) -> WorkerSession:
    limits = dataclasses.replace(FAST.limits, cell_seconds=seconds, call_seconds=10)
    return WorkerSession(get_backend(DOCKER), dataclasses.replace(worker_spec(FAST, None, slot), limits=limits),
                         code_cells({"cells": [{"cell_type": "code", "source": source}]}))


def test_fork_bomb(full_marks):
    assert_forged_nothing(with_cell(STARTER, FORK_BOMB), sandbox=DOCKER)
    assert_survives(with_cell(SOLUTION, FORK_BOMB), full_marks, "timeout", sandbox=DOCKER)
    host_is_healthy()


def test_50_gb_allocation(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, BIG_ALLOC), full_marks, "error", sandbox=DOCKER)
    assert "MemoryError" in cell.message
    assert_forged_nothing(with_cell(STARTER, BIG_ALLOC), "error", sandbox=DOCKER)


def test_while_true(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, "while True:\n    pass"), full_marks, "timeout", sandbox=DOCKER)
    assert "KeyboardInterrupt" in cell.message
    stubborn = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    _, cell = assert_survives(with_cell(SOLUTION, stubborn), full_marks, "timeout", sandbox=DOCKER)
    assert "ignored the interrupt" in cell.message
    assert_forged_nothing(with_cell(STARTER, stubborn), "timeout", sandbox=DOCKER)


def test_printing_1_gb(full_marks):
    roomy = dataclasses.replace(FAST, limits=dataclasses.replace(FAST.limits, cell_seconds=60, notebook_seconds=120))
    flood = "s = 'x' * (1 << 20)\nfor _ in range(1024):\n    print(s)"
    result, _ = assert_survives(with_cell(SOLUTION, flood), full_marks, "ok", sandbox=DOCKER, assignment=roomy)
    assert len(json.dumps(result.to_json())) < 1_000_000
    kept = [o["text"] for c in result.cells for o in c.outputs if "bytes of output not kept" in o.get("text", "")]
    assert kept and len(kept[0]) < 100_000
    skipped = int(kept[0].split("... [")[1].split(" bytes")[0])
    assert skipped > 1_000_000_000  # all of it went through, and was dropped


def test_filling_the_disk(full_marks):
    _, cell = assert_survives(with_cell(SOLUTION, DISK_FILL), full_marks, "error", sandbox=DOCKER)
    assert "No space left" in cell.message or "File too large" in cell.message
    everywhere = (
        "import os\nRESULTS = {}\n"
        "for d in ['/tmp', os.path.expanduser('~'), '/dev/shm', '/', '/opt/dlgrade', '/var/tmp', 'data']:\n"
        "    try:\n"
        "        with open(os.path.join(d, 'fill'), 'wb') as f:\n"
        "            while True:\n"
        "                f.write(b'0' * 2**20)\n"
        "    except OSError as e:\n"
        "        RESULTS[d] = e.strerror\n"
        "    try:\n        os.remove(os.path.join(d, 'fill'))\n"
        "    except OSError:\n        pass\n"
    )
    free_before = os.statvfs("/").f_bavail
    s = probe_session(everywhere)
    try:
        assert s.run_notebook()[0].status == "ok"
        results = Submission(s).RESULTS
    finally:
        s.close()
    assert set(results) == {"/tmp", "/home/student", "/dev/shm", "/", "/opt/dlgrade", "/var/tmp", "data"}
    assert all(r in ("No space left on device", "File too large", "Read-only file system", "Permission denied",
                     "No such file or directory") for r in results.values()), results
    assert results["/"] == "Read-only file system"
    # the host disk did not fill (the container's writable places are size-limited tmpfs)
    assert abs(os.statvfs("/").f_bavail - free_before) * os.statvfs("/").f_frsize < 200 * 2**20
    host_is_healthy()


def test_tcp_to_localhost_public_addresses_and_the_docker_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    accepted = []
    done = threading.Event()

    def watch():
        end = time.monotonic() + 60
        while time.monotonic() < end and not accepted and not done.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    probe = (
        "import socket\nNET = {}\n"
        # 192.0.2.1 is TEST-NET-1 (documentation only): with no network nothing leaves the container
        f"for host, port in [('127.0.0.1', {port}), ('localhost', {port}), ('192.0.2.1', 80), ('8.8.8.8', 53)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close(); NET[host] = 'connected'\n"
        "    except OSError as e:\n"
        "        NET[host] = type(e).__name__ + ': ' + str(e.strerror)\n"
        "for path in ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock']:\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(path); NET[path] = 'connected'\n"
        "    except OSError as e:\n"
        "        NET[path] = type(e).__name__\n"
        "IFACES = sorted(__import__('os').listdir('/sys/class/net'))\n"
    )
    s = probe_session(probe)
    try:
        assert s.run_notebook()[0].status == "ok"
        net, ifaces = Submission(s).NET, Submission(s).IFACES
    finally:
        s.close()
        done.set()
        watcher.join()
        server.close()
    assert accepted == []
    assert "connected" not in net.values(), net
    assert "Network is unreachable" in net["192.0.2.1"] and "Network is unreachable" in net["8.8.8.8"]
    assert ifaces == ["lo"]
    assert net["/var/run/docker.sock"] == "FileNotFoundError"


def test_listing_the_filesystem_finds_nothing_judge_only(monkeypatch, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-course-key")
    monkeypatch.setenv("GRADER_SECRET_FILE", str(secret))
    monkeypatch.setenv("GRADER_SECRET", "s3cret-course-key")
    hidden_names = sorted(p.name for p in BACKPROP.hidden_tests.glob("test_*.py"))
    targets = [str(p) for p in (BACKPROP.hidden_tests, BACKPROP.reference_path, BACKPROP.course / "assignments",
                                BACKPROP.course / "reference", BACKPROP.root, secret, BACKPROP.course)]
    probe = (
        "import os\n"
        f"HIDDEN = {hidden_names!r}\nTARGETS = {targets!r}\n"
        "FOUND, TOP = [], sorted(os.listdir('/'))\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    if root in ('/proc', '/sys', '/dev'):\n"
        "        dirs[:] = []\n"
        "        continue\n"
        "    FOUND += [os.path.join(root, f) for f in files if f in HIDDEN or f == 'backprop.py'\n"
        "              or f == 'digits.csv.gz' or f.startswith('digits-') or f == 'secret.txt'\n"
        "              or f in ('judge.py', 'pytest_plugin.py', 'assignment.toml')]\n"
        "READABLE = []\n"
        "for t in TARGETS:\n"
        "    try:\n"
        "        READABLE.append((t, os.listdir(t) if os.path.isdir(t) else open(t).read()[:20]))\n"
        "    except OSError:\n"
        "        pass\n"
        "ENV = {k: v for k, v in os.environ.items() if 'SECRET' in k}\n"
        "WORKER = sorted(os.listdir('/opt/dlgrade'))\n"
    )
    s = probe_session(probe, seconds=120)
    try:
        runs = s.run_notebook()
        assert runs[0].status == "ok", runs[0].message
        sub = Submission(s)
        assert sub.FOUND == []
        assert sub.READABLE == []
        assert sub.ENV == {}
        assert sub.WORKER == ["dlgrade_training.py", "untrusted_model_ops.py", "untrusted_worker.py", "wire.py",
                              "worker.sock"]
        assert "home" in sub.TOP and "opt" in sub.TOP
    finally:
        s.close()


def test_writing_result_json_everywhere_forges_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    forged = json.dumps({"score": 999, "max_score": 1, "tests": []})
    cell = ("import os\nWROTE = []\n"
            "for root, dirs, files in os.walk('/'):\n"
            "    if root.startswith(('/proc', '/sys')):\n"
            "        dirs[:] = []\n"
            "        continue\n"
            "    try:\n"
            f"        open(os.path.join(root, 'result.json'), 'w').write({forged!r}); WROTE.append(root)\n"
            "    except OSError:\n"
            "        pass\n"
            f"for d in [{str(out)!r}, {str(tmp_path)!r}, '/work', '/root']:\n"
            "    try:\n"
            f"        os.makedirs(d, exist_ok=True); open(os.path.join(d, 'result.json'), 'w').write({forged!r})\n"
            "    except OSError:\n        pass\n")
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", "submit", "--sandbox", DOCKER, "--out", str(out),
         str(write_notebook(tmp_path / "nb.ipynb", with_cell(STARTER, cell)))],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "result.json").read_text())["score"] == 0
    # nothing the container wrote reached the host
    for top in (tmp_path, Path("/tmp")):  # other processes come and go in /tmp: walk leniently
        for root, _, files in os.walk(top, onerror=lambda e: None):
            if "result.json" not in files:
                continue
            found = Path(root) / "result.json"
            try:
                forged_here = found.stat().st_mtime >= started and '"score": 999' in found.read_text()
            except OSError:
                continue
            assert not forged_here, found


def test_a_background_process_does_not_outlive_the_notebook(full_marks):
    marker = "dlgrade_docker_bg_31337"
    cell = ("import subprocess\n"
            f"subprocess.Popen(['sh', '-c', 'exec -a {marker} sleep 300'], start_new_session=True)\n"
            "import os\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execvp('sh', ['sh', '-c', 'exec -a {marker}_2 sleep 300'])\n"
            "    os._exit(0)\n")
    assert_survives(with_cell(SOLUTION, cell), full_marks, "ok", sandbox=DOCKER)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps


def test_setuid_0_is_refused(full_marks):
    escalate = "import os\nos.setuid(0)"
    _, cell = assert_survives(with_cell(SOLUTION, escalate), full_marks, "error", sandbox=DOCKER)
    assert "PermissionError" in cell.message
    assert_forged_nothing(with_cell(STARTER, escalate), "error", sandbox=DOCKER)
    probe = ("import os, subprocess\nTRIES = {}\n"
             "for name, call in [('setuid', lambda: os.setuid(0)), ('setgid', lambda: os.setgid(0)),\n"
             "                   ('seteuid', lambda: os.seteuid(0)), ('chroot', lambda: os.chroot('/'))]:\n"
             "    try:\n"
             "        call(); TRIES[name] = 'ok'\n"
             "    except OSError as e:\n"
             "        TRIES[name] = type(e).__name__\n"
             "SU = subprocess.run(['sh', '-c', 'su -c id root </dev/null 2>&1; id -u'], capture_output=True,\n"
             "                    text=True).stdout\n"
             "UID = os.getuid(), os.geteuid()\n")
    s = probe_session(probe)
    try:
        assert s.run_notebook()[0].status == "ok"
        sub = Submission(s)
        assert set(sub.TRIES.values()) == {"PermissionError"}, sub.TRIES
        assert sub.UID[0] != 0 and sub.UID[1] != 0
        assert sub.SU.strip().splitlines()[-1] != "0"
    finally:
        s.close()


def test_another_submission_in_the_batch_is_out_of_reach():
    """Two workers at once in different slots: B looks for A's files and processes and finds none."""
    secret = "answer-of-student-A-7f3e"
    writer = ("import os, subprocess\n"
              "for d in ['/tmp', os.path.expanduser('~'), '/dev/shm']:\n"
              f"    open(os.path.join(d, 'answers_A.txt'), 'w').write({secret!r})\n"
              f"KEEP = subprocess.Popen(['sh', '-c', 'exec -a holder_{secret} sleep 60'])\n"
              "UID = os.getuid()\n"
              "def read_back():\n    return open('/tmp/answers_A.txt').read()\n"
              "def holder_alive():\n    return KEEP.poll() is None\n")
    reader = ("import os\nFOUND = []\n"
              "for root, dirs, files in os.walk('/'):\n"
              "    if root in ('/proc', '/sys', '/dev/pts'):\n"
              "        dirs[:] = []\n"
              "        continue\n"
              "    FOUND += [os.path.join(root, f) for f in files if 'answers_A' in f]\n"
              "PROCS = []\n"
              "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
              "    try:\n"
              "        PROCS.append(open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace'))\n"
              "    except OSError:\n"
              "        pass\n"
              f"SEEN = [p for p in PROCS if {secret!r} in p]\n"
              "UID = os.getuid()\n")
    a = WorkerSession(get_backend(DOCKER), WorkerSpec(limits=Limits(cell_seconds=30), slot=0), [Cell(0, writer)])
    b = WorkerSession(get_backend(DOCKER), WorkerSpec(limits=Limits(cell_seconds=120), slot=1), [Cell(0, reader)])
    try:
        run_a = a.run_notebook()[0]
        assert run_a.status == "ok", run_a.message
        assert b.run_notebook()[0].status == "ok"  # A's container is still running meanwhile
        got = Submission(b)
        assert got.FOUND == [] and got.SEEN == []
        assert got.UID != Submission(a).UID
        # A is untouched: its files are still there, its process still runs
        assert Submission(a).read_back() == secret
        assert len(docker_ps_a(f"{LABEL}=1")) >= 2
    finally:
        a.close()
        b.close()
