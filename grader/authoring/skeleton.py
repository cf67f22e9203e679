"""`grade new-course DIR`: a new course folder that `grade validate` passes as it is.

It lays out what grader.course.assignment.course_root expects, with one small assignment
(`hello`: two NumPy functions) to copy from:

    DIR/assignments/hello/assignment.toml
    DIR/assignments/hello/solution.ipynb     the source; `grade assign` makes the starter
    DIR/assignments/hello/starter.ipynb
    DIR/assignments/hello/tests/public/test_public.py   literals: runs from the kit
    DIR/assignments/hello/tests/hidden/test_hidden.py   random inputs, numpy as the oracle
    DIR/reference/                            judge-side reference modules (none needed here)
    DIR/templates/                            the grader's page templates, to edit

Calls grader.authoring.assign, grader.course.assignment, grader.outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT_ID = "hello"

ASSIGNMENT_TOML = '''id = "hello"
title = "Hello, dlgrade: two NumPy functions"
gpu = "none"
forbidden_imports = ["torch", "tensorflow", "jax"]

[limits]
cell_seconds = 30
call_seconds = 10
memory_mb = 1024
'''

PUBLIC_TEST = '''"""Public tests for `hello`: fixed inputs and literal answers, so they run from the kit."""

import numpy as np
import pytest

from grader.course.testing import assert_close


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_square_small(submission):
    """square(x) is x * x, elementwise."""
    out = submission.square(np.array([-2.0, 0.0, 3.0]))
    assert_close(out, np.array([4.0, 0.0, 9.0]), rtol=0, atol=0, name="square")


@pytest.mark.points(1)
@pytest.mark.visibility("visible")
def test_relu_small(submission):
    """relu(x) keeps the positive entries and zeroes the others."""
    out = submission.relu(np.array([[-1.0, 2.0], [0.5, -0.0]]))
    assert_close(out, np.array([[0.0, 2.0], [0.5, 0.0]]), rtol=0, atol=0, name="relu")
'''

HIDDEN_TEST = '''"""Hidden tests for `hello`: fresh random inputs (seeded per course by the `rng` fixture)."""

import numpy as np
import pytest

from grader.course.testing import assert_close


@pytest.mark.points(2)
@pytest.mark.visibility("after_due_date")
def test_square_random(submission, rng):
    """square on a random (5, 7) array."""
    x = rng.standard_normal((5, 7))
    assert_close(submission.square(x.copy()), x * x, rtol=1e-12, atol=0, name="square")


@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_relu_random(submission, rng):
    """relu on a random (4, 6) array, with exact zeros."""
    x = rng.standard_normal((4, 6))
    x[0, :3] = 0.0
    assert_close(submission.relu(x.copy()), np.maximum(x, 0.0), rtol=0, atol=0, name="relu")
'''

SOLUTION_CELLS = [
    ("markdown", "# Hello, dlgrade\n\nWrite the two functions below where it says `# YOUR CODE HERE`.\n"
                 "`from grader import check; check()` runs the public tests in this notebook; "
                 "`grade check hello.ipynb` in a terminal."),
    ("code", "import numpy as np"),
    ("code", "def square(x):\n    \"\"\"x * x, elementwise.\"\"\"\n    # BEGIN SOLUTION\n"
             "    return x * x\n    # END SOLUTION"),
    ("code", "def relu(x):\n    \"\"\"max(x, 0), elementwise.\"\"\"\n    # BEGIN SOLUTION\n"
             "    return np.maximum(x, 0.0)\n    # END SOLUTION"),
]


class SkeletonError(Exception):
    """The course folder cannot be made; one line for people."""


def solution_notebook() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(src) if kind == "markdown" else new_code_cell(src) for kind, src in SOLUTION_CELLS]
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{ASSIGNMENT_ID}-{i:02d}"
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["dlgrade"] = {"assignment": ASSIGNMENT_ID}
    return nb


def new_course(folder: Path) -> list[Path]:
    """Write the skeleton into `folder` (missing or empty); returns the files written."""
    from grader.authoring.assign import assign, dumps
    from grader.course.assignment import grader_templates
    from grader.outputs import ensure_dir, write_text

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SkeletonError(f"{folder} exists and is not an empty folder; choose a new one")
    root = ensure_dir(folder)
    hello = ensure_dir(root / "assignments" / ASSIGNMENT_ID)
    written = [write_text(hello, "assignment.toml", ASSIGNMENT_TOML)]
    solution = solution_notebook()
    written.append(write_text(hello, "solution.ipynb", dumps(solution)))
    written.append(write_text(hello, "starter.ipynb", dumps(assign(solution, ASSIGNMENT_ID))))
    written.append(write_text(ensure_dir(hello / "tests" / "public"), "test_public.py", PUBLIC_TEST))
    written.append(write_text(ensure_dir(hello / "tests" / "hidden"), "test_hidden.py", HIDDEN_TEST))
    ensure_dir(root / "reference")
    templates = ensure_dir(root / "templates")
    for src in sorted(grader_templates().glob("*.j2")):
        shutil.copyfile(src, templates / src.name)
        written.append(templates / src.name)
    return written
