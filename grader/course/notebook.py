"""Reading a submitted notebook and turning its code cells into plain Python.

Bad input raises `BadNotebook` with one line for people; reading is total (any file, any
bytes: a notebook or BadNotebook). IPython syntax (`%magic`, `%%cell`
magics, `!shell`) becomes calls to `get_ipython()`, which the worker answers by doing nothing,
except `%%time`-like cell magics, whose body still runs.
"""

from __future__ import annotations

import ast
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: The most cells (code and markdown) a notebook may have; course notebooks have a few hundred.
MAX_CELLS = 5_000
#: Errors the parsers raise on hostile input besides their own: nesting too deep for the
#: recursive parser, integers of more than sys.get_int_max_str_digits() digits, null bytes.
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
#: Cell magics whose body is ordinary Python and must still run (it may train `best_net`).
PASSTHROUGH_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_MAGIC = re.compile(r"^(\s*)(?:[\w.\[\]'\", ]+=\s*)?([%!].*)$")


@dataclass(frozen=True)
class Cell:
    """A code cell to run: its index among all notebook cells and its (magic-free) source."""

    index: int
    source: str


class BadNotebook(Exception):
    """The file is not a gradable notebook."""


def read_notebook(path: Path) -> dict[str, Any]:
    """Read and check a notebook file; returns the nbformat v4 JSON as a dict."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise BadNotebook(f"{path}: is a directory, not a notebook")
        if not stat.S_ISREG(info.st_mode):
            raise BadNotebook(f"{path}: not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise BadNotebook(f"{path}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        with path.open("rb") as f:
            raw = f.read(MAX_NOTEBOOK_BYTES + 1)  # the file may grow after stat
    except FileNotFoundError:
        raise BadNotebook(f"{path}: no such file") from None
    except OSError as e:
        raise BadNotebook(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise BadNotebook(f"{path}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError as e:
        raise BadNotebook(f"{path}: not UTF-8 text (byte {e.start}); save the notebook from Jupyter") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadNotebook(f"{path}: not valid JSON (line {e.lineno}: {e.msg}); is this a .ipynb file?") from None
    except _PARSE_ERRORS as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e).split(";")[0][:120]
        raise BadNotebook(f"{path}: not a notebook Jupyter writes ({why or type(e).__name__})") from None
    return check_notebook(nb, path)


def check_notebook(nb: Any, path: Path | str = "notebook") -> dict[str, Any]:
    """Check parsed notebook JSON (nbformat 4, at most MAX_CELLS cells, some code); BadNotebook if not."""
    if not isinstance(nb, dict) or "cells" not in nb and "worksheets" not in nb:
        raise BadNotebook(f"{path}: JSON but not a Jupyter notebook (no 'cells')")
    major = nb.get("nbformat")
    if type(major) is not int:
        raise BadNotebook(f"{path}: the notebook's 'nbformat' version is missing or not a number")
    if major != 4:
        raise BadNotebook(f"{path}: nbformat {major} notebooks are not supported; open and save it in "
                          "Jupyter to convert it to version 4")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise BadNotebook(f"{path}: not a valid nbformat 4 notebook: 'cells' is not a list")
    if len(cells) > MAX_CELLS:
        raise BadNotebook(f"{path}: the notebook has {len(nb['cells'])} cells; at most {MAX_CELLS} are graded")
    problem = _shape_problem(nb, cells)
    if problem:
        raise BadNotebook(f"{path}: not a valid nbformat 4 notebook: {problem}")
    if not any(isinstance(c, dict) and c.get("cell_type") == "code" for c in cells):
        raise BadNotebook(f"{path}: the notebook has no code cells")
    return nb


_CELL_TYPES = ("code", "markdown", "raw")


def _shape_problem(nb: dict[str, Any], cells: list[Any]) -> str:
    """What makes `nb` other than the nbformat 4 shapes the grader relies on, or "".

    The parts of nbformat's v4 schema the judge and the feedback page read: a metadata
    object, a list of cell objects of a known type whose source is a string or a list of
    strings, and, on code cells, a list of outputs and an integer or null execution count.
    Checked by hand, in linear time: `import nbformat` and its jsonschema validator cost
    ~0.2 s of every `grade check`, and nothing else of it is needed.
    """
    if not isinstance(nb.get("metadata", {}), dict):
        return "'metadata' is not an object"
    if "nbformat_minor" in nb and type(nb["nbformat_minor"]) is not int:
        return "'nbformat_minor' is not an integer"
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            return f"cell {i} is not an object"
        kind = cell.get("cell_type")
        if kind not in _CELL_TYPES:
            return f"cell {i}: 'cell_type' is {str(kind)[:40]!r}, not one of {', '.join(_CELL_TYPES)}"
        source = cell.get("source")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            return f"cell {i}: 'source' is not a string or a list of strings"
        if not isinstance(cell.get("metadata", {}), dict):
            return f"cell {i}: 'metadata' is not an object"
        if kind == "code":
            if not isinstance(cell.get("outputs", []), list):
                return f"cell {i}: 'outputs' is not a list"
            count = cell.get("execution_count")
            if count is not None and type(count) is not int:
                return f"cell {i}: 'execution_count' is not an integer or null"
        elif not isinstance(cell.get("attachments", {}), dict):
            return f"cell {i}: 'attachments' is not an object"
    return ""


def cell_source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def code_cells(nb: dict[str, Any]) -> list[Cell]:
    """The notebook's code cells as plain Python, with their indices among all cells."""
    return [Cell(i, strip_ipython(cell_source(c))) for i, c in enumerate(nb["cells"])
            if c.get("cell_type") == "code"]


def strip_ipython(source: str) -> str:
    """Rewrite IPython-only syntax into calls the worker ignores; valid Python is left alone."""
    try:
        ast.parse(source)
        return source
    except _PARSE_ERRORS:
        pass
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].lstrip()[2:].split() else ""
        if magic in PASSTHROUGH_CELL_MAGICS:
            return strip_ipython("\n".join([""] + lines[1:]))
        return f"get_ipython().run_cell_magic({magic!r}, '', '')" + "\n" * (len(lines) - 1)
    out = []
    for line in lines:
        m = _LINE_MAGIC.match(line)
        if m and not line.lstrip().startswith(("%=", "!=")):
            out.append(f"{m.group(1)}get_ipython().run_line_magic({m.group(2)[:60]!r}, '')")
        elif line.rstrip().endswith("?") and re.match(r"^\s*[\w.]+\?{1,2}$", line):
            out.append(re.match(r"^(\s*)", line).group(1) + "pass")
        else:
            out.append(line)
    return "\n".join(out)


def defining_cells(nb: dict[str, Any]) -> dict[str, int]:
    """Map each top-level name a code cell defines (def, class, assignment) to its cell index."""
    names: dict[str, int] = {}
    for cell in code_cells(nb):
        try:
            tree = ast.parse(cell.source)
        except _PARSE_ERRORS:
            continue
        for node in tree.body:
            targets: list[ast.AST] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = cell.index
                continue
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        names[sub.id] = cell.index
    return names

