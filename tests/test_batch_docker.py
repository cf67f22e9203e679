"""`grade batch --sandbox docker -j 2`: warm judges with one checked Docker backend each, their
prestarted containers, the same scores as the process sandbox, and no container left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docker_env import client, docker_ready, skip_module_without_docker  # noqa: F401  (autouse fixture)

skip_module_without_docker()
pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def test_docker_batch_grades_and_cleans_up(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.ipynb").write_bytes((ROOT / "assignments" / "backprop" / "solution.ipynb").read_bytes())
    (subs / "bob.ipynb").write_bytes((ROOT / "assignments" / "backprop" / "starter.ipynb").read_bytes())
    (subs / "cy.ipynb").write_text("[]")
    started = time.time()
    r = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(subs), "--assignment", "backprop",
                        "--sandbox", "docker", "-j", "2", "--db", f"sqlite:///{tmp_path / 'gb.db'}", "--json"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert (summary["graded"], summary["invalid"], summary["error"]) == (2, 1, 0), summary
    e = subprocess.run([sys.executable, "-m", "grader.cli", "export", "backprop", "--db",
                        f"sqlite:///{tmp_path / 'gb.db'}"], capture_output=True, text=True)
    rows = {s["student"]: s for s in json.loads(e.stdout)["students"]}
    assert rows["ann"]["score"] == 45 and rows["bob"]["score"] == 0
    result = json.loads((tmp_path / "subs-batch" / "ann" / "result.json").read_text())
    assert result["sandbox"].startswith("docker")
    host = socket.gethostname()
    left = []  # containers of this run's judge processes (all gone now) that are still there
    for c in client().containers.list(all=True, filters={"label": ["dlgrade=1"]}):
        judge = c.labels.get("dlgrade.judge", "")
        pid = judge.rpartition(":")[2]
        created = c.attrs.get("Created", "")
        if judge.startswith(f"{host}:") and pid.isdigit() and not Path(f"/proc/{pid}").exists() \
                and created >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)):
            left.append(c.name)
    assert left == [], left
