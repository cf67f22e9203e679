"""Attacks on the judge, under the Docker sandbox: the same outcomes as tests/test_judge_budgets.py.

The channel to a container is a unix socket accepted by the judge, not a socketpair, so crash
attribution (ECONNRESET, echoed sequence numbers) and the byte budgets are checked again here.
Needs dockerd and the image; skips otherwise, fails with REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import pytest
from docker_env import docker_ready, skip_module_without_docker  # noqa: F401  (docker_ready: autouse)
from judge_attacks import forge_cell, forge_ok_cell

from grader.course.assignment import Limits
from grader.judge.remote import Submission, WorkerLost
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import WorkerSpec, get_backend

pytestmark = pytest.mark.docker
skip_module_without_docker()


def _session(sources: list[str], **limits) -> WorkerSession:
    base = dict(cell_seconds=20, notebook_seconds=60, call_seconds=10, max_restarts=2)
    return WorkerSession(get_backend("docker"), WorkerSpec(limits=Limits(**{**base, **limits})),
                         [Cell(i, s) for i, s in enumerate(sources)])


@pytest.mark.parametrize("then", ["time.sleep(0.5)\nimport os\nos._exit(1)", "time.sleep(0.5)"])
def test_a_forged_ok_then_crash_blames_the_cell_that_was_running(then):
    session = _session(["a = 1", forge_ok_cell(then), "b = 2"])
    try:
        runs = session.run_notebook()
        assert [r.status for r in runs] == ["ok", "crashed", "ok"], [(r.status, r.message) for r in runs]
        sub = Submission(session)
        assert (sub.a, sub.b) == (1, 2)
    finally:
        session.close()


def test_a_malformed_reply_and_the_byte_budget_under_docker():
    session = _session([forge_cell(b'{"n": ' + b"9" * 5000 + b"}", then="time.sleep(1)"),
                        "import numpy as np\ndef big():\n    return np.zeros(2**26)\n"], received_mb=64)
    try:
        runs = session.run_notebook()
        assert runs[0].status == "crashed" and "malformed reply" in runs[0].message
        session.start_tests()
        with pytest.raises(WorkerLost, match="limits.received_mb"):
            Submission(session).big()  # 512 MiB announced: refused before a byte of it is read
    finally:
        session.close()
