"""Every shipped assignment's solution gets full marks under the Docker sandbox too.

The torch assignments (cnn, regularization, finetune, attention) exercise what the backprop checks do not:
torch inside the image, public data files such as the finetune checkpoint, and handles to
nn.Modules across the container boundary.
"""

from __future__ import annotations

import pytest
from docker_env import docker_ready, skip_module_without_docker  # noqa: F401  (autouse fixture)

from grader.course.assignment import list_assignments
from grader.course.notebook import read_notebook
from grader.judge.pipeline import grade

pytestmark = [pytest.mark.docker, pytest.mark.slow]
skip_module_without_docker()


@pytest.mark.parametrize("assignment", list_assignments(), ids=lambda a: a.id)
def test_solution_gets_full_marks_under_docker(assignment):
    # [model] assignments: the model part scores the files the solution saved, as grade validate does
    result = grade(read_notebook(assignment.solution), assignment, sandbox="docker", files_from_notebook=True)
    graded = [t for t in result.tests if t.status != "skipped"]
    assert graded and result.score == result.max_score, [
        (t.name, t.status, t.message) for t in result.tests if t.status not in ("passed", "skipped")]
    assert all(c.status == "ok" for c in result.cells), [
        (c.index, c.status, c.message) for c in result.cells if c.status != "ok"]
