"""The `grade` command line.

Exit codes: 0 when the notebook was graded (whatever its score); 2 when the input could not be
graded at all (missing or malformed notebook, unknown or wrong assignment), with one line on
stderr saying why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader import __version__

EXIT_BAD_INPUT = 2

_course_option = click.option(
    "--course", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Course folder holding assignments/ and reference/ (default: $DLGRADE_COURSE, "
         "then the installed copy, then this checkout).")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


class _Progress:
    """Short progress lines on stderr: one per cell that did not run cleanly, a dot per test."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tests = 0

    def cell(self, run) -> None:  # noqa: ANN001
        if not self.quiet and run.status != "ok":
            click.echo(f"  cell {run.index}: {run.status}: {run.message}", err=True)

    def test(self, result) -> None:  # noqa: ANN001
        self.tests += 1
        if not self.quiet:
            mark = {"passed": ".", "partial": "p", "failed": "F", "error": "E", "skipped": "s"}[result.status]
            click.echo(mark, err=True, nl=False)

    def done(self) -> None:
        if not self.quiet and self.tests:
            click.echo("", err=True)


def _grade_command(mode: str, notebook: Path, assignment: str | None, out: Path | None,
                   as_json: bool, sandbox: str, course: Path | None, instructor: bool) -> None:
    from grader.judge import BadInput, grade, prepare

    try:
        nb, spec = prepare(notebook, assignment, course)
    except BadInput as e:
        _fail(str(e))
    out = out or notebook.parent / f"{notebook.stem}-{mode}"
    if not as_json:
        what = "public tests" if mode == "check" else "all tests"
        click.echo(f"Grading {notebook.name} for '{spec.id}' ({what}, {sandbox} sandbox)", err=True)
    progress = _Progress(quiet=as_json)
    try:
        result = grade(nb, spec, notebook_name=notebook.name, mode=mode, sandbox=sandbox,
                       on_cell=progress.cell, on_test=progress.test)
    except BadInput as e:
        _fail(str(e))
    progress.done()
    try:
        out.mkdir(parents=True, exist_ok=True)
        result_path = result.write(out / "result.json")
        from grader.assignment import templates_dir
        from grader.feedback import render_feedback

        feedback = render_feedback(result, nb, out / "feedback.html", templates=templates_dir(course),
                                   instructor=instructor)
    except OSError as e:
        _fail(f"cannot write results to {out}: {e.strerror or e}")
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    counts = {s: sum(t.status == s for t in result.tests) for s in ("passed", "partial", "failed", "error")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    click.echo(f"Score: {result.score:g} / {result.max_score:g}  ({summary})")
    for err in result.errors:
        click.echo(f"note: {err}")
    click.echo(f"Feedback: {feedback}")
    click.echo(f"Result:   {result_path}")


def _grade_options(f):  # noqa: ANN001, ANN201
    f = click.option("--instructor", is_flag=True,
                     help="Show every test message in the feedback, whatever its visibility.")(f)
    f = _course_option(f)
    f = click.option("--sandbox", type=click.Choice(["process", "docker"]), default="process",
                     show_default=True, help="Where the notebook runs.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout.")(f)
    f = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder for result.json and feedback.html (default: next to the notebook).")(f)
    f = click.option("--assignment", default=None,
                     help="Assignment id (default: the one in the notebook's metadata).")(f)
    f = click.argument("notebook", type=click.Path(path_type=Path))(f)
    return f


@click.group()
@click.version_option(__version__, prog_name="dlgrade")
def main() -> None:
    """dlgrade: grade deep-learning notebooks in a sandbox."""


@main.command()
@_grade_options
def submit(notebook: Path, assignment: str | None, out: Path | None, as_json: bool, sandbox: str,
           course: Path | None, instructor: bool) -> None:
    """Grade NOTEBOOK with the public and hidden tests."""
    _grade_command("submit", notebook, assignment, out, as_json, sandbox, course, instructor)


@main.command()
@_grade_options
def check(notebook: Path, assignment: str | None, out: Path | None, as_json: bool, sandbox: str,
          course: Path | None, instructor: bool) -> None:
    """Run only the public tests on NOTEBOOK (fast; for students, after every edit)."""
    _grade_command("check", notebook, assignment, out, as_json, sandbox, course, instructor)


@main.command()
@click.argument("assignment")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("data"))
@_course_option
def data(assignment: str, directory: Path, course: Path | None) -> None:
    """Write ASSIGNMENT's public data files into DIRECTORY (default ./data) for local Jupyter."""
    from grader import datasets
    from grader.assignment import AssignmentError, load_assignment

    try:
        spec = load_assignment(assignment, course)
    except AssignmentError as e:
        _fail(str(e))
    for path in datasets.write_public(spec.datasets, directory):
        click.echo(str(path))


@main.command(name="list")
@_course_option
def list_(course: Path | None) -> None:
    """List the assignments with their points, test counts and GPU needs."""
    from grader.assignment import AssignmentError, list_assignments

    try:
        specs = list_assignments(course)
    except AssignmentError as e:
        _fail(str(e))
    for spec in specs:
        public = len(list(spec.public_tests.glob("test_*.py")))
        hidden = len(list(spec.hidden_tests.glob("test_*.py")))
        click.echo(f"{spec.id:16} {spec.title}  (test files: {public} public, {hidden} hidden; gpu: {spec.gpu})")


if __name__ == "__main__":
    main()
