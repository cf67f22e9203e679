"""`grade assign`: the starter notebook made from the solution notebook (grader/authoring/assign.py)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from grader.authoring.assign import AssignError, MarkerError, assign, dumps, strip_solutions, write_notebook
from grader.cli import main

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent for p in (REPO / "assignments").glob("*/solution.ipynb"))


def notebook(*cells, assignment: str | None = "demo") -> dict:
    nb = new_notebook(cells=list(cells))
    if assignment:
        nb.metadata["dlgrade"] = {"assignment": assignment}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return json.loads(json.dumps(nb))  # a plain dict, as read from a file


def code_sources(nb: dict) -> list[str]:
    return [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]


# --------------------------------------------------------------------------- the rules


def test_block_becomes_stub_at_the_markers_indentation() -> None:
    src = (
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    y = 1\n"
        "    # BEGIN SOLUTION\n"
        "    y = x * 2\n"
        "    if y:\n"
        "        y += 1\n"
        "    # END SOLUTION\n"
        "    return y\n"
    )
    assert strip_solutions(src) == (
        "def f(x):\n"
        "    \"\"\"Doc.\"\"\"\n"
        "    y = 1\n"
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError\n"
        "    return y\n"
    )


def test_nested_indentation_and_several_blocks() -> None:
    src = (
        "class Net:\n"
        "    def step(self):\n"
        "        # BEGIN SOLUTION\n"
        "        self.w -= 1\n"
        "        # END SOLUTION\n"
        "        return self\n"
        "# BEGIN SOLUTION\n"
        "net = Net()\n"
        "# END SOLUTION\n"
        "\tdone = True\n"
    )
    assert strip_solutions(src) == (
        "class Net:\n"
        "    def step(self):\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError\n"
        "        return self\n"
        "# YOUR CODE HERE\n"
        "raise NotImplementedError\n"
        "\tdone = True\n"
    )


def test_markers_with_trailing_spaces_and_tab_indentation() -> None:
    src = "if True:\n\t# BEGIN SOLUTION  \n\tx = 1\n\t# END SOLUTION\t\n"
    assert strip_solutions(src) == "if True:\n\t# YOUR CODE HERE\n\traise NotImplementedError\n"


def test_one_line_rule() -> None:
    src = (
        "ANSWER_A = 0.25 ** 10  # SOLUTION\n"
        "ANSWER_B = \"b\"#SOLUTION\n"
        "    inner = [1, 2]  # SOLUTION\n"
        "KEEP = 3  # not a solution\n"
    )
    assert strip_solutions(src) == (
        "ANSWER_A = None  # YOUR CODE HERE\n"
        "ANSWER_B = None  # YOUR CODE HERE\n"
        "    inner = None  # YOUR CODE HERE\n"
        "KEEP = 3  # not a solution\n"
    )


def test_code_without_markers_is_unchanged() -> None:
    src = "import numpy as np\n\nx = np.zeros(3)  # provided\nprint('SOLUTION')"
    assert strip_solutions(src) == src


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\n# BEGIN SOLUTION\ny = 2\n", "line 2: # BEGIN SOLUTION has no # END SOLUTION"),
        ("x = 1\n# END SOLUTION\n", "line 2: # END SOLUTION without # BEGIN SOLUTION"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx\n# END SOLUTION\n# END SOLUTION", "line 2:"),
        ("# BEGIN SOLUTION (part a)\nx = 1\n# END SOLUTION\n", "line 1: malformed marker"),
        ("#BEGIN SOLUTION\nx = 1\n#END SOLUTION\n", "line 1: malformed marker"),
        ("def f():\n    self.x = 1  # SOLUTION\n", "line 2: '# SOLUTION' only works"),
        ("print(42)  # SOLUTION\n", "line 1: '# SOLUTION' only works"),
    ],
    ids=["begin-without-end", "end-without-begin", "nested", "begin-with-text", "no-space",
         "attribute-one-line", "call-one-line"],
)
def test_bad_markers_are_errors_naming_the_line(source: str, expected: str) -> None:
    with pytest.raises(MarkerError) as info:
        strip_solutions(source)
    assert expected in str(info.value)


def test_unbalanced_markers_name_the_cell() -> None:
    nb = notebook(new_markdown_cell("# Title"), new_code_cell("x = 1"),
                  new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 1\n"))
    with pytest.raises(MarkerError, match=r"^cell 2, line 2: # BEGIN SOLUTION has no # END SOLUTION"):
        assign(nb)


# --------------------------------------------------------------------------- the notebook


def solution_notebook() -> dict:
    code = new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\nf(1)",
                         execution_count=3,
                         outputs=[new_output("execute_result", {"text/plain": "1"}, execution_count=3),
                                  new_output("stream", name="stdout", text="hello\n")])
    return notebook(
        new_markdown_cell("# Title\n\n```python\n# BEGIN SOLUTION\nleft alone in markdown\n```"),
        new_code_cell("import numpy as np", execution_count=1),
        code,
        new_raw_cell("ANSWER = 1  # SOLUTION"),
        new_code_cell("ANSWER = 42  # SOLUTION", execution_count=4),
    )


def test_notebook_keeps_markdown_raw_and_provided_code() -> None:
    sol = solution_notebook()
    starter = assign(sol)
    assert [c["cell_type"] for c in starter["cells"]] == [c["cell_type"] for c in sol["cells"]]
    assert [c["id"] for c in starter["cells"]] == [c["id"] for c in sol["cells"]]
    assert starter["cells"][0]["source"] == sol["cells"][0]["source"]  # markdown: no rules
    assert starter["cells"][3]["source"] == "ANSWER = 1  # SOLUTION"  # raw: no rules
    assert code_sources(starter) == [
        "import numpy as np",
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\nf(1)",
        "ANSWER = None  # YOUR CODE HERE",
    ]


def test_outputs_and_execution_counts_are_cleared() -> None:
    starter = assign(solution_notebook())
    for cell in starter["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    nbformat.validate(nbformat.from_dict(starter))


def test_the_solution_is_not_modified() -> None:
    sol = solution_notebook()
    before = copy.deepcopy(sol)
    assign(sol)
    assert sol == before


def test_list_sources_are_read() -> None:
    nb = notebook(new_code_cell("x"))
    nb["cells"][0]["source"] = ["y = 1\n", "# BEGIN SOLUTION\n", "y = 2\n", "# END SOLUTION"]
    assert code_sources(assign(nb)) == ["y = 1\n# YOUR CODE HERE\nraise NotImplementedError"]


def test_assignment_id_from_metadata_or_option() -> None:
    sol = solution_notebook()
    sol["metadata"]["dlgrade"]["extra"] = "kept"
    assert assign(sol)["metadata"]["dlgrade"] == {"assignment": "demo", "extra": "kept"}
    assert assign(sol, "other")["metadata"]["dlgrade"] == {"assignment": "other", "extra": "kept"}
    bare = notebook(new_code_cell("x = 1"), assignment=None)
    assert assign(bare, "hw1")["metadata"]["dlgrade"] == {"assignment": "hw1"}
    with pytest.raises(AssignError, match="names no assignment"):
        assign(bare)
    with pytest.raises(AssignError, match="not a valid assignment id"):
        assign(bare, "../escape")


def test_idempotent() -> None:
    once = assign(solution_notebook())
    assert assign(once) == once
    assert dumps(assign(json.loads(dumps(once)))) == dumps(once)


def test_deterministic_bytes(tmp_path: Path) -> None:
    a = write_notebook(assign(solution_notebook()), tmp_path / "a.ipynb").read_bytes()
    b = write_notebook(assign(solution_notebook()), tmp_path / "b.ipynb").read_bytes()
    assert a == b and a.endswith(b"}\n")
    assert a.decode("utf-8") == nbformat.writes(nbformat.from_dict(assign(solution_notebook()))) + "\n"


def test_non_ascii_is_written_as_utf8(tmp_path: Path) -> None:
    nb = notebook(new_markdown_cell("x = ±1000, naïve"), new_code_cell("s = 'é'  # SOLUTION"))
    raw = write_notebook(assign(nb), tmp_path / "s.ipynb").read_bytes()
    assert "±1000, naïve".encode() in raw


# --------------------------------------------------------------------------- shipped notebooks


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_starter_is_assign_of_solution_byte_for_byte(folder: Path) -> None:
    """Every assignments/*/starter.ipynb is exactly `grade assign` of its solution.ipynb (bytes)."""
    solution = json.loads((folder / "solution.ipynb").read_text(encoding="utf-8"))
    expected = dumps(assign(solution, folder.name))
    assert (folder / "starter.ipynb").read_bytes() == expected.encode("utf-8"), (
        f"{folder.name}/starter.ipynb is stale: run grade assign {folder}/solution.ipynb"
    )


# --------------------------------------------------------------------------- CLI


def _write(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_cli_writes_the_starter(tmp_path: Path) -> None:
    sol = _write(tmp_path / "solution.ipynb", solution_notebook())
    result = CliRunner().invoke(main, ["assign", str(sol), "-o", str(tmp_path / "out.ipynb")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "out.ipynb")
    written = json.loads((tmp_path / "out.ipynb").read_text(encoding="utf-8"))
    assert json.loads(dumps(written)) == json.loads(dumps(assign(solution_notebook())))


def test_cli_default_output_and_assignment_option(tmp_path: Path) -> None:
    sol = _write(tmp_path / "solution.ipynb", notebook(new_code_cell("A = 1  # SOLUTION"), assignment=None))
    result = CliRunner().invoke(main, ["assign", str(sol), "--assignment", "hw2"])
    assert result.exit_code == 0, result.output
    starter = json.loads((tmp_path / "starter.ipynb").read_text(encoding="utf-8"))
    assert starter["metadata"]["dlgrade"] == {"assignment": "hw2"}
    assert "".join(starter["cells"][0]["source"]) == "A = None  # YOUR CODE HERE"


@pytest.mark.parametrize(
    ("nb", "message"),
    [
        (notebook(new_code_cell("x = 1"), new_code_cell("# END SOLUTION")),
         "cell 1, line 1: # END SOLUTION without # BEGIN SOLUTION"),
        (notebook(new_code_cell("x = 1"), assignment=None), "names no assignment"),
    ],
    ids=["unbalanced", "no-assignment"],
)
def test_cli_errors_exit_2_with_one_line(tmp_path: Path, nb: dict, message: str) -> None:
    sol = _write(tmp_path / "solution.ipynb", nb)
    result = CliRunner().invoke(main, ["assign", str(sol), "-o", str(tmp_path / "starter.ipynb")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert str(sol) in lines[0]
    assert not (tmp_path / "starter.ipynb").exists()


def test_cli_refuses_to_overwrite_the_solution(tmp_path: Path) -> None:
    sol = _write(tmp_path / "solution.ipynb", solution_notebook())
    before = sol.read_bytes()
    result = CliRunner().invoke(main, ["assign", str(sol), "-o", str(sol)])
    assert result.exit_code == 2 and "overwrite the solution" in result.stderr
    assert sol.read_bytes() == before


def test_cli_real_entry_point(tmp_path: Path) -> None:
    """`python -m grader.cli assign` in a fresh interpreter gives the shipped backprop starter."""
    out = tmp_path / "starter.ipynb"
    run = subprocess.run([sys.executable, "-m", "grader.cli", "assign",
                          str(REPO / "assignments" / "backprop" / "solution.ipynb"), "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == (REPO / "assignments" / "backprop" / "starter.ipynb").read_bytes()
