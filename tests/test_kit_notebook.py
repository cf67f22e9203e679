"""`from grader import check` through a real Jupyter kernel (nbclient runs the notebooks).

backprop's kit is built once; two notebooks run in it, each in its own ipykernel:
- the solution, then `check()`, `check("relu")` and `%check affine`: everything passes;
- a variant of the variant suite (relu_backward passes the gradient at x == 0), then `check()`:
  test_relu_small fails with the judge's own status, points and message (the judge grades the
  same notebook with `grade check` on the full course); the notebook then redefines `check`
  to claim full marks: it prints its claim, and the judge's score is unchanged.
Not a mock anywhere: nbclient, ipykernel and the judge's process sandbox are real.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import nbformat
import pytest

from grader.course.assignment import load_assignment
from grader.judge.pipeline import grade_notebook
from grader.kit.build import write_kit

nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra")
pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from notebook_variants import write_variant  # noqa: E402
from test_backprop_variants import BUGS  # noqa: E402

VARIANT = next(c for c in BUGS if c.id == "relu_backward_passes_gradient_at_zero")
FAKE = 'def check(*args, **kwargs):\n    print("FAKE: 5 / 5 points, everything passes")\ncheck()\n'


def _run(nb: nbformat.NotebookNode, kit: Path) -> nbformat.NotebookNode:
    """Execute `nb` in a fresh kernel whose working folder is the kit (as when it is opened there)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DLGRADE_KIT", None)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(kit)}})
    client.execute(env=env)  # passed on to the kernel manager's start_kernel
    return nb


def _with_cells(path: Path, *sources: str) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(nb)
    for src in sources:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    return nb


def _shown(cell: nbformat.NotebookNode) -> tuple[str, str]:
    """(text/plain, text/html) of what the cell displayed; stream text is added to the plain part."""
    plain, rich = [], []
    for out in cell.get("outputs", []):
        if out.output_type in ("display_data", "execute_result"):
            plain.append(out.data.get("text/plain", ""))
            rich.append(out.data.get("text/html", ""))
        elif out.output_type == "stream":
            plain.append(out.text)
        elif out.output_type == "error":
            raise AssertionError(f"the cell raised {out.ename}: {out.evalue}")
    return "\n".join(plain), "\n".join(rich)


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    return write_kit(load_assignment("backprop", REPO), tmp_path_factory.mktemp("nbkit") / "backprop")


@pytest.fixture(scope="module")
def variant(kit: Path, tmp_path_factory) -> tuple[Path, nbformat.NotebookNode]:
    spec = load_assignment("backprop", REPO)
    path = write_variant(spec.solution, VARIANT, tmp_path_factory.mktemp("variant"))
    nb = _with_cells(path, "from grader import check\ncheck()", FAKE)
    nbformat.write(nb, path)  # what the student hands in: with its check cells
    return path, _run(nb, kit)


def test_solution_passes_every_check(kit):
    spec = load_assignment("backprop", REPO)
    nb = _run(_with_cells(spec.solution, "from grader import check\ncheck()", 'check("relu")',
                          "%load_ext grader", "%check affine", 'check(kit="no-such-kit")', 'check("nope")'),
              kit)
    every, relu, _, affine, nokit, nothing = (_shown(c) for c in nb.cells[-6:])
    assert nokit[0].strip() == "check: no kit.json in no-such-kit", nokit
    assert nothing[0].strip() == "check: no public test's name holds 'nope'; check() runs them all", nothing
    plain, rich = every
    assert plain.startswith("backprop: 5 / 5 points on 5 public tests"), plain
    assert plain.count("  PASS ") == 5 and "FAIL" not in plain
    assert "<table>" in rich and rich.count("&#10004; pass") == 5
    assert relu[0].startswith("backprop: 1 / 1 points on 1 public test matching 'relu'"), relu[0]
    assert "test_relu_small" in relu[0]
    assert affine[0].startswith("backprop: 2 / 2 points on 2 public tests matching 'affine'"), affine[0]


def test_variant_fails_the_right_test_with_the_judges_message(variant):
    path, nb = variant
    plain, rich = _shown(nb.cells[-2])
    judge = grade_notebook(path, mode="check", course=REPO)
    mine = {line.split()[1]: line for line in plain.splitlines()[1:]}
    assert set(mine) == {t.name for t in judge.tests}
    for t in judge.tests:
        if t.status == "passed":
            assert mine[t.name].startswith(f"  PASS {t.name} ("), mine[t.name]
        else:
            from grader.feedback.lines import failure_line

            assert mine[t.name] == failure_line(t, t.message), (mine[t.name], t.message)
    failing = [t.name for t in judge.tests if t.status != "passed"]
    assert failing == ["test_relu_small"]
    assert "relu dx" in mine["test_relu_small"]
    assert "FAIL" in plain and "test_relu_small" in rich and "relu dx" in rich


def test_a_notebook_that_redefines_check_only_fools_itself(variant):
    path, nb = variant
    plain, _ = _shown(nb.cells[-1])
    assert plain.strip() == "FAKE: 5 / 5 points, everything passes"
    judge = grade_notebook(path, mode="check", course=REPO)
    assert judge.score == 4 and judge.max_score == 5
    assert [t.name for t in judge.tests if t.status != "passed"] == ["test_relu_small"]
