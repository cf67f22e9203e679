"""`grade validate` and `grade list`: check an assignment before students see it.

Reading the test files (`collect_tests`, `summarize`) is static, with `ast`: no test runs and
nothing is imported, so `grade list` stays fast. `validate_assignment` then

1. lints the tests (rules below, docs/authoring.md);
2. checks that starter.ipynb is `grade assign` of solution.ipynb (JSON-equal);
3. grades the solution with every test: it must score full marks, with every cell running
   (a test that skips itself, e.g. for an optional package missing here, is a note);
4. grades the starter with every test: every hidden test must score 0, unless it is marked
   `@pytest.mark.starter_passes` (a test that does not touch a stub);
5. grades the "mutating stub" (grader/authoring/mutating_stub.py: every function zeroes its
   arguments in place and returns zeros of the solution's shapes) and the same zeros without the
   zeroing: no hidden test may give the first more points than the second. Such a test takes
   its expected value from something the student's code can change;
6. measures the hidden suite's wall time on the solution;
7. checks the written and figure questions (grader.manual.questions): each rubric adds up, each
   question is in the starter with its answer blanked, and evidence names tests that exist;
8. checks that the public tests run from the student's kit (grader.kit.verify): no judge-only
   fixture or import, and the solution graded from its kit gets the course's verdicts;
9. checks the misconceptions against the variant catalogue (grader.authoring.proof): statically,
   and with `variants=True` (`grade validate --variants`) by grading every variant.

Lint rules, for every test function (`test*` functions, and `test*` methods of `Test*`
classes, in `tests/public/` and `tests/hidden/`):

* it has a `points` marker (on the function, its class or the module's `pytestmark`) whose
  value is a positive number written in the file;
* a `visibility` marker, if any, is one of grader.judge.results.VISIBILITIES;
* it asserts something: its body contains an `assert` statement, `raise AssertionError(...)`,
  a call to an `assert_*` helper (e.g. `assert_close`), `pytest.raises`, `pytest.fail` or
  `credit.award`, or a call to a function defined in the same file that does (helpers are
  followed);
* no two tests of an assignment share a name (results are keyed by test name);
* every test found in the files was run (a file pytest cannot import loses its tests).
"""

from __future__ import annotations

import ast
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.course.assignment import Assignment, assignment_id_of
from grader.judge.results import VISIBILITIES

SUITES = ("public", "hidden")
STARTER_PASSES = "starter_passes"

# --------------------------------------------------------------------------- static reading


@dataclass
class TestInfo:
    """One test function, as read from its file without running it."""

    __test__ = False  # not a pytest test class

    suite: str  # public | hidden
    path: Path
    file: str  # as shown: the path below tests/, e.g. hidden/test_affine.py
    name: str
    line: int
    points: float | None = None  # None: no points marker, or one the lint could not read
    cases: int | None = 1  # parametrize expansions; None when the count is not static
    markers: dict[str, list[ast.expr]] = field(default_factory=dict)
    asserts: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} {self.name}"

    @property
    def starter_passes(self) -> bool:
        return STARTER_PASSES in self.markers


def _mark_name(node: ast.expr) -> tuple[str, list[ast.expr], list[ast.keyword]] | None:
    """`pytest.mark.NAME(args)`, `mark.NAME(args)` or a bare `pytest.mark.NAME` -> (NAME, args, kw)."""
    args: list[ast.expr] = []
    keywords: list[ast.keyword] = []
    if isinstance(node, ast.Call):
        args, keywords, node = list(node.args), list(node.keywords), node.func
    if not isinstance(node, ast.Attribute):
        return None
    owner = node.value
    if (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
            isinstance(owner, ast.Name) and owner.id == "mark"):
        return node.attr, args, keywords
    return None


def _marks(nodes: list[ast.expr]) -> list[tuple[str, list[ast.expr], list[ast.keyword]]]:
    out = []
    for node in nodes:
        elements = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
        out += [m for m in map(_mark_name, elements) if m is not None]
    return out


def _pytestmark(body: list[ast.stmt]) -> list[ast.expr]:
    return [node.value for node in body if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)]


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level `NAME = <literal>` values, for markers and parametrize lists that use them."""
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                values[node.targets[0].id] = node.value  # not a literal: kept for len() of lists
    return values


def _static_value(node: ast.expr, constants: dict[str, Any]) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Name) and node.id in constants and not isinstance(constants[node.id], ast.AST):
        return constants[node.id]
    raise ValueError("not static")


def _count_cases(args: list[ast.expr], keywords: list[ast.keyword], constants: dict[str, Any]) -> int | None:
    values = args[1] if len(args) > 1 else next((k.value for k in keywords if k.arg == "argvalues"), None)
    if values is None:
        return None
    if isinstance(values, ast.Name) and values.id in constants:
        known = constants[values.id]
        if isinstance(known, ast.AST):
            values = known
        elif isinstance(known, (list, tuple, set, dict, str)):
            return len(known)
    if isinstance(values, (ast.List, ast.Tuple, ast.Set)):
        return None if any(isinstance(e, ast.Starred) for e in values.elts) else len(values.elts)
    if (isinstance(values, ast.Call) and isinstance(values.func, ast.Name) and values.func.id == "range"
            and values.args):
        try:
            return len(range(*(_static_value(a, constants) for a in values.args)))
        except (ValueError, TypeError):
            return None
    return None


def _call_name(node: ast.Call) -> tuple[str | None, str | None]:
    """(owner, name) of a call: `credit.award(...)` -> ("credit", "award"); `f(...)` -> (None, "f")."""
    func = node.func
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        return owner, func.attr
    return None, None


def _is_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Raise) and node.exc is not None:  # raise AssertionError(...)
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "AssertionError"
    if isinstance(node, ast.Call):
        owner, name = _call_name(node)
        if name is None:
            return False
        if name.startswith("assert_") or (name.startswith("assert") and name[6:7].isupper()):
            return True
        if name in ("raises", "fail") and owner in ("pytest", None):
            return True
        if owner == "credit" and name == "award":
            return True
    return False


def _asserts(func: ast.AST, helpers: dict[str, ast.AST], seen: set[str]) -> bool:
    for node in ast.walk(func):
        if _is_check(node):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in helpers and name not in seen:
                seen.add(name)
                if _asserts(helpers[name], helpers, seen):
                    return True
    return False


def _read_file(path: Path, suite: str, file: str) -> tuple[list[TestInfo], list[str]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as e:
        return [], [f"{file}: cannot read the test file: {type(e).__name__}: {e}"]
    constants = _constants(tree)
    helpers = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    module_marks = _marks(_pytestmark(tree.body))
    found: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, list]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.append((node, module_marks))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_marks = module_marks + _marks(node.decorator_list) + _marks(_pytestmark(node.body))
            found += [(m, class_marks) for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name.startswith("test")]
    tests = []
    for func, outer in found:
        info = TestInfo(suite=suite, path=path, file=file, name=func.name, line=func.lineno)
        marks = outer + _marks(func.decorator_list)  # later (closer) marks win, as in pytest
        for name, args, keywords in marks:
            info.markers[name] = args
            if name == "parametrize":
                n = _count_cases(args, keywords, constants)
                info.cases = None if n is None or info.cases is None else info.cases * n
        _check_markers(info, constants)
        info.asserts = _asserts(func, helpers, {func.name})
        if not info.asserts:
            info.problems.append(f"{info.where}: asserts nothing (no assert, raise AssertionError, "
                                 "assert_* helper, pytest.raises, pytest.fail or credit.award)")
        tests.append(info)
    return tests, []


def _check_markers(info: TestInfo, constants: dict[str, Any]) -> None:
    if "points" not in info.markers:
        info.problems.append(f"{info.where}: no @pytest.mark.points(n) marker")
    else:
        args = info.markers["points"]
        try:
            value = _static_value(args[0], constants) if len(args) == 1 else None
        except ValueError:
            value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            shown = ", ".join(ast.unparse(a) for a in args)
            info.problems.append(f"{info.where}: points({shown}) must be one positive number")
        else:
            info.points = float(value)
    if "visibility" in info.markers:
        args = info.markers["visibility"]
        try:
            value = _static_value(args[0], constants) if len(args) == 1 else None
        except ValueError:
            value = None
        if value not in VISIBILITIES:
            shown = ", ".join(ast.unparse(a) for a in args)
            info.problems.append(f"{info.where}: visibility({shown}) must be one of "
                                 f"{', '.join(repr(v) for v in VISIBILITIES)}")


def collect_tests(assignment: Assignment) -> tuple[list[TestInfo], list[str]]:
    """The assignment's test functions, public then hidden, and the problems found reading them."""
    tests: list[TestInfo] = []
    problems: list[str] = []
    for suite in SUITES:
        folder = assignment.public_tests if suite == "public" else assignment.hidden_tests
        for path in sorted(folder.rglob("test_*.py")) if folder.is_dir() else []:
            found, errors = _read_file(path, suite, f"{suite}/{path.relative_to(folder).as_posix()}")
            tests += found
            problems += errors
    return tests, problems


def lint_tests(assignment: Assignment) -> tuple[list[TestInfo], list[str]]:
    """The tests, and every lint problem (the rules in the module docstring), one line each."""
    tests, problems = collect_tests(assignment)
    for t in tests:
        problems += t.problems
    by_name: dict[str, list[TestInfo]] = {}
    for t in tests:
        by_name.setdefault(t.name, []).append(t)
    for name, same in by_name.items():
        if len(same) > 1:
            problems.append(f"test name {name} is used {len(same)} times: "
                            + ", ".join(f"{t.file}:{t.line}" for t in same))
    if not tests:
        problems.append("no tests in tests/public or tests/hidden")
    return tests, problems


@dataclass(frozen=True)
class Summary:
    """What `grade list` shows for one assignment."""

    points: float  # the most the assignment can score (points x parametrize cases)
    public: int  # tests (parametrize cases counted)
    hidden: int
    exact: bool  # False when some parametrize list is not static (then counted once)


def summarize(assignment: Assignment) -> Summary:
    tests, _ = collect_tests(assignment)
    points = sum((t.points if t.points is not None else 1.0) * (t.cases or 1) for t in tests)
    if assignment.model is not None:  # the model part (grader.judge.model_scoring), scored after the tests
        points += assignment.model.points
    return Summary(points=points,
                   public=sum(t.cases or 1 for t in tests if t.suite == "public"),
                   hidden=sum(t.cases or 1 for t in tests if t.suite == "hidden"),
                   exact=all(t.cases is not None for t in tests))


# --------------------------------------------------------------------------- validation


@dataclass
class Report:
    """The outcome of `validate_assignment`: problems, one line each, and the numbers."""

    assignment: str
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    solution_score: tuple[float, float] | None = None
    starter_score: tuple[float, float] | None = None
    stub_score: tuple[float, float] | None = None  # the mutating stub's (mutating_stub.py)
    tests: tuple[int, int] = (0, 0)  # public, hidden (results of the solution run)
    hidden_seconds: float | None = None  # wall time of the hidden tests against the solution
    seconds: float = 0.0  # the whole validation
    misconceptions: str = ""  # grader.authoring.proof's summary, "" without a catalogue

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        parts = ["ok" if self.ok else f"{len(self.violations)} problem(s)"]
        if self.solution_score:
            parts.append("solution {:g}/{:g}".format(*self.solution_score))
        if self.starter_score:
            parts.append("starter {:g}/{:g}".format(*self.starter_score))
        if self.stub_score:
            parts.append("mutating stub {:g}/{:g}".format(*self.stub_score))
        parts.append(f"tests: {self.tests[0]} public, {self.tests[1]} hidden")
        if self.hidden_seconds is not None:
            parts.append(f"hidden suite {self.hidden_seconds:.2f} s on the solution")
        if self.misconceptions:
            parts.append(self.misconceptions)
        parts.append(f"validated in {self.seconds:.1f} s")
        return "; ".join(parts)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _base_name(name: str) -> str:
    return name.split("[", 1)[0]


class _Clock:
    """on_test callback: the wall time between consecutive results, added up per suite."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds = {s: 0.0 for s in SUITES}

    def cell(self, _run: Any) -> None:
        self.last = time.monotonic()

    def test(self, result: Any) -> None:
        now = time.monotonic()
        self.seconds[result.suite] = self.seconds.get(result.suite, 0.0) + now - self.last
        self.last = now


def _check_starter_file(assignment: Assignment, report: Report) -> None:
    from grader.authoring.assign import AssignError, assign
    from grader.course.notebook import BadNotebook, read_notebook

    try:
        solution = read_notebook(assignment.solution)
    except BadNotebook as e:
        report.violations.append(f"solution: {e}")
        return
    own = assignment_id_of(solution)
    if own != assignment.id:
        report.violations.append(f"solution: metadata.dlgrade.assignment is {own!r}, not {assignment.id!r}")
    try:
        expected = assign(solution, assignment.id)
    except AssignError as e:
        report.violations.append(f"solution: {e}")
        return
    try:
        starter = read_notebook(assignment.starter)
    except BadNotebook as e:
        report.violations.append(f"starter: {e}")
        return
    if _normalized(starter) != _normalized(expected):
        report.violations.append(
            f"starter: {assignment.starter.name} is not the stripped solution; run "
            f"`grade assign {assignment.solution} -o {assignment.starter}`")
    report.violations += question_problems(solution, starter, {t.name for t in collect_tests(assignment)[0]})


def question_problems(solution: dict[str, Any], starter: dict[str, Any], tests: set[str]) -> list[str]:
    """What is wrong with the manually graded questions (docstring rule 6); [] when nothing."""
    from grader.manual.questions import (
        ANSWER_STUB,
        QuestionError,
        questions_of,
        rubric_problems,
        split_written,
    )

    try:
        questions = questions_of(solution)
    except QuestionError as e:
        return [f"solution: {e}"]
    out = []
    in_starter = {}
    for index, cell in enumerate(starter.get("cells", [])):
        meta = cell.get("metadata", {}).get("dlgrade", {}) if isinstance(cell.get("metadata"), dict) else {}
        q = meta.get("question") if isinstance(meta, dict) else None
        if isinstance(q, dict) and isinstance(q.get("id"), str):
            in_starter[q["id"]] = cell
    for q in questions:
        out += [f"solution: {line}" for line in rubric_problems(q)]
        cell = in_starter.get(q.id)
        if cell is None:
            out.append(f"starter: question {q.id} (solution cell {q.cell}) is not in the starter")
        elif q.kind == "written":
            src = cell.get("source", "")
            parts = split_written("".join(src) if isinstance(src, list) else str(src))
            if parts is None or parts[1] != ANSWER_STUB:
                out.append(f"starter: question {q.id}: the answer is not blanked to {ANSWER_STUB}")
        for e in q.evidence:
            if isinstance(e, dict) and e["test"] not in tests:
                out.append(f"solution: question {q.id}: evidence names test {e['test']!r}, which no test "
                           "file defines")
    return out


def _normalized(nb: dict[str, Any]) -> Any:
    """The notebook as its file would hold it (sources split into lines, transient keys dropped)."""
    from grader.authoring.assign import dumps

    return json.loads(dumps(nb))


def _grade(assignment: Assignment, path: Path, clock: _Clock | None, sandbox: str,
           stub: bool | None = None) -> Any:
    """Grade the notebook at `path`; `stub`: its mutating stub (True) or its zeros stub (False)."""
    from grader.authoring.mutating_stub import mutating_stub
    from grader.course.notebook import BadNotebook, read_notebook
    from grader.judge.pipeline import BadInput, grade

    try:
        nb = read_notebook(path) if stub is None else mutating_stub(read_notebook(path), mutate=stub)
        return grade(nb, assignment, notebook_name=path.name, mode="submit", sandbox=sandbox,
                     on_cell=clock.cell if clock else None, on_test=clock.test if clock else None,
                     files_from_notebook=True)  # a [model] part scores the files the notebook saved
    except (BadNotebook, BadInput) as e:
        return str(e)


def validate_assignment(assignment: Assignment, sandbox: str = "process", variants: bool = False,
                        on_run: Callable[[str], None] | None = None) -> Report:
    """Lint, grade the solution and the starter, check the misconceptions (with `variants`, by
    grading every variant; `on_run(variant id)` before each); see the module docstring."""
    from grader.authoring.proof import prove

    started = time.monotonic()
    report = Report(assignment.id)
    tests, problems = lint_tests(assignment)
    report.violations += problems
    _check_starter_file(assignment, report)
    from grader.kit import verify

    kit_static = verify.static_problems(assignment)
    report.violations += kit_static

    # The solution: full marks, every cell running, every test run.
    clock = _Clock()
    result = _grade(assignment, assignment.solution, clock, sandbox)
    solution_tests = None if isinstance(result, str) else {t.name for t in result.tests}
    if isinstance(result, str):
        report.violations.append(f"solution: cannot grade: {result}")
    else:
        report.solution_score = (result.score, result.max_score)
        report.tests = (sum(t.suite == "public" for t in result.tests),
                        sum(t.suite == "hidden" for t in result.tests))
        report.hidden_seconds = round(clock.seconds["hidden"], 3)
        for cell in result.cells:
            if cell.status != "ok":
                report.violations.append(f"solution: cell {cell.index} {cell.status}: {_one_line(cell.message)}")
        for t in result.tests:
            if t.status == "skipped":  # e.g. an optional package missing here: not the solution's fault
                report.notes.append(f"solution: {t.suite} test {t.name} {_one_line(t.message)}")
            elif t.status != "passed" or t.score < t.max_score:
                report.violations.append(f"solution: {t.suite} test {t.name} {t.status}, "
                                         f"{t.score:g}/{t.max_score:g}: {_one_line(t.message)}")
        ran = {(t.suite, _base_name(t.name)) for t in result.tests}
        missing: dict[str, list[str]] = {}
        for t in tests:
            if (t.suite, t.name) not in ran:
                missing.setdefault(t.file, []).append(t.name)
        for file, names in missing.items():
            report.violations.append(
                f"{file}: {len(names)} test(s) did not run ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); "
                "does the file import? (one test file that pytest cannot collect stops every test)")
        report.notes += [_one_line(e) for e in result.errors]
        for t in result.tests:
            for d in t.diagnoses:
                report.violations.append(f"solution: test {t.name} diagnosed with misconception {d['name']}")
        if not kit_static and assignment.starter.exists():  # the public tests, run from the kit
            try:
                report.violations += verify.kit_differences(assignment, assignment.solution, result, sandbox)
            except Exception as e:  # KitError, BadInput: the kit cannot be made or read
                report.violations.append(f"kit: cannot check the solution from its kit: {_one_line(e)}")

    # The starter: no hidden test may give points for the stubs.
    if assignment.starter.exists():
        result = _grade(assignment, assignment.starter, None, sandbox)
        if isinstance(result, str):
            report.violations.append(f"starter: cannot grade: {result}")
        else:
            report.starter_score = (result.score, result.max_score)
            allowed = {t.name for t in tests if t.suite == "hidden" and t.starter_passes}
            for t in result.tests:
                if t.suite == "hidden" and t.score > 0 and _base_name(t.name) not in allowed:
                    report.violations.append(
                        f"starter: hidden test {t.name} scores {t.score:g}/{t.max_score:g} on the starter; "
                        f"it must fail on the stubs (or be marked @pytest.mark.{STARTER_PASSES})")
        _check_mutating_stub(assignment, tests, sandbox, report)

    proof = prove(assignment, solution_tests, variants, sandbox, on_run)
    report.violations += proof.problems
    report.misconceptions = proof.summary()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _check_mutating_stub(assignment: Assignment, tests: list[TestInfo], sandbox: str, report: Report) -> None:
    """No hidden test may give more points to functions that zero their arguments in place than to
    the same functions returning the same zeros with their arguments left alone."""
    if not assignment.solution.exists():
        return
    mutating = _grade(assignment, assignment.solution, None, sandbox, stub=True)
    zeros = _grade(assignment, assignment.solution, None, sandbox, stub=False)
    for result in (mutating, zeros):
        if isinstance(result, str):
            report.violations.append(f"mutating stub: cannot grade: {result}")
            return
    report.stub_score = (mutating.score, mutating.max_score)
    baseline = {t.name: t.score for t in zeros.tests}
    for t in mutating.tests:
        if t.suite == "hidden" and t.score > baseline.get(t.name, 0.0):
            report.violations.append(
                f"mutating stub: hidden test {t.name} scores {t.score:g}/{t.max_score:g} on functions that "
                f"zero their arguments in place (and {baseline.get(t.name, 0.0):g} when they leave them alone); "
                "compute expected values from the test's own copies (arguments are sent as copies; "
                "InPlace(x) shows in-place changes)")
