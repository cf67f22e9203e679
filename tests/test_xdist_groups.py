"""tests/conftest.py under real pytest-xdist workers: `make test`'s grouping really happens.

A small suite in a temporary folder, with a copy of tests/conftest.py, runs as `make test` runs
ours (-n 2 --dist loadgroup --no-loadscope-reorder). Each test writes down its worker. A module
stays on one worker (its module fixtures are built once), modules that name the same group share
a worker (one Slurm per machine), and a `slow` module is started first on its worker. Without the
node-id repair in the conftest (pytest 9.2 with xdist 3.8) every test is scheduled alone and
the first two checks fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xdist", reason="pytest-xdist is in the dev extra")

HERE = Path(__file__).resolve().parent

RECORD = """\
import os
from pathlib import Path

import pytest


def record(request):
    with open(Path(__file__).parent / "log.txt", "a") as f:
        f.write(f"{os.environ['PYTEST_XDIST_WORKER']} {request.node.nodeid.split('@')[0]}\\n")
"""

MODULE = """\
import pytest
from record import record
{header}

@pytest.mark.parametrize("i", range(4))
def test_each(request, i):
    record(request)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, list[tuple[str, str]]]:
    """worker -> [(module, test), ...] in the order it ran them."""
    root = tmp_path_factory.mktemp("xdist-suite")
    shutil.copy(HERE / "conftest.py", root / "conftest.py")
    (root / "record.py").write_text(RECORD)
    headers = {
        "test_a": "",
        "test_b": "",
        "test_c": "",
        "test_shared_1": 'pytestmark = pytest.mark.xdist_group("machine")',
        "test_shared_2": 'pytestmark = pytest.mark.xdist_group("machine")',
        "test_z_slow": "pytestmark = pytest.mark.slow",
    }
    for name, header in headers.items():
        (root / f"{name}.py").write_text(MODULE.format(header=header))
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # xdist alone: the other plugins only cost start-up time
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-p", "no:cacheprovider", "-n", "2",
                           "--dist", "loadgroup", "--no-loadscope-reorder"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out: dict[str, list[tuple[str, str]]] = {}
    for line in (root / "log.txt").read_text().splitlines():
        worker, nodeid = line.split(" ", 1)
        out.setdefault(worker, []).append((nodeid.split("::")[0].removesuffix(".py"), nodeid))
    assert sum(map(len, out.values())) == 6 * 4
    return out


def _workers_of(runs: dict, module: str) -> set[str]:
    return {w for w, tests in runs.items() for m, _ in tests if m == module}


def test_each_module_runs_on_one_worker(runs):
    for module in ("test_a", "test_b", "test_c", "test_z_slow"):
        assert len(_workers_of(runs, module)) == 1, (module, runs)
    assert len(runs) == 2, "both workers had work"


def test_modules_naming_one_group_share_a_worker(runs):
    assert len(_workers_of(runs, "test_shared_1") | _workers_of(runs, "test_shared_2")) == 1, runs


def test_slow_modules_are_handed_out_first(runs):
    (worker,) = _workers_of(runs, "test_z_slow")
    assert [m for m, _ in runs[worker][:4]] == ["test_z_slow"] * 4, runs[worker]
