"""Shared pieces of the hostile-submission suites (tests/test_hostile.py, tests/test_docker_hostile.py).

Each case adds cells to the starter (which earns nothing, so any point would be forged) or to
the solution (which must keep its full marks: the attack must not cost later cells or tests).
The helpers grade under the sandbox they are given, so every backend faces the same attacks.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from grader.course.assignment import load_assignment
from grader.course.notebook import read_notebook
from grader.judge.pipeline import grade

BACKPROP = load_assignment("backprop")
FAST = dataclasses.replace(BACKPROP, limits=dataclasses.replace(
    BACKPROP.limits, cell_seconds=4, notebook_seconds=60, call_seconds=5, max_restarts=3))
STARTER = read_notebook(BACKPROP.starter)
SOLUTION = read_notebook(BACKPROP.solution)

FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
DISK_FILL = "with open('/tmp/fill', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)"
BIG_ALLOC = "x = bytearray(50 * 1024**3)"


def with_cell(nb: dict, source: str, before_training: bool = True) -> dict:
    """A copy of `nb` with a code cell holding `source`, placed before the training cell."""
    nb = copy.deepcopy(nb)
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    at = next((i for i, c in enumerate(nb["cells"]) if "best_net" in "".join(c["source"])
               and c["cell_type"] == "code"), len(nb["cells"])) if before_training else len(nb["cells"])
    nb["cells"].insert(at, cell)
    return nb


def assert_forged_nothing(nb: dict, expect_cell_status: str | None = None, sandbox: str = "process",
                          assignment=FAST):  # noqa: ANN001
    result = grade(nb, assignment, sandbox=sandbox)
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]
    assert result.max_score > 0 and result.tests
    if expect_cell_status:
        assert expect_cell_status in {c.status for c in result.cells}, [
            (c.index, c.status, c.message) for c in result.cells]
    return result


def assert_survives(nb: dict, full_marks: float, status: str, sandbox: str = "process",
                    assignment=FAST):  # noqa: ANN001
    result = grade(nb, assignment, sandbox=sandbox)
    assert result.score == full_marks, [(t.name, t.message) for t in result.tests if t.status != "passed"]
    hostile = [c for c in result.cells if c.status == status]
    assert hostile, [(c.index, c.status, c.message) for c in result.cells]
    return result, hostile[0]


def write_notebook(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb))
    return path
