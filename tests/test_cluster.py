"""grade batch --cluster: a real Dask scheduler and `dask worker` processes on 127.0.0.1.

Nothing is mocked: the scheduler and workers are separate processes started from this venv,
each worker grades with the process sandbox on this machine, and the driver writes the
gradebook. The class is small (10 submissions) so that each batch takes seconds.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from batch_class import SOLUTION, SOLUTION_PATH, Student, _nb_bytes, small_class, write_folder
from cli_run import grade
from dask_env import start_cluster
from notebook_variants import write_variant
from test_backprop_variants import BUGS

ROOT = Path(__file__).resolve().parents[1]
LIMITS = ("--limit", "cell_seconds=20", "--limit", "call_seconds=20", "--limit", "notebook_seconds=120")

pytestmark = pytest.mark.slow


def _class(work: Path) -> list[Student]:
    students = small_class(4)
    (work / "variants").mkdir(parents=True, exist_ok=True)
    for k, case in enumerate(BUGS[:3]):
        data = write_variant(SOLUTION_PATH, case, work / "variants").read_bytes()
        students.append(Student(f"bug{k}", "bug", case.id, data, "bug", case=case))
    loop = copy.deepcopy(SOLUTION)
    loop["cells"].insert(2, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                             "source": "while True:\n    pass"})
    students.append(Student("loop", "hostile", "infinite_loop", _nb_bytes(loop), "full"))
    students.append(Student("junk", "malformed", "not_json", b"not a notebook", "invalid"))
    students.append(Student("pyfile", "malformed", "python", b"print(1)\n", "invalid", ext=".py"))
    return students


def _batch(folder: Path, work: Path, name: str, *extra: str, env: dict[str, str] | None = None
           ) -> tuple[subprocess.CompletedProcess, str]:
    db = f"sqlite:///{work / (name + '.db')}"
    r = grade("batch", str(folder), "--assignment", "backprop", "--db", db, "--out", str(work / f"{name}-out"),
              "--json", *LIMITS, *extra, cwd=work, env=env, timeout=600)
    return r, db


def _export(db: str, work: Path) -> dict[str, dict]:
    r = grade("export", "backprop", "--format", "json", "--db", db, cwd=work, timeout=600)
    assert r.returncode == 0, r.stderr
    return {s["student"]: s for s in json.loads(r.stdout)["students"]}


def _scores(export: dict[str, dict]) -> dict[str, tuple]:
    return {k: (v["status"], v["score"], tuple(sorted(v["tests"].items()))) for k, v in export.items()}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("cluster")
    students = _class(work)
    folder = write_folder(work / "class", students)
    r, db = _batch(folder, work, "local", "-j", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    return work, folder, students, _scores(_export(db, work))


@pytest.fixture(scope="module")
def dask_cluster():  # noqa: ANN201
    cluster = start_cluster({"gpuworker": ("--resources", "GPU=1"), "cpuworker": ()})
    yield cluster
    cluster.close()


def test_scheduler_gives_the_local_pools_scores(klass, dask_cluster):
    work, folder, students, local = klass
    r, db = _batch(folder, work, "tcp", "--cluster", dask_cluster.address)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["graded"] + summary["invalid"] == len(students)
    assert _scores(_export(db, work)) == local
    # a rerun through the cluster grades nothing
    r, _ = _batch(folder, work, "tcp", "--cluster", dask_cluster.address)
    assert r.returncode == 0 and json.loads(r.stdout)["graded"] == 0


def test_local_cluster_gives_the_same_scores(klass):
    work, folder, students, local = klass
    r, db = _batch(folder, work, "localcluster", "--cluster", "local:2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _scores(_export(db, work)) == local


def test_a_worker_killed_mid_batch_loses_nothing(klass, dask_cluster, tmp_path):
    """SIGKILL of one `dask worker` (nanny and worker) while it grades: the rest goes to the other."""
    work, folder, students, local = klass
    spare = start_cluster({"w1": (), "w2": ()})
    try:
        killer = threading.Timer(6.0, spare.stop, args=("w1", signal.SIGKILL))
        killer.start()
        try:
            r, db = _batch(folder, work, "killed", "--cluster", spare.address)
        finally:
            killer.cancel()
        assert r.returncode == 0, r.stderr[-3000:]
        assert "w1" not in spare.procs, "the worker was not killed during the batch"
        export = _export(db, work)
        assert _scores(export) == local
        assert sorted(export) == sorted(local), "every submission exactly once"
    finally:
        spare.close()


def test_a_submission_that_kills_two_workers_is_an_error(klass, tmp_path):
    """Each time a worker grades `slow`, the test kills that worker's process: the nanny restarts it,
    Dask retries the task once, and the second death ends it as a grader error."""
    from distributed import Client

    work, folder, students, local = klass
    slow = copy.deepcopy(SOLUTION)
    slow["cells"].insert(2, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                             "source": "import time\ntime.sleep(15)"})
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "slow.ipynb").write_bytes(_nb_bytes(slow))
    (cls / "fine.ipynb").write_bytes(SOLUTION_PATH.read_bytes())
    spare = start_cluster({"k1": (), "k2": ()})
    kills: list[str] = []

    def hunt() -> None:
        with Client(spare.address, timeout=30) as c:
            deadline = time.monotonic() + 240
            while len(kills) < 2 and time.monotonic() < deadline:
                pids = c.run(os.getpid)
                for address, keys in c.processing().items():
                    if any("-slow-" in str(k) for k in keys) and address not in kills:
                        time.sleep(1.0)
                        os.kill(pids[address], signal.SIGKILL)
                        kills.append(address)
                        break
                time.sleep(0.2)

    try:
        hunter = threading.Thread(target=hunt, daemon=True)
        hunter.start()
        r, db = _batch(cls, tmp_path, "twice", "--cluster", spare.address)
        hunter.join(30)
        assert r.returncode == 0, r.stderr[-3000:]
        assert len(kills) == 2, kills
        export = _export(db, tmp_path)
        assert sorted(export) == ["fine", "slow"]
        assert export["slow"]["status"] == "error" and export["slow"]["score"] == 0
        assert export["fine"]["status"] == "graded" and export["fine"]["score"] == 45
        from grader.gradebook.api import Gradebook

        gb = Gradebook.open(db)
        try:
            reason = next(row.reason for row in gb.students("backprop") if row.student == "slow")
        finally:
            gb.dispose()
        assert "crashed its grader twice" in reason
    finally:
        spare.close()


def _other_course(tmp_path: Path) -> dict[str, str]:
    import shutil

    course = tmp_path / "course"
    for part in ("assignments", "reference", "templates"):
        shutil.copytree(ROOT / part, course / part)
    (course / "reference" / "backprop.py").write_text((ROOT / "reference" / "backprop.py").read_text() + "\n# edited\n")
    return {"DLGRADE_COURSE": str(course)}


def _other_version(tmp_path: Path) -> dict[str, str]:
    """A copy of the grader package that says it is another version, first on the worker's path."""
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "grader", pkg / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    version = pkg / "grader" / "version.py"
    version.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "0.0.0+other"', version.read_text()))
    return {"PYTHONPATH": str(pkg), "DLGRADE_COURSE": str(ROOT)}


@pytest.mark.parametrize("make_env, word", [(_other_course, "course"), (_other_version, "0.0.0+other")])
def test_a_worker_with_another_course_or_version_is_refused(klass, tmp_path, make_env, word):
    work, folder, students, local = klass
    spare = start_cluster({"odd": ()}, worker_env={"odd": make_env(tmp_path)})
    try:
        started = time.monotonic()
        r, _ = _batch(folder, work, "refused", "--cluster", spare.address)
        assert r.returncode == 2, (r.stdout, r.stderr)
        line = r.stderr.strip()
        assert line.startswith("error:") and len(line.splitlines()) == 1
        assert "worker odd" in line and word in line
        assert time.monotonic() - started < 120
    finally:
        spare.close()


def test_gpu_tasks_run_only_on_the_gpu_worker(dask_cluster, tmp_path):
    """A copy of the course where backprop has gpu = "optional": with --gpus, its tasks ask for the
    GPU resource and only `gpuworker` (GPU=1) takes them; without a GPU there it runs on its CPU."""
    import shutil

    from distributed import Client

    course = tmp_path / "course"
    for part in ("assignments", "reference", "templates"):
        shutil.copytree(ROOT / part, course / part)
    toml = course / "assignments" / "backprop" / "assignment.toml"
    text = toml.read_text()
    text = text.replace('gpu = "none"', 'gpu = "optional"') if 'gpu = "none"' in text else \
        text.replace("[limits]", 'gpu = "optional"\n\n[limits]', 1)
    toml.write_text(text)
    cls = tmp_path / "class"
    write_folder(cls, small_class(4))
    gpu_cluster = start_cluster({"gpu1": ("--resources", "GPU=1"), "cpu1": ()},
                                env={"DLGRADE_COURSE": str(course)})
    try:
        with Client(gpu_cluster.address, timeout=30) as c:
            c.get_task_stream()  # the scheduler records the task stream from now on
        started = time.time()
        r, db = _batch(cls, tmp_path, "gpu", "--cluster", gpu_cluster.address, "--gpus", "all",
                       env={"DLGRADE_COURSE": str(course)})
        assert r.returncode == 0, r.stderr[-3000:]
        with Client(gpu_cluster.address, timeout=30) as c:
            names = {a: w["name"] for a, w in c.scheduler_info(n_workers=-1)["workers"].items()}
            stream = [t for t in c.get_task_stream(start=started) if str(t["key"]).startswith("dlgrade-")]
        assert len(stream) == 4
        assert {names.get(t["worker"], t["worker"]) for t in stream} == {"gpu1"}
        export = _export(db, tmp_path)
        assert all(v["status"] == "graded" for v in export.values())
    finally:
        gpu_cluster.close()


def test_gpu_assignment_without_a_gpu_worker_fails_fast(tmp_path):
    import shutil

    course = tmp_path / "course"
    for part in ("assignments", "reference", "templates"):
        shutil.copytree(ROOT / part, course / part)
    toml = course / "assignments" / "backprop" / "assignment.toml"
    text = toml.read_text()
    toml.write_text(text.replace('gpu = "none"', 'gpu = "required"') if 'gpu = "none"' in text else
                    text.replace("[limits]", 'gpu = "required"\n\n[limits]', 1))
    cls = tmp_path / "class"
    write_folder(cls, small_class(2))
    env = {"DLGRADE_COURSE": str(course)}
    cpu_only = start_cluster({"cpu1": ()}, env=env)
    try:
        started = time.monotonic()
        r, _ = _batch(cls, tmp_path, "nogpu", "--cluster", cpu_only.address, "--gpus", "all", env=env)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.startswith("error:") and "GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert time.monotonic() - started < 120
    finally:
        cpu_only.close()


def test_bad_cluster_specs_are_one_line(tmp_path):
    write_folder(tmp_path / "class", small_class(1))
    for spec in ("locl", "tcp://nohost", "scheduler-file:/nonexistent.json", "local:zero"):
        r, _ = _batch(tmp_path / "class", tmp_path, "bad", "--cluster", spec)
        assert r.returncode == 2, (spec, r.stderr)
        assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # Slurm's logs go under --out; an #SBATCH line cannot carry a space, so it is refused before any job
    r, _ = _batch(tmp_path / "class", tmp_path, "with space", "--cluster", "slurm")
    assert r.returncode == 2 and "Slurm log folder" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    config = tmp_path / "cluster.toml"
    config.write_text('[cluster.slurm]\nlog_directory = "/tmp/a#b"\n')
    r, _ = _batch(tmp_path / "class", tmp_path, "cfg", "--cluster", "slurm", "--cluster-config", str(config))
    assert r.returncode == 2 and "log_directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
