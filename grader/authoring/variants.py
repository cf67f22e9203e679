"""The variant catalogue of an assignment: one-mistake variants and correct alternatives.

A course declares, judge-side, in `assignments/<id>/variants.py`:

* `BUGS`: `Case`s, each the solution with one typical mistake, which must lose points on
  exactly the tests that should see it, with messages naming the wrong quantity, and get
  exactly the diagnoses (`assignments/<id>/misconceptions.py`) it declares;
* `ALTERNATIVES`: correct alternatives, which must keep full marks and get no diagnosis;
* optionally `RUNS` / `ALTERNATIVE_RUNS` (how the cases are grouped into grading runs,
  `combine`; default: one run per case) and `DROP_MARKER` (code cells containing it, e.g. a
  slow self-check, are left out of every graded variant).

`grade validate --variants` (grader.authoring.validate) and the variant suites
(tests/test_<id>_variants.py) grade the same runs and check them with `bug_problems`,
`alternative_problems` and `diagnosis_problems`. This module reads nothing from a worker; it
calls only grader.course (the notebook file) and, for loading, the course's variants.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Case:
    """An edit of the solution and what grading it must show.

    edits: (find, replace) pairs; `find` must occur exactly once in the notebook's code.
      A find of the form "BLOCK:<name>" means the first `# BEGIN SOLUTION` ... `# END SOLUTION`
      block after the line defining <name> (`def` or `class`); "BLOCK:<name>:<k>" its k-th block
      (from 0). The replacement is written without indentation.
    fails: test name -> text its message must contain. These tests must lose points.
    may_fail: tests allowed to lose points as a side effect (never required to).
    diagnoses: the misconceptions (names in misconceptions.py) grading must diagnose on this
      variant, and no others.
    """

    id: str
    edits: tuple[tuple[str, str], ...]
    fails: dict[str, str] = field(default_factory=dict)
    may_fail: frozenset[str] = frozenset()
    diagnoses: frozenset[str] = frozenset()


def combine(*cases: Case) -> Case:
    """One variant holding every case's edits, for one grading run.

    The cases' `fails` must be disjoint (each test is explained by one mistake); a test in one
    case's `fails` must not be another's to keep full marks, which `bug_problems` then checks
    for the union. The combined id joins the cases' ids with "+".
    """
    fails: dict[str, str] = {}
    for case in cases:
        overlap = set(fails) & set(case.fails)
        if overlap:
            raise ValueError(f"combine: {case.id} and an earlier case both fail {sorted(overlap)}")
        fails.update(case.fails)
    return Case("+".join(c.id for c in cases), tuple(e for c in cases for e in c.edits), fails,
                frozenset().union(*(c.may_fail for c in cases)),
                frozenset().union(*(c.diagnoses for c in cases)))


@dataclass(frozen=True)
class Catalogue:
    """An assignment's variants, as its variants.py declares them."""

    bugs: tuple[Case, ...]
    alternatives: tuple[Case, ...]
    runs: tuple[Case, ...]  # the grading runs of the bugs
    alternative_runs: tuple[Case, ...]
    drop_marker: str | None = None
    module: ModuleType | None = None  # the loaded variants.py, for the suites' own constants


class BadCatalogue(ValueError):
    """variants.py is missing a list, or does not import."""


def variants_path(assignment_root: Path) -> Path:
    return Path(assignment_root) / "variants.py"


def load_catalogue(assignment_root: Path) -> Catalogue | None:
    """The catalogue of the assignment at `assignment_root`, or None when it declares none."""
    path = variants_path(assignment_root)
    if not path.is_file():
        return None
    name = f"dlgrade_variants_{Path(assignment_root).name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the author's file: report, don't crash validate
        raise BadCatalogue(f"{path.name}: cannot import: {type(e).__name__}: {e}") from e
    finally:
        sys.modules.pop(name, None)
    bugs = tuple(getattr(module, "BUGS", ()))
    alternatives = tuple(getattr(module, "ALTERNATIVES", ()))
    for c in bugs + alternatives:
        if not isinstance(c, Case):
            raise BadCatalogue(f"{path.name}: BUGS and ALTERNATIVES must hold Case objects, got {type(c).__name__}")
    runs = tuple(getattr(module, "RUNS", bugs))
    alternative_runs = tuple(getattr(module, "ALTERNATIVE_RUNS", alternatives))
    return Catalogue(bugs, alternatives, runs, alternative_runs, getattr(module, "DROP_MARKER", None), module)


_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*# END SOLUTION[ \t]*$", re.S | re.M)


class EditDoesNotApply(ValueError):
    """A variant's edit no longer matches the solution exactly once."""


def apply_edit(source_cells: list[str], find: str, replace: str) -> None:
    """Apply one (find, replace) edit to the code cells' sources, in place."""
    if find.startswith("BLOCK:"):
        _, name, *k = find.split(":")
        index = int(k[0]) if k else 0
        owners = [i for i, s in enumerate(source_cells)
                  if re.search(rf"^(def|class) {re.escape(name)}\b", s, re.M)]
        if len(owners) != 1:
            raise EditDoesNotApply(f"solution.ipynb: {len(owners)} cells define {name}")
        i = owners[0]
        # only the blocks after the line defining `name`: a cell may define several functions
        start = re.search(rf"^(def|class) {re.escape(name)}\b", source_cells[i], re.M).start()
        matches = [m for m in _BLOCK.finditer(source_cells[i]) if m.start() > start]
        if len(matches) <= index:
            raise EditDoesNotApply(f"solution.ipynb: {name} has no solution block {index}")
        match = matches[index]
        body = textwrap.indent(textwrap.dedent(replace).strip("\n") + "\n", match.group(1))
        s = source_cells[i]
        source_cells[i] = s[: match.start(2)] + body + s[match.end(2):]
        return
    hits = [(i, s.count(find)) for i, s in enumerate(source_cells) if find in s]
    if sum(n for _, n in hits) != 1:
        raise EditDoesNotApply(
            f"solution.ipynb: the edit's text occurs {sum(n for _, n in hits)} times, expected once:\n{find}")
    i = hits[0][0]
    source_cells[i] = source_cells[i].replace(find, replace)


def write_variant(solution: Path, case: Case, directory: Path, drop_marker: str | None = None) -> Path:
    """The solution with `case`'s edits, written as <directory>/<case.id>.ipynb.

    With `drop_marker`, code cells containing it are left out (e.g. a slow self-check cell).
    """
    import nbformat

    nb = nbformat.read(str(solution), as_version=4)
    if drop_marker is not None:
        nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and drop_marker in c.source)]
    code = [c for c in nb.cells if c.cell_type == "code"]
    sources = [c.source for c in code]
    for find, replace in case.edits:
        apply_edit(sources, find, replace)
    for cell, source in zip(code, sources):
        cell.source = source
    path = directory / f"{case.id}.ipynb"
    nbformat.write(nb, str(path))
    return path


def check_edits_apply(solution: Path, cases: list[Case], drop_marker: str | None = None) -> None:
    """Every case's edits still match the solution (cheap; nothing is graded)."""
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            write_variant(solution, case, Path(tmp), drop_marker)


def describe(result: Any) -> str:
    lines = [f"score {result.score}/{result.max_score}"]
    lines += [f"  {t.status:7s} {t.score:g}/{t.max_score:g} {t.name}: {t.message[:300]}"
              + "".join(f" [diagnosed: {d['name']}]" for d in getattr(t, "diagnoses", ()))
              for t in result.tests if t.status != "passed"]
    lines += [f"  cell {c.index}: {c.status} {c.message}" for c in result.cells if c.status != "ok"]
    return "\n".join(lines)


def bug_problems(case: Case, result: Any, expected_names: set[str]) -> list[str]:
    """What is wrong with `result` (the graded variant) for `case`: it must lose points exactly
    where `case` says, with its messages; [] when all is as declared."""
    by_name = {t.name: t for t in result.tests}
    if set(by_name) != expected_names:
        return [f"{case.id}: the tests run differ from the solution's"]
    problems = []
    for name, text in case.fails.items():
        t = by_name[name]
        if t.score >= t.max_score:
            problems.append(f"{case.id}: {name} kept full marks")
        elif text not in t.message:
            problems.append(f"{case.id}: {name}'s message lacks {text!r}: {t.message!r}")
    for t in result.tests:
        # The model part ([model]) scores the weights the variant's own notebook saved
        # (files_from_notebook): a mistake that trains a worse model may cost its points too.
        if t.suite == "model":
            continue
        if t.name not in case.fails and t.name not in case.may_fail and t.score != t.max_score:
            problems.append(f"{case.id}: unrelated {t.name} lost points")
    if result.score >= result.max_score:
        problems.append(f"{case.id}: full marks")
    return problems


def diagnosed(result: Any) -> set[str]:
    """The names of the misconceptions diagnosed anywhere in `result`."""
    return {d["name"] for t in result.tests for d in getattr(t, "diagnoses", ())}


def diagnosis_problems(case: Case, result: Any) -> list[str]:
    """Every declared diagnosis found, and no other (for an alternative: none at all)."""
    got = diagnosed(result)
    problems = [f"{case.id}: misconception {name} not diagnosed" for name in sorted(case.diagnoses - got)]
    problems += [f"{case.id}: wrong diagnosis {name}" for name in sorted(got - case.diagnoses)]
    return problems


def alternative_problems(case: Case, result: Any) -> list[str]:
    problems = [] if result.score == result.max_score else [f"{case.id}: {result.score:g}/{result.max_score:g}"]
    return problems + diagnosis_problems(case, result)
