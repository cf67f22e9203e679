"""grade batch --cluster slurm: a real single-node Slurm (slurmctld, slurmd, munge) started here.

The workers are Slurm jobs that dask-jobqueue submits with sbatch; the test checks the class
gets the local pool's scores and that no job is left in squeue afterwards. Skips with the
reason when Slurm is not installed or we are not root, unless REQUIRE_SLURM=1 (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from batch_class import small_class, write_folder
from cli_run import grade
from test_cluster import LIMITS, _export, _scores

HERE = Path(__file__).resolve().parent
# One Slurm per machine (tests/services/slurm-up.sh): every test that starts it is in this xdist group.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_SLURM") == "1":
        pytest.fail(f"Slurm is required (REQUIRE_SLURM=1) but {reason}")
    pytest.skip(reason)


def _squeue() -> str:
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.fixture(scope="module")
def slurm():  # noqa: ANN201
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "munged") if not (
        shutil.which(b) or Path("/usr/sbin", b).exists())]
    if missing:
        _unavailable(f"Slurm is not installed ({', '.join(missing)} missing; apt-get install slurmctld slurmd "
                     "slurm-client munge)")
    if os.geteuid() != 0:
        _unavailable("the single-node Slurm of the tests is started as root")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        _unavailable("dask-jobqueue is not installed")
    up = subprocess.run(["bash", str(HERE / "services" / "slurm-up.sh")], capture_output=True, text=True,
                        timeout=120, env={**os.environ, "SLURM_CPUS": "4"})
    if up.returncode:
        _unavailable(f"Slurm did not start: {(up.stdout + up.stderr)[-800:]}")
    yield
    subprocess.run(["bash", str(HERE / "services" / "slurm-down.sh")], capture_output=True, timeout=120)


def test_slurm_jobs_grade_the_class_and_leave_nothing(slurm, tmp_path):
    students = small_class(4)
    folder = write_folder(tmp_path / "class", students)
    logs = tmp_path / "slurm-logs"
    config = tmp_path / "cluster.toml"
    config.write_text(f"""[cluster.slurm]
queue = "debug"
cores = 1
memory = "3GB"
walltime = "00:20:00"
jobs = 2
python = "{sys.executable}"
interface = "lo"
log_directory = "{logs}"
startup_seconds = 180
""")
    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    r = grade("batch", str(folder), "--assignment", "backprop", "--db", local_db, "--out", str(tmp_path / "lo"),
               "--json", "-j", "2", *LIMITS, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    db = f"sqlite:///{tmp_path / 'slurm.db'}"
    r = grade("batch", str(folder), "--assignment", "backprop", "--db", db, "--out", str(tmp_path / "sl"),
               "--json", "--cluster", "slurm", "--cluster-config", str(config), *LIMITS, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:] + " | " + " ".join(
        p.read_text(errors="replace")[-800:] for p in logs.glob("*.err"))
    assert json.loads(r.stdout)["graded"] == len(students)
    assert _scores(_export(db, tmp_path)) == _scores(_export(local_db, tmp_path))
    assert list(logs.glob("dask-worker-*.err")), "the workers ran as Slurm jobs"
    assert _squeue() == "", "no Slurm job is left behind"


def test_sigterm_cancels_the_jobs_and_keeps_finished_results(slurm, tmp_path):
    """SIGTERM (as Ctrl-C) mid-batch: exit 130, the Slurm jobs are gone, what finished is kept."""
    import signal
    import time

    students = small_class(6)
    folder = write_folder(tmp_path / "class", students)
    config = tmp_path / "cluster.toml"  # no log_directory: the job logs go to OUT/slurm-logs, not the cwd
    config.write_text(f'[cluster.slurm]\nqueue = "debug"\ncores = 1\nmemory = "3GB"\njobs = 1\n'
                      f'python = "{sys.executable}"\ninterface = "lo"\n')
    db = f"sqlite:///{tmp_path / 'slurm.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "batch", str(folder), "--assignment", "backprop",
                             "--db", db, "--out", str(tmp_path / "out"), "--json", "--cluster", "slurm",
                             "--cluster-config", str(config), *LIMITS], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not _recorded(tmp_path / "slurm.db"):  # a row, not only its files
        time.sleep(0.5)
    assert _recorded(tmp_path / "slurm.db"), "no result within 600 s"
    assert _squeue() != "", "the worker job runs while the batch does"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    graded = json.loads(out)["graded"]
    assert 1 <= graded < len(students), err[-2000:]
    for _ in range(60):
        if _squeue() == "":
            break
        time.sleep(0.5)
    assert _squeue() == "", "the Slurm jobs are cancelled"
    assert len(_export(db, tmp_path)) == graded
    assert list((tmp_path / "out" / "slurm-logs").glob("dask-worker-*")), "the job logs are under OUT"
    assert not list(tmp_path.glob("slurm-*.out")), "no slurm-N.out where the batch was started"


def _recorded(path: Path) -> int:
    """Gradings the batch has committed to its SQLite gradebook so far (0 before it exists)."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("select count(*) from gradings").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_bad_config_is_one_line(tmp_path):
    write_folder(tmp_path / "class", small_class(1))
    config = tmp_path / "cluster.toml"
    config.write_text("[cluster.slurm]\nqueue = 3\n")
    r = grade("batch", str(tmp_path / "class"), "--assignment", "backprop", "--db",
               f"sqlite:///{tmp_path / 'x.db'}", "--cluster", "slurm", "--cluster-config", str(config), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "queue" in r.stderr and len(r.stderr.strip().splitlines()) == 1
