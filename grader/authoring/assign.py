"""`grade assign`: make the starter notebook from the solution notebook.

The solution is the only notebook an author edits. `assign` derives the starter from it by two
line-based rules, applied to code cells only (markdown and raw cells are kept as they are):

1. A block from a line `<indent># BEGIN SOLUTION` to the next `<indent># END SOLUTION`
   (both lines included) becomes two lines at the BEGIN marker's indentation:
   `<indent># YOUR CODE HERE` and `<indent>raise NotImplementedError`.
2. A line `<indent>NAME = <expr>  # SOLUTION` becomes `<indent>NAME = None  # YOUR CODE HERE`
   (for short-answer globals).

A markdown cell declaring a written question (grader.manual.questions) keeps its prompt and
markers; its answer, between `<!-- BEGIN ANSWER -->` and `<!-- END ANSWER -->`, becomes
`_YOUR ANSWER HERE_`. Every question declaration is checked (QuestionError -> AssignError),
and the starter keeps only its id, kind, points and title: the rubric stays with the judge.

Every output and execution count is cleared, and `metadata.dlgrade.assignment` is set. A
marker that is unbalanced (BEGIN without END, END without BEGIN, nested BEGIN) or malformed
(a `# SOLUTION` comment the rules do not cover, which would leak the solution) raises
`MarkerError` naming the cell (its index in the notebook, markdown cells included, counting
from 0 as everywhere in the grader) and the line in the cell (counting from 1).

`assign` is a pure function and idempotent: `assign(assign(nb)) == assign(nb)`. The file
written by `write_notebook` is byte-for-byte deterministic: the JSON layout of
`nbformat.write` (sorted keys, indent 1, UTF-8, sources split into lines, final newline),
written here explicitly so that it does not depend on nbformat's defaults.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from grader.course.assignment import assignment_id_of

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
STUB = "# YOUR CODE HERE"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
_END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
_ONE_LINE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]*=(?!=).*#[ \t]*SOLUTION[ \t]*$")
#: Anything that looks like a marker; lines matching this but none of the rules above are errors.
_LOOSE_BLOCK = re.compile(r"#\s*(BEGIN|END)\s*SOLUTION")
_LOOSE_ONE_LINE = re.compile(r"#\s*SOLUTION\s*$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class AssignError(ValueError):
    """The solution cannot be turned into a starter; the message is one line for people."""


class MarkerError(AssignError):
    """Unbalanced or malformed solution markers."""


def strip_solutions(source: str) -> str:
    """Apply the two rules to one code cell's source. Raises MarkerError naming the line."""
    out: list[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        begin = _BEGIN.match(line)
        if begin:
            indent = begin.group("indent")
            j = i + 1
            while j < len(lines) and not _END.match(lines[j]):
                if _LOOSE_BLOCK.search(lines[j]):
                    raise MarkerError(f"line {j + 1}: {lines[j].strip()!r} inside the block opened "
                                      f"at line {i + 1}; blocks cannot nest, and a block ends at "
                                      f"'{END}' alone on its line")
                j += 1
            if j == len(lines):
                raise MarkerError(f"line {i + 1}: {BEGIN} has no {END}")
            out += [f"{indent}{STUB}", f"{indent}raise NotImplementedError"]
            i = j + 1
            continue
        if _END.match(line):
            raise MarkerError(f"line {i + 1}: {END} without {BEGIN}")
        one = _ONE_LINE.match(line)
        if one:
            out.append(f"{one.group('indent')}{one.group('name')} = None  {STUB}")
        elif _LOOSE_BLOCK.search(line):
            raise MarkerError(f"line {i + 1}: malformed marker {line.strip()!r}; write "
                              f"'{BEGIN}' or '{END}' alone on its line")
        elif _LOOSE_ONE_LINE.search(line):
            raise MarkerError(f"line {i + 1}: '# SOLUTION' only works on a line 'NAME = expr  "
                              f"# SOLUTION'; use a {BEGIN} ... {END} block for {line.strip()!r}")
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def assign(nb: dict[str, Any], assignment_id: str | None = None) -> dict[str, Any]:
    """The starter notebook for solution notebook `nb` (a new dict; `nb` is not changed).

    The assignment id is `assignment_id`, else the one in `nb`'s metadata; AssignError if
    neither names one. Sources come back as strings, whatever they were in `nb`.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise AssignError("not a notebook: no list of cells")
    chosen = assignment_id or assignment_id_of(nb)
    if not chosen:
        raise AssignError("the notebook names no assignment in metadata.dlgrade.assignment; "
                          "pass --assignment ID")
    if not _ID_RE.match(chosen):
        raise AssignError(f"{chosen!r} is not a valid assignment id (letters, digits, '-' and '_')")
    from grader.manual.questions import QuestionError, questions_of, starter_cell

    try:
        questions_of(nb)
    except QuestionError as e:
        raise AssignError(str(e)) from None
    out = copy.deepcopy(nb)
    for index, cell in enumerate(out["cells"]):
        try:
            starter_cell(cell)
        except QuestionError as e:
            raise AssignError(f"cell {index}: {e}") from None
        source = _source(cell)
        if cell.get("cell_type") == "code":
            try:
                source = strip_solutions(source)
            except MarkerError as e:
                raise MarkerError(f"cell {index}, {e}") from None
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["source"] = source
    metadata = out.setdefault("metadata", {})
    dlgrade = metadata.get("dlgrade")
    metadata["dlgrade"] = {**(dlgrade if isinstance(dlgrade, dict) else {}), "assignment": chosen}
    return out


# --------------------------------------------------------------------------- files

def dumps(nb: dict[str, Any]) -> str:
    """The notebook as JSON text in nbformat's file layout (see the module docstring)."""
    nb = copy.deepcopy(nb)
    metadata = nb.get("metadata", {})
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):  # nbformat's transient keys
        metadata.pop(key, None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("trusted", None)
        cell["source"] = _source(cell).splitlines(True)
        for bundle in cell.get("attachments", {}).values():
            for mime, value in bundle.items():
                if isinstance(value, str) and mime.startswith("text/"):
                    bundle[mime] = value.splitlines(True)
    text = json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: dict[str, Any], path: Path) -> Path:
    """Write `nb` to `path` in the layout of `dumps` (UTF-8, "\\n" line ends)."""
    path = Path(path)
    path.write_bytes(dumps(nb).encode("utf-8"))
    return path


def assign_file(solution: Path, out: Path, assignment_id: str | None = None) -> dict[str, Any]:
    """Read the solution notebook, write its starter to `out`; returns the starter.

    Raises grader.course.notebook.BadNotebook for an unreadable solution and AssignError for bad
    markers or a missing assignment id (messages name the file).
    """
    from grader.course.notebook import read_notebook

    solution, out = Path(solution), Path(out)
    if out.exists() and solution.exists() and out.resolve() == solution.resolve():
        raise AssignError(f"{out}: the starter would overwrite the solution; choose another -o")
    nb = read_notebook(solution)
    try:
        starter = assign(nb, assignment_id)
    except AssignError as e:
        raise type(e)(f"{solution}: {e}") from None
    write_notebook(starter, out)
    return starter


def notebook_from_cells(cells: list[tuple[str, str]], assignment_id: str, *, starter: bool = False) -> Any:
    """A generator script's ("markdown" | "code", text) cells as the solution notebook.

    With `starter=True`, its starter (`assign` of the solution). Cell ids are stable
    (`<id>-00`, ...) so regenerated notebooks diff cleanly.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
                             for kind, text in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["dlgrade"] = {"assignment": assignment_id}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{assignment_id}-{i:02d}"
    if starter:
        nb = nbformat.from_dict(assign(nb))
    nbformat.validate(nb)
    return nb


def write_solution_and_starter(cells: list[tuple[str, str]], assignment_id: str, out_dir: Path) -> None:
    """Write solution.ipynb and starter.ipynb of a generator script's cells into `out_dir`."""
    for name, starter in [("solution.ipynb", False), ("starter.ipynb", True)]:
        path = out_dir / name
        write_notebook(notebook_from_cells(cells, assignment_id, starter=starter), path)
        print("wrote", path)
