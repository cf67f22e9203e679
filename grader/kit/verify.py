"""Whether an assignment's public tests run from its kit (`grade validate` calls these).

- `static_problems`: the public test files read with `ast` (nothing runs): no test, helper or
  fixture may ask for the judge's own fixtures (`reference`: the solution code; `heldout`:
  held-out data; `rng`: seeded with the course secret, so the kit would draw other inputs),
  nor import the course's reference modules or anything from tests/hidden.
- `kit_differences`: the kit is built into a temporary folder and the notebook is graded from
  it (public tests, as `grade check NB --kit` does); each test's status, score and message
  must equal the course's.
- `grade_with_kit`: one grading of a notebook against the course, and the kit's own public
  test files run against the same executed notebook once the course's tests have their
  verdicts: the variant suites compare every variant so, without executing any notebook twice.
"""

from __future__ import annotations

import ast
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.course.assignment import Assignment

#: Fixtures of the judge (grader.judge.pytest_plugin) that a kit cannot provide.
JUDGE_ONLY_FIXTURES = ("reference", "heldout", "rng")


def static_problems(assignment: Assignment) -> list[str]:
    """One line per use of something a kit does not hold, in tests/public/."""
    problems = []
    reference_modules = {p.stem for p in (Path(assignment.course) / "reference").glob("*.py")}
    folder = assignment.public_tests
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
        file = f"public/{path.relative_to(folder).as_posix()}"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # lint_tests reports it
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
                for name in args:
                    if name in JUDGE_ONLY_FIXTURES:
                        problems.append(
                            f"{file}:{node.lineno} {node.name}: uses the judge's `{name}` fixture, which a "
                            "student's kit cannot provide; compare with literals or torch "
                            "(docs/authoring.md, public tests run from the kit)")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    top = name.split(".")[0]
                    if top in reference_modules or top == "reference" or "hidden" in name.split("."):
                        problems.append(f"{file}:{node.lineno}: imports {name}, which is not in the kit")
    return problems


#: An object's address in a repr (`<... at 0x7f3a...>`): it differs between any two runs.
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,16}\b")


def _verdicts(tests: Any) -> dict[str, tuple[str, float, float, str]]:
    return {t.name: (t.status, t.score, t.max_score, _ADDRESS.sub("0x...", t.message))
            for t in tests if t.suite == "public"}


def kit_result(assignment: Assignment, notebook: Path, sandbox: str = "process") -> Any:
    """Grade `notebook` from a kit of `assignment` built into a temporary folder (public tests)."""
    from grader.course.notebook import read_notebook
    from grader.judge.pipeline import grade
    from grader.kit.build import write_kit
    from grader.kit.load import load_kit

    with tempfile.TemporaryDirectory(prefix="dlgrade-kit-") as tmp:
        folder = write_kit(assignment, Path(tmp) / assignment.id)
        spec = load_kit(folder)
        return grade(read_notebook(notebook), spec, notebook_name=Path(notebook).name, mode="check",
                     sandbox=sandbox)


def kit_differences(assignment: Assignment, notebook: Path, course_result: Any, sandbox: str = "process",
                    kit: Any = None) -> list[str]:
    """Where the kit's verdicts on `notebook` differ from `course_result`'s public tests."""
    kit = kit if kit is not None else kit_result(assignment, notebook, sandbox)
    return verdict_differences(course_result.tests, kit.tests)


def verdict_differences(course_tests: Any, kit_tests: Any) -> list[str]:
    """Where the kit's public verdicts differ from the course's: one line per test (objects'
    addresses in messages count as equal: no two runs share them)."""
    mine, theirs = _verdicts(kit_tests), _verdicts(course_tests)
    out = []
    for name in sorted(set(mine) | set(theirs)):
        if name not in mine:
            out.append(f"kit: public test {name} did not run from the kit")
        elif name not in theirs:
            out.append(f"kit: public test {name} ran from the kit only")
        elif mine[name] != theirs[name]:
            a, b = theirs[name], mine[name]
            out.append(f"kit: public test {name} differs from the course: {a[0]} {a[1]:g}/{a[2]:g} "
                       f"{a[3][:120]!r} here, {b[0]} {b[1]:g}/{b[2]:g} {b[3][:120]!r} from the kit")
    return out


@dataclass(frozen=True)
class CourseAndKit:
    """A notebook graded against the course, and its kit's public tests on the same execution."""

    result: Any  # the course's GradingResult, exactly as without the kit
    kit_tests: tuple[Any, ...]  # TestResults of the kit's tests/public
    differences: tuple[str, ...]  # verdict_differences(result.tests, kit_tests)
    kit_seconds: float = 0.0  # wall time the kit added to the grading (a fresh check included)
    fresh: bool = False  # the shared run differed, so the kit was checked on a fresh execution


def grade_with_kit(notebook: Path, assignment: Assignment, kit: Assignment, *, mode: str = "submit",
                   sandbox: str = "process", **grading: Any) -> CourseAndKit:
    """Grade `notebook` against `assignment` (the course), then run `kit`'s public tests (a kit
    folder's Assignment, `load_kit`) against the same worker, with the kit's own settings and
    fixtures: no reference, no secret, as on a student's machine.

    The course's public tests run first on the freshly executed notebook (in either mode), as in
    `grade check`; the kit's run after every course test and the model's scoring, so nothing
    they do can change the course's result. Where a verdict differs, it may depend on what ran
    before it (student code drawing from NumPy's global generator): the notebook is then graded
    from the kit alone, on a fresh execution, as a student's `grade check --kit` does, and that
    is compared with the course's `grade check` on another fresh execution (`fresh`). A difference left means the kit would tell a student something the
    judge would not (e.g. a wrong recorded value in the kit's tests). `grading`: more options of
    the course's grading (`pipeline.grade`, e.g. files_from_notebook).
    """
    from grader.course.notebook import read_notebook
    from grader.judge.pipeline import grade
    from grader.judge.pytest_plugin import run_tests

    ran: list[Any] = []
    failure: list[BaseException] = []
    seconds = [0.0]

    def after_tests(plugin_for: Any) -> None:
        start = time.perf_counter()
        try:
            ran.extend(run_tests(plugin_for(kit, {kit.public_tests.resolve(): "public"}), [kit.public_tests]))
        except BaseException as e:  # noqa: BLE001 - re-raised below, not turned into a failed grading
            failure.append(e)
        seconds[0] = time.perf_counter() - start

    nb = read_notebook(notebook)
    result = grade(nb, assignment, notebook_name=Path(notebook).name, mode=mode, sandbox=sandbox,
                   after_tests=after_tests, **grading)
    if failure:
        raise failure[0]
    if result.extra.get("grading_failed"):
        return CourseAndKit(result, (), ("the grading failed on the judge's side: " + "; ".join(result.errors),))
    differences = verdict_differences(result.tests, ran)
    if not differences:
        return CourseAndKit(result, tuple(ran), (), round(seconds[0], 3))
    start = time.perf_counter()
    alone = grade(nb, kit, notebook_name=Path(notebook).name, mode="check", sandbox=sandbox)
    # the judge's own `grade check` on a fresh execution too: in submit mode the hidden tests' calls
    # into the student's code come between the public ones and move NumPy's global generator
    course = grade(nb, assignment, notebook_name=Path(notebook).name, mode="check", sandbox=sandbox, **grading)
    return CourseAndKit(result, alone.tests, tuple(verdict_differences(course.tests, alone.tests)),
                        round(seconds[0] + time.perf_counter() - start, 3), fresh=True)
