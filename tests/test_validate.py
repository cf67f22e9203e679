"""`grade validate` and `grade list` (grader/authoring/validate.py).

Two real validations (each grades the solution and the starter, about 3 s): the shipped
backprop assignment must pass, and a broken copy of it in a temporary course must fail with
every problem on its own line. The lint and the test counting are checked statically.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.authoring.validate import lint_tests, summarize
from grader.cli import main
from grader.course.assignment import Assignment

REPO = Path(__file__).resolve().parent.parent


def copy_course(dest: Path) -> Path:
    """A course folder holding a copy of backprop, reference/ and templates/."""
    (dest / "assignments").mkdir(parents=True)
    shutil.copytree(REPO / "assignments" / "backprop", dest / "assignments" / "backprop",
                    ignore=shutil.ignore_patterns("__pycache__", "examples"))
    shutil.copytree(REPO / "reference", dest / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", dest / "templates")
    return dest


def edit(path: Path, find: str, replace: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(find) == 1, f"{path.name}: {find!r} occurs {text.count(find)} times"
    path.write_text(text.replace(find, replace), encoding="utf-8")


def run(*args: str, env: dict | None = None):
    return CliRunner(env={"DLGRADE_COURSE": None, **(env or {})}).invoke(main, list(args))


# --------------------------------------------------------------------------- real validations


@pytest.mark.slow
def test_validate_passes_for_the_shipped_course(tmp_path: Path) -> None:
    """`grade validate` with no argument, in a fresh interpreter: every assignment of the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("DLGRADE_COURSE", "PYTHONPATH")}
    result = subprocess.run([sys.executable, "-m", "grader.cli", "validate"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)  # 7 assignments: ~5.5 min on a loaded 2-core machine (each solution also from its kit)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split(":", 1)[0]: line for line in result.stdout.strip().splitlines()}
    expected = {"backprop": ("solution 45/45; starter 0/45", "tests: 5 public, 36 hidden"),
                "cnn": ("solution 35/35; starter 0/35", "tests: 5 public, 22 hidden"),  # 4: the model part
                "regularization": ("solution 44/44; starter 0/44", "tests: 5 public, 29 hidden"),
                "attention": ("solution 73/73; starter 1/73", "tests: 9 public, 38 hidden"),
                "optim": ("solution 43/43; starter 0/43", "tests: 5 public, 30 hidden"),
                "rnn": ("solution 43/43; starter 0/43", "tests: 5 public, 23 hidden"),
                # finetune's torchvision test skips itself (0 points) where torchvision is missing
                "finetune": (("solution 37/37; starter 1/37" if importlib.util.find_spec("torchvision")
                              else "solution 36/36; starter 1/36"), "tests: 3 public, 18 hidden")}
    assert set(expected) <= set(lines), result.stdout
    assert all(": ok; " in line for line in lines.values()), result.stdout
    for name, (scores, counts) in expected.items():
        line = lines[name]
        assert line.startswith(f"{name}: ok; {scores}"), result.stdout
        assert counts in line, result.stdout
        assert "hidden suite " in line and " s on the solution" in line


EXTRA_TESTS = '''
import numpy as np
import pytest


@pytest.mark.points(1)
def test_numpy_is_there(submission):
    """Passes on the starter (np is provided code): a violation."""
    assert submission.np.zeros(2).shape == (2,), "np"


@pytest.mark.points(1)
@pytest.mark.starter_passes
def test_allowed_on_starter(submission):
    """Passes on the starter too, but says so: fine."""
    assert submission.np.ones(1)[0] == 1.0, "np"


def test_without_points(submission):
    out, _ = submission.relu_forward(np.ones(2))
    assert out.sum() == 2.0, "relu"


@pytest.mark.points(1)
def test_without_assertion(submission):
    submission.relu_forward(np.ones(2))


@pytest.mark.points(2)
@pytest.mark.visibility("secret")
def test_bad_visibility(submission):
    out, _ = submission.relu_forward(-np.ones(2))
    assert out.sum() == 0.0, "relu"


@pytest.mark.points(1)
def test_trusts_what_the_code_changed(submission):
    """Expected value from the array as the student's code left it: a violation (mutating stub)."""
    from grader.judge.remote import InPlace

    x = InPlace(np.arange(-2.0, 3.0))
    out, _ = submission.relu_forward(x)
    assert np.array_equal(out, np.maximum(x.after, 0)), "relu"
'''


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory):
    """Validate a copy of backprop with one problem of each kind; returns (result, course)."""
    course = copy_course(tmp_path_factory.mktemp("course"))
    root = course / "assignments" / "backprop"
    # a bug in the solution (inside a solution block, so the starter stays the stripped solution)
    edit(root / "solution.ipynb", '"    db = dout.sum(axis=0)\\n"', '"    db = np.zeros_like(b)\\n"')
    # an existing test file changed in place: the copy's version must be the one that runs
    edit(root / "tests" / "hidden" / "test_conceptual.py",
         'assert_answer_choice(submission, "ANSWER_DEAD_RELU", "b")',
         'assert_answer_choice(submission, "ANSWER_DEAD_RELU", "a")')
    (root / "tests" / "hidden" / "test_extra.py").write_text(EXTRA_TESTS, encoding="utf-8")
    result = run("validate", "backprop", env={"DLGRADE_COURSE": str(course)})
    return result, course


def _lines_with(result, *needles: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if all(n in line for n in needles)]


def test_broken_copy_exits_1(broken) -> None:
    result, _ = broken
    assert result.exit_code == 1, result.output
    assert all(line.startswith("backprop: ") for line in result.stdout.splitlines()), result.stdout
    assert "problem(s)" in result.stdout.splitlines()[-1]


def test_solution_bug_is_reported(broken) -> None:
    result, _ = broken
    lines = _lines_with(result, "solution: hidden test test_affine_backward_db failed, 0/1", "db")
    assert len(lines) == 1, result.stdout


def test_edited_test_file_is_the_one_that_runs(broken) -> None:
    result, _ = broken
    assert _lines_with(result, "solution: hidden test test_answer_dead_relu failed"), result.stdout


def test_starter_passing_a_hidden_test_is_reported(broken) -> None:
    result, _ = broken
    assert _lines_with(result, "starter: hidden test test_numpy_is_there scores 1/1 on the starter",
                       "starter_passes"), result.stdout
    assert not _lines_with(result, "test_allowed_on_starter"), result.stdout


def test_lint_problems_are_reported(broken) -> None:
    result, _ = broken
    assert _lines_with(result, "hidden/test_extra.py:", "test_without_points: no @pytest.mark.points"), result.stdout
    assert _lines_with(result, "hidden/test_extra.py:", "test_without_assertion: asserts nothing"), result.stdout
    assert _lines_with(result, "test_bad_visibility: visibility('secret') must be one of"), result.stdout


def test_a_test_trusting_changed_arguments_is_reported(broken) -> None:
    """Issue 18, finding 1: functions that zero their arguments and return zeros must not pass."""
    result, _ = broken
    assert _lines_with(result, "mutating stub: hidden test test_trusts_what_the_code_changed scores 1/1",
                       "zero their arguments in place"), result.stdout
    assert not _lines_with(result, "mutating stub: hidden test test_affine"), result.stdout
    assert "; mutating stub " in result.stdout.splitlines()[-1], result.stdout


def test_nothing_else_is_reported(broken) -> None:
    result, _ = broken
    expected = ("test_affine_backward_db", "test_affine_backward_numeric", "test_affine_backward_small",
                "test_two_layer_net_grads", "test_best_net_accuracy", "test_answer_dead_relu",
                "test_numpy_is_there", "test_without_points", "test_without_assertion",
                "test_bad_visibility", "test_trusts_what_the_code_changed")
    for line in result.stdout.splitlines()[:-1]:
        assert any(name in line for name in expected), f"unexpected: {line}"


@pytest.mark.slow
def test_unimportable_test_file_is_reported(tmp_path: Path) -> None:
    """pytest stops the whole run at a test file it cannot import: validate names the file."""
    course = copy_course(tmp_path)
    (course / "assignments" / "backprop" / "tests" / "hidden" / "test_unimportable.py").write_text(
        "import pytest\nimport no_such_module_anywhere\n\n\n@pytest.mark.points(1)\n"
        "def test_never_collected(submission):\n    assert submission.relu_forward, 'relu'\n",
        encoding="utf-8")
    result = run("validate", "--course", str(course))
    assert result.exit_code == 1, result.output
    assert _lines_with(result, "hidden/test_unimportable.py: 1 test(s) did not run (test_never_collected)",
                       "does the file import?"), result.stdout
    assert _lines_with(result, "public/test_public.py: 5 test(s) did not run"), result.stdout


@pytest.mark.slow
def test_a_test_that_skips_itself_is_a_note(tmp_path: Path) -> None:
    """A test may skip itself where an optional package is missing (0 points): not a violation."""
    course = copy_course(tmp_path)
    (course / "assignments" / "backprop" / "tests" / "hidden" / "test_optional.py").write_text(
        "import pytest\n\n\n@pytest.mark.points(1)\ndef test_needs_a_package(submission):\n"
        "    if submission.relu_forward is not None:\n        pytest.skip('no such package here')\n"
        "    assert False, 'unreachable'\n", encoding="utf-8")
    result = run("validate", "--course", str(course))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("backprop: ok; solution 45/45; starter 0/45"), result.stdout
    assert "test_needs_a_package skipped: no such package here" in result.stderr, result.stderr


def test_stale_starter_and_bad_markers(tmp_path: Path) -> None:
    course = copy_course(tmp_path)
    root = course / "assignments" / "backprop"
    edit(root / "starter.ipynb", '"ANSWER_DEAD_RELU = None  # YOUR CODE HERE\\n",',
         '"ANSWER_DEAD_RELU = \\"b\\"\\n",')
    from grader.authoring.validate import Report, _check_starter_file
    from grader.course.assignment import load_assignment

    report = Report("backprop")
    _check_starter_file(load_assignment("backprop", course), report)
    assert len(report.violations) == 1 and "is not the stripped solution" in report.violations[0]
    assert "grade assign" in report.violations[0]

    edit(root / "solution.ipynb", '"    dx = dout * (x > 0)\\n",\n    "    # END SOLUTION\\n",',
         '"    dx = dout * (x > 0)\\n",')
    report = Report("backprop")
    _check_starter_file(load_assignment("backprop", course), report)
    assert len(report.violations) == 1 and "# BEGIN SOLUTION has no # END SOLUTION" in report.violations[0]


def test_unknown_assignment_exits_2() -> None:
    result = run("validate", "nope", "--course", str(REPO))
    assert result.exit_code == 2 and result.stderr.startswith("error: unknown assignment 'nope'")


# --------------------------------------------------------------------------- static reading


def fake_assignment(tmp_path: Path, public: str = "", hidden: str = "") -> Assignment:
    root = tmp_path / "assignments" / "demo"
    for suite, text in (("public", public), ("hidden", hidden)):
        (root / "tests" / suite).mkdir(parents=True)
        if text:
            (root / "tests" / suite / "test_x.py").write_text(textwrap.dedent(text), encoding="utf-8")
    return Assignment(id="demo", title="Demo", root=root)


def problems_of(assignment: Assignment) -> list[str]:
    return lint_tests(assignment)[1]


def test_assertion_forms_accepted(tmp_path: Path) -> None:
    a = fake_assignment(tmp_path, hidden='''
        import pytest
        from numpy.testing import assert_allclose
        from grader.course.testing import assert_close

        def _helper(x):
            return _deeper(x)

        def _deeper(x):
            assert x, "x"

        pytestmark = pytest.mark.points(1)

        def test_assert(): assert 1, "one"
        def test_helper_call(): assert_close(1, 1, name="x")
        def test_numpy_helper(): assert_allclose(1, 1)
        def test_raises():
            with pytest.raises(ValueError):
                int("x")
        def test_fail(): pytest.fail("always")
        def test_credit(credit): credit.award(0.5, "half")
        def test_raise_assertion():
            raise AssertionError("no")
        def test_local_helper(): _helper(1)

        class TestGroup:
            def test_method(self): assert True, "t"
    ''')
    assert problems_of(a) == []


def test_lint_finds_each_problem(tmp_path: Path) -> None:
    a = fake_assignment(tmp_path, public='''
        import pytest

        def _quiet(x):
            return x

        @pytest.mark.points(1)
        def test_calls_quiet_helper(): _quiet(1)

        @pytest.mark.points(0)
        def test_zero_points(): assert 1, "x"

        @pytest.mark.points("two")
        def test_string_points(): assert 1, "x"

        @pytest.mark.points(1)
        @pytest.mark.visibility()
        def test_empty_visibility(): assert 1, "x"

        def test_nothing(): pass
    ''', hidden='''
        import pytest

        @pytest.mark.points(1)
        def test_zero_points(): assert 1, "x"
    ''')
    problems = problems_of(a)
    assert any("test_calls_quiet_helper: asserts nothing" in p for p in problems)
    assert any("test_zero_points: points(0) must be one positive number" in p for p in problems)
    assert any("test_string_points: points('two')" in p for p in problems)
    assert any("test_empty_visibility: visibility() must be one of" in p for p in problems)
    assert any("test_nothing: no @pytest.mark.points" in p for p in problems)
    assert any("test_nothing: asserts nothing" in p for p in problems)
    assert any(p.startswith("test name test_zero_points is used 2 times: public/test_x.py:")
               and "hidden/test_x.py:" in p for p in problems), problems
    assert len(problems) == 7, problems


def test_syntax_error_in_test_file_is_a_problem(tmp_path: Path) -> None:
    a = fake_assignment(tmp_path, hidden="def test_broken(:\n")
    assert any("hidden/test_x.py: cannot read the test file: SyntaxError" in p for p in problems_of(a))


def test_no_tests_is_a_problem(tmp_path: Path) -> None:
    assert problems_of(fake_assignment(tmp_path)) == ["no tests in tests/public or tests/hidden"]


def test_counts_and_points_with_parametrize(tmp_path: Path) -> None:
    a = fake_assignment(tmp_path, public='''
        import pytest

        CASES = [1, 2, 3]

        @pytest.mark.points(2)
        @pytest.mark.parametrize("x", CASES)
        def test_listed(x): assert x, "x"

        @pytest.mark.points(0.5)
        @pytest.mark.parametrize("a", range(4))
        @pytest.mark.parametrize("b", [pytest.param(1, id="one"), 2])
        def test_stacked(a, b): assert a or b, "x"
    ''', hidden='''
        import pytest

        @pytest.mark.points(3)
        def test_plain(): assert 1, "x"

        class TestThings:
            pytestmark = [pytest.mark.points(1)]

            def test_a(self): assert 1, "x"

            @pytest.mark.points(4)
            def test_b(self): assert 1, "x"
    ''')
    s = summarize(a)
    assert (s.public, s.hidden, s.points, s.exact) == (3 + 8, 3, 2 * 3 + 0.5 * 8 + 3 + 1 + 4, True)


def test_counts_are_marked_inexact_for_dynamic_parametrize(tmp_path: Path) -> None:
    a = fake_assignment(tmp_path, public='''
        import pytest

        def cases():
            return [1, 2]

        @pytest.mark.points(1)
        @pytest.mark.parametrize("x", cases())
        def test_dynamic(x): assert x, "x"
    ''')
    s = summarize(a)
    assert (s.public, s.hidden, s.exact) == (1, 0, False)


def test_list_shows_points_tests_and_gpu(tmp_path: Path) -> None:
    result = run("list", "--course", str(REPO))
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("backprop "))
    assert "(45 points; tests: 5 public, 36 hidden; gpu: none)" in line, line


def test_list_says_when_counts_are_lower_bounds(tmp_path: Path) -> None:
    root = tmp_path / "assignments" / "dyn"
    (root / "tests" / "public").mkdir(parents=True)
    (root / "assignment.toml").write_text('id = "dyn"\ntitle = "Dynamic"\ngpu = "required"\n', encoding="utf-8")
    (root / "tests" / "public" / "test_p.py").write_text(
        "import pytest\n\n\n@pytest.mark.points(2)\n@pytest.mark.parametrize('x', list('abc'))\n"
        "def test_p(x):\n    assert x, 'x'\n", encoding="utf-8")
    result = run("list", "--course", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "dyn              Dynamic  (2 points; tests: 1 public, 0 hidden; gpu: required; "
        "at least: some parametrize cases are not static)")
