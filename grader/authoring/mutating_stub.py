"""The "mutating stub" notebook `grade validate` grades: a test must not trust arrays it lent out.

Owns: building, from an assignment's solution, a notebook whose every function zeroes its
arguments in place and returns zeros (of the shapes the solution returns). Its cells keep only
the solution's imports, functions and classes: nothing trains, no short answer is set, and
every class is a stub that raises on use, as the starter's are. A hidden test that gives more
points to this notebook than to the same zeros without the in-place zeroing takes its expected
value from something the student's code could change (an argument it was lent, a dict it was
handed back): the hole a student fills with functions that zero their arguments.

May call: grader.course.notebook. Called by: grader.authoring.validate.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from grader.course.notebook import code_cells

_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)

#: Runs in the worker (torch may be absent there): wraps every function named, stubs every class.
_STUB_CELL = '''
import copy as _dlgrade_copy
import functools as _dlgrade_functools
import numpy as _dlgrade_np


def _dlgrade_zero(value, depth=0):
    """Zero `value` in place where it can be (arrays, tensors, dicts, lists); a zeroed copy otherwise."""
    if depth > 8:
        return value
    if isinstance(value, _dlgrade_np.ndarray):
        if value.flags.writeable:
            value[...] = 0
            return value
        return _dlgrade_np.zeros_like(value)
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "zero_"):
        try:
            value.data.zero_()
        except Exception:
            pass
        return value
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _dlgrade_zero(value[key], depth + 1)
        return value
    if isinstance(value, list):
        value[:] = [_dlgrade_zero(v, depth + 1) for v in value]
        return value
    if isinstance(value, tuple):
        return tuple(_dlgrade_zero(v, depth + 1) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, complex, _dlgrade_np.number)):
        return type(value)(0)
    if isinstance(value, str):
        return ""
    raise NotImplementedError("a stub returns only zeros")


def _dlgrade_mutating(function):
    @_dlgrade_functools.wraps(function)
    def stub(*args, **kwargs):
        try:
            lent = _dlgrade_copy.deepcopy((args, kwargs))
        except Exception:
            lent = (args, kwargs)
        out = function(*lent[0], **lent[1])
        if _DLGRADE_MUTATE:
            for value in (*args, *kwargs.values()):
                _dlgrade_zero(value)
        return _dlgrade_zero(out)
    return stub


def _dlgrade_stub_class(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"{name} is a stub")
    return type(name, (), {"__init__": refuse})


for _dlgrade_name in _DLGRADE_FUNCTIONS:
    globals()[_dlgrade_name] = _dlgrade_mutating(globals()[_dlgrade_name])
for _dlgrade_name in _DLGRADE_CLASSES:
    globals()[_dlgrade_name] = _dlgrade_stub_class(_dlgrade_name)
'''


def _cell(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def mutating_stub(solution: dict[str, Any], mutate: bool = True) -> dict[str, Any]:
    """The stub notebook for `solution` (a parsed notebook); see the module docstring.

    `mutate=False`: the same zeros, arguments left alone (the baseline the mutating one is
    compared with: a test may give points to zeros, e.g. a numeric check of a constant forward).
    """
    cells, functions, classes = [], [], []
    for cell in code_cells(solution):
        try:
            tree = ast.parse(cell.source)
        except _PARSE_ERRORS:
            continue
        kept = [node for node in tree.body
                if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
        functions += [n.name for n in kept if isinstance(n, ast.FunctionDef)]
        classes += [n.name for n in kept if isinstance(n, ast.ClassDef)]
        if kept:
            cells.append(_cell(ast.unparse(ast.Module(body=kept, type_ignores=[]))))
    functions = [f for f in dict.fromkeys(functions) if f not in classes]
    head = (f"_DLGRADE_FUNCTIONS = {functions!r}\n_DLGRADE_CLASSES = {list(dict.fromkeys(classes))!r}\n"
            f"_DLGRADE_MUTATE = {bool(mutate)!r}\n")
    nb = {key: copy.deepcopy(value) for key, value in solution.items() if key != "cells"}
    nb["cells"] = [*cells, _cell(head + _STUB_CELL)]
    return nb
