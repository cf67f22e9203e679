"""Shared pieces of the assignment-variant suites (tests/test_<assignment>_variants.py).

A variant is the assignment's solution.ipynb with one small edit: a typical student mistake,
which must lose points on exactly the tests that should see it, with messages that name the
wrong quantity; or a correct alternative, which must keep full marks. Each variant is graded
for real with `grade_notebook(..., mode="submit")`. Mistakes in different functions, seen by
different tests, can share one grading run (`combine`): the run then checks each case's tests
as if it had been graded alone.
"""

from __future__ import annotations

import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class Case:
    """An edit of the solution and what grading it must show.

    edits: (find, replace) pairs; `find` must occur exactly once in the notebook's code.
      A find of the form "BLOCK:<name>" means the first `# BEGIN SOLUTION` ... `# END SOLUTION`
      block after the line defining <name> (`def` or `class`); "BLOCK:<name>:<k>" its k-th block
      (from 0). The replacement is written without indentation.
    fails: test name -> text its message must contain. These tests must lose points.
    may_fail: tests allowed to lose points as a side effect (never required to).
    """

    id: str
    edits: tuple[tuple[str, str], ...]
    fails: dict[str, str] = field(default_factory=dict)
    may_fail: frozenset[str] = frozenset()


def combine(*cases: Case) -> Case:
    """One variant holding every case's edits, for one grading run.

    The cases' `fails` must be disjoint (each test is explained by one mistake); a test in one
    case's `fails` must not be another's to keep full marks, which `check_bug` then checks for
    the union. The combined id joins the cases' ids with "+".
    """
    fails: dict[str, str] = {}
    for case in cases:
        overlap = set(fails) & set(case.fails)
        assert not overlap, f"combine: {case.id} and an earlier case both fail {sorted(overlap)}"
        fails.update(case.fails)
    return Case("+".join(c.id for c in cases), tuple(e for c in cases for e in c.edits), fails,
                frozenset().union(*(c.may_fail for c in cases)))


_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*# END SOLUTION[ \t]*$", re.S | re.M)


def apply_edit(source_cells: list[str], find: str, replace: str) -> None:
    """Apply one (find, replace) edit to the code cells' sources, in place."""
    if find.startswith("BLOCK:"):
        _, name, *k = find.split(":")
        index = int(k[0]) if k else 0
        owners = [i for i, s in enumerate(source_cells)
                  if re.search(rf"^(def|class) {re.escape(name)}\b", s, re.M)]
        assert len(owners) == 1, f"solution.ipynb: {len(owners)} cells define {name}"
        i = owners[0]
        # only the blocks after the line defining `name`: a cell may define several functions
        start = re.search(rf"^(def|class) {re.escape(name)}\b", source_cells[i], re.M).start()
        matches = [m for m in _BLOCK.finditer(source_cells[i]) if m.start() > start]
        assert len(matches) > index, f"solution.ipynb: {name} has no solution block {index}"
        match = matches[index]
        body = textwrap.indent(textwrap.dedent(replace).strip("\n") + "\n", match.group(1))
        s = source_cells[i]
        source_cells[i] = s[: match.start(2)] + body + s[match.end(2):]
        return
    hits = [(i, s.count(find)) for i, s in enumerate(source_cells) if find in s]
    assert sum(n for _, n in hits) == 1, (
        f"solution.ipynb: the edit's text occurs {sum(n for _, n in hits)} times, expected once:\n{find}"
    )
    i = hits[0][0]
    source_cells[i] = source_cells[i].replace(find, replace)


def write_variant(solution: Path, case: Case, directory: Path, drop_marker: str | None = None) -> Path:
    """The solution with `case`'s edits, written as <directory>/<case.id>.ipynb.

    With `drop_marker`, code cells containing it are left out (e.g. a slow self-check cell).
    """
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


def describe(result) -> str:
    lines = [f"score {result.score}/{result.max_score}"]
    lines += [f"  {t.status:7s} {t.score:g}/{t.max_score:g} {t.name}: {t.message[:300]}"
              for t in result.tests if t.status != "passed"]
    lines += [f"  cell {c.index}: {c.status} {c.message}" for c in result.cells if c.status != "ok"]
    return "\n".join(lines)


def check_within_limits(result, assignment_id: str, fraction: float = 0.5) -> None:
    """The graded notebook's cells took at most `fraction` of the wall-time limits the judge
    enforces for `assignment_id` (each cell, and all together): a bound relative to what
    students get, not a speed figure for this machine (speed goes in bench/)."""
    from grader.course.assignment import load_assignment

    limits = load_assignment(assignment_id).limits
    slowest = max(result.cells, key=lambda c: c.duration)
    total = sum(c.duration for c in result.cells)
    assert slowest.duration <= fraction * limits.cell_seconds, (
        f"cell {slowest.index} took {slowest.duration:.1f} s, more than {fraction:g} of the "
        f"{limits.cell_seconds:g} s cell limit")
    assert total <= fraction * limits.notebook_seconds, (
        f"the cells took {total:.1f} s, more than {fraction:g} of the {limits.notebook_seconds:g} s notebook limit")


def check_bug(case: Case, result, expected_names: set[str]) -> None:
    """`result` (the graded variant) loses points exactly where `case` says, with its messages."""
    report = describe(result)
    by_name = {t.name: t for t in result.tests}
    assert set(by_name) == expected_names, report
    for name, text in case.fails.items():
        t = by_name[name]
        assert t.score < t.max_score, f"{case.id}: {name} kept full marks\n{report}"
        assert text in t.message, f"{case.id}: {name}'s message lacks {text!r}: {t.message!r}\n{report}"
    for t in result.tests:
        if t.name not in case.fails and t.name not in case.may_fail:
            assert t.score == t.max_score, f"{case.id}: unrelated {t.name} lost points\n{report}"
    assert result.score < result.max_score
