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
from pathlib import Path
from typing import Any

from grader.session import Cell

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: The most cells (code and markdown) a notebook may have; course notebooks have a few hundred.
MAX_CELLS = 5_000
#: Errors the parsers raise on hostile input besides their own: nesting too deep for the
#: recursive parser, integers of more than sys.get_int_max_str_digits() digits, null bytes.
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
#: Cell magics whose body is ordinary Python and must still run (it may train `best_net`).
PASSTHROUGH_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_MAGIC = re.compile(r"^(\s*)(?:[\w.\[\]'\", ]+=\s*)?([%!].*)$")


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
    try:
        import warnings

        import nbformat

        with warnings.catch_warnings():  # e.g. MissingIDFieldWarning: noise on stderr, not an error
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(nb))
    except Exception as e:  # nbformat raises several kinds; RecursionError and MemoryError too
        try:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        except Exception:  # the message itself may be too deep to print
            first = type(e).__name__
        raise BadNotebook(f"{path}: not a valid nbformat 4 notebook: {first[:200]}") from None
    if not any(isinstance(c, dict) and c.get("cell_type") == "code" for c in cells):
        raise BadNotebook(f"{path}: the notebook has no code cells")
    return nb


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

