"""Shared pieces of the assignment-variant suites (tests/test_<assignment>_variants.py).

The catalogue of variants lives in the course, judge-side: assignments/<id>/variants.py
(`BUGS`, `ALTERNATIVES`, grouped into grading runs), read and checked by
grader.authoring.variants, which `grade validate --variants` uses too. A suite grades each run
for real with `grade_notebook(..., mode="submit")` and checks it here: a bug loses points on
exactly the tests that should see it, with messages naming the wrong quantity, and gets
exactly its declared diagnoses; a correct alternative keeps full marks and gets none.
"""

from __future__ import annotations

from pathlib import Path

from grader.authoring.variants import (  # noqa: F401  (re-exported for the suites)
    Case,
    Catalogue,
    alternative_problems,
    bug_problems,
    check_edits_apply,
    combine,
    describe,
    diagnosis_problems,
    load_catalogue,
    write_variant,
)

ROOT = Path(__file__).resolve().parents[1]


def catalogue(assignment_id: str) -> Catalogue:
    """assignments/<id>/variants.py of this checkout."""
    found = load_catalogue(ROOT / "assignments" / assignment_id)
    assert found is not None, f"assignments/{assignment_id}/variants.py is missing"
    return found


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
    """`result` (the graded variant) loses points exactly where `case` says, with its messages,
    and gets exactly the diagnoses `case` declares."""
    problems = bug_problems(case, result, expected_names) + diagnosis_problems(case, result)
    assert not problems, "\n".join(problems) + "\n" + describe(result)


def check_alternative(case: Case, result) -> None:
    """A correct alternative: full marks, no diagnosis."""
    problems = alternative_problems(case, result)
    assert not problems, "\n".join(problems) + "\n" + describe(result)
