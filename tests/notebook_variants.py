"""Shared pieces of the assignment-variant suites (tests/test_<assignment>_variants.py).

The catalogue of variants lives in the course, judge-side: assignments/<id>/variants.py
(`BUGS`, `ALTERNATIVES`, grouped into grading runs), read and checked by
grader.authoring.variants, which `grade validate --variants` uses too. A suite grades each run
for real with `grade_notebook(..., mode="submit")` and checks it here: a bug loses points on
exactly the tests that should see it, with messages naming the wrong quantity, and gets
exactly its declared diagnoses; a correct alternative keeps full marks and gets none.

Every grading here also runs the assignment's student kit (`grade kit`): its own public test
files, with the kit's settings and fixtures, against the same executed notebook once the
course's tests have their verdicts (grader.kit.verify.grade_with_kit); each public test's status, score and message
must equal the judge's. So over every variant of every suite a student's `grade check` from the
kit says what the judge says, without executing any notebook twice (except where a verdict
depends on what ran before it, e.g. student code drawing from NumPy's global generator: then
the kit is checked on a fresh execution, as a student's `grade check` runs it).

`VariantSuite.tests()` gives a suite its common part: the kit, the solution's grading, the
bug and alternative tests over the catalogue's runs and the edits check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

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


def load_module(name: str, path: Path) -> Any:
    """A course file (reference module, hidden test) imported by path, for the suites' cheap checks."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


# --------------------------------------------------------------------------- one suite, with its kit


@dataclass(frozen=True)
class VariantSuite:
    """One assignment's variant suite: its catalogue, and its gradings checked against its kit."""

    assignment_id: str

    @property
    def catalogue(self) -> Catalogue:
        return _catalogue(self.assignment_id)

    @property
    def assignment(self) -> Any:
        from grader.course.assignment import load_assignment

        return load_assignment(self.assignment_id, ROOT)

    @property
    def root(self) -> Path:
        return ROOT / "assignments" / self.assignment_id

    @property
    def solution(self) -> Path:
        return self.root / "solution.ipynb"

    @property
    def starter(self) -> Path:
        return self.root / "starter.ipynb"

    @property
    def bugs(self) -> list[Case]:
        return list(self.catalogue.bugs)

    @property
    def alternatives(self) -> list[Case]:
        return list(self.catalogue.alternatives)

    def build_kit(self, folder: Path) -> Any:
        """The assignment's kit, written to `folder` and read back as a student's grader reads it."""
        from grader.kit.build import write_kit
        from grader.kit.load import load_kit

        return load_kit(write_kit(self.assignment, folder / self.assignment_id))

    def write(self, case: Case, directory: Path, source: Path | None = None) -> Path:
        """The variant's notebook (of the solution, or of `source`), without the catalogue's dropped cells."""
        return write_variant(source or self.solution, case, directory, self.catalogue.drop_marker)

    def grade(self, notebook: Path, kit: Any) -> Any:
        """`grade submit` of `notebook` on the course (a `[model]` part scores the files the
        notebook saved, as authors' checks do); its public verdicts equal the kit's."""
        from grader.kit.verify import grade_with_kit

        both = grade_with_kit(notebook, self.assignment, kit, mode="submit", files_from_notebook=True)
        check_kit_agrees(both)
        return both.result

    def grade_case(self, case: Case, directory: Path, kit: Any, notebook: Path | None = None) -> Any:
        return self.grade(self.write(case, directory, notebook), kit)

    def tests(self, *, max_score: float | None, suites: set[str] | None = frozenset({"public", "hidden"}),
              fixtures: tuple[str, ...] = (),
              check_alternative_also: Callable[[Case, Any], None] | None = None) -> dict[str, Any]:
        """The suite's common fixtures and tests, by name, for its module's globals():

        variant_kit, solution_result (module fixtures); test_solution_scores_full_marks (the
        solution: `max_score` when given, full marks, every cell ok, its tests' `suites` when
        given); test_enough_variants (at least 10 bugs and 2 alternatives, each bug in one run);
        test_bug_is_caught and test_correct_alternative_scores_full_marks (over the catalogue's
        runs); test_variant_edits_apply_once.

        `fixtures`: more fixtures the bug and alternative tests need (by name);
        `check_alternative_also(case, result)`: the suite's own checks of each alternative run.
        """
        suite = self
        runs, alternative_runs = list(self.catalogue.runs), list(self.catalogue.alternative_runs)

        @pytest.fixture(scope="module")
        def variant_kit(tmp_path_factory):
            return suite.build_kit(tmp_path_factory.mktemp("kit"))

        @pytest.fixture(scope="module")
        def solution_result(tmp_path_factory, variant_kit):
            return suite.grade_case(Case("solution", ()), tmp_path_factory.mktemp("solution"), variant_kit)

        def test_solution_scores_full_marks(solution_result):
            result = solution_result
            if max_score is not None:
                assert result.max_score == max_score, describe(result)
            assert result.score == result.max_score, describe(result)
            assert all(c.status == "ok" for c in result.cells), describe(result)
            if suites is not None:
                assert {t.suite for t in result.tests} == suites, describe(result)

        def test_enough_variants():
            assert len(suite.bugs) >= 10 and len(suite.alternatives) >= 2
            assert sorted(c.id for c in suite.bugs) == sorted(i for run in runs for i in run.id.split("+"))
            assert sorted(c.id for c in suite.alternatives) == sorted(
                i for run in alternative_runs for i in run.id.split("+"))

        @pytest.mark.parametrize("case", runs, ids=[c.id for c in runs])
        def test_bug_is_caught(case: Case, tmp_path: Path, solution_result, variant_kit, request):
            for name in fixtures:
                request.getfixturevalue(name)
            result = suite.grade_case(case, tmp_path, variant_kit)
            check_bug(case, result, {t.name for t in solution_result.tests})

        @pytest.mark.parametrize("case", alternative_runs, ids=[c.id for c in alternative_runs])
        def test_correct_alternative_scores_full_marks(case: Case, tmp_path: Path, variant_kit, request):
            for name in fixtures:
                request.getfixturevalue(name)
            result = suite.grade_case(case, tmp_path, variant_kit)
            check_alternative(case, result)
            if check_alternative_also is not None:
                check_alternative_also(case, result)

        def test_variant_edits_apply_once():
            """Every edit still matches the solution exactly once (cheap; no grading)."""
            check_edits_apply(suite.solution, [*suite.bugs, *runs, *suite.alternatives, *alternative_runs],
                              suite.catalogue.drop_marker)

        return {f.__name__: f for f in (variant_kit, solution_result, test_solution_scores_full_marks,
                                        test_enough_variants, test_bug_is_caught,
                                        test_correct_alternative_scores_full_marks, test_variant_edits_apply_once)}


def check_kit_agrees(both: Any) -> None:
    """The kit's public tests ran and gave, test by test, the judge's status, score and message."""
    publics = [t.name for t in both.result.tests if t.suite == "public"]
    assert publics and [t.name for t in both.kit_tests] == publics, (
        f"the kit ran {[t.name for t in both.kit_tests]}, the judge's public tests are {publics}")
    assert not both.differences, "\n".join(both.differences)
    _log_kit_seconds(both.kit_seconds, both.fresh)


def _log_kit_seconds(seconds: float, fresh: bool) -> None:
    """With DLGRADE_KIT_SECONDS_LOG=FILE, append what each kit run added (for measuring its cost)."""
    import os

    path = os.environ.get("DLGRADE_KIT_SECONDS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{seconds}{' fresh' if fresh else ''}\n")


_catalogues: dict[str, Catalogue] = {}


def _catalogue(assignment_id: str) -> Catalogue:
    if assignment_id not in _catalogues:
        _catalogues[assignment_id] = catalogue(assignment_id)
    return _catalogues[assignment_id]
