"""The `grade` command line.

Exit codes: 0 when the notebook was graded (whatever its score); 2 when the input could not be
graded at all (missing or malformed notebook, unknown or wrong assignment), with one line on
stderr saying why.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from grader.commands import batch as _batch
from grader.commands import lms as _lms
from grader.commands import regrades as _regrades
from grader.commands import report as _report
from grader.commands import serve as _serve
from grader.commands.common import course_option, fail, gpus_option, limit_option, parse_limit, sandbox_option
from grader.textsafe import one_line
from grader.version import __version__


class _Progress:
    """Short progress lines on stderr: one per cell that did not run cleanly, a dot per test."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tests = 0

    def cell(self, run) -> None:  # noqa: ANN001
        if not self.quiet and run.status != "ok":
            click.echo(f"  cell {run.index}: {one_line(run.status, 20)}: {one_line(run.message, 300)}", err=True)

    def test(self, result) -> None:  # noqa: ANN001
        self.tests += 1
        if not self.quiet:
            mark = {"passed": ".", "partial": "p", "failed": "F", "error": "E", "skipped": "s"}[result.status]
            click.echo(mark, err=True, nl=False)

    def done(self) -> None:
        if not self.quiet and self.tests:
            click.echo("", err=True)


def _grade_command(mode: str, notebook: Path, assignment: str | None, out: Path | None,
                   as_json: bool, sandbox: str, course: Path | None, instructor: bool,
                   gpus: str | None = None, limit: tuple[str, ...] = (), fmt: str = "dlgrade",
                   quiet: bool = False, kit: Path | None = None, db: str | None = None,
                   student: str | None = None) -> None:
    from grader.course.notebook import BadNotebook
    from grader.course.submission_files import submission_parts
    from grader.judge.pipeline import BadInput, grade, prepare

    if (db is None) != (student is None):
        fail("--db and --student go together: the gradebook, and whose grading it records")
    if student is not None:
        from grader.batch.single import check_student

        try:
            check_student(student)
        except ValueError as e:
            fail(str(e))

    try:
        notebook, files = submission_parts(notebook)  # a notebook, or a folder: notebook + model files
        kit = _kit_for(mode, notebook, course, kit)
        nb, spec = prepare(notebook, assignment, course) if kit is None else _prepare_kit(notebook, kit, assignment)
    except (BadInput, BadNotebook) as e:
        if fmt == "prairielearn":
            _prairielearn_ungradable(str(e), out or notebook.parent / f"{notebook.stem}-{mode}", as_json)
        fail(str(e))
    if limit:
        import dataclasses

        spec = dataclasses.replace(spec, limits=_override_limits(spec.limits, limit))
    if sandbox == "docker":
        _terminate_cleanly()
    out = out or notebook.parent / f"{notebook.stem}-{mode}"
    if not as_json:
        what = "public tests" if mode == "check" else "all tests"
        click.echo(f"Grading {one_line(notebook.name)} for '{spec.id}' ({what}, {sandbox} sandbox)", err=True)
    progress = _Progress(quiet=as_json)
    try:
        result = grade(nb, spec, notebook_name=notebook.name, mode=mode, sandbox=sandbox, gpus=gpus,
                       on_cell=progress.cell, on_test=progress.test, files=files)
    except BadInput as e:
        if fmt == "prairielearn":
            _prairielearn_ungradable(str(e), out, as_json)
        fail(str(e))
    progress.done()
    try:
        from grader.outputs import ensure_dir, refuse_links

        out = ensure_dir(out)
        refuse_links(out, "result.json", "feedback.html")  # before writing either
        page, result = _feedback_page(result, nb, course, instructor)  # first: its errors go in result.json
        result_path = result.write(out / "result.json")
        from grader.outputs import write_text

        feedback = write_text(out, "feedback.html", page)
        if fmt == "prairielearn":
            from grader.lms import prairielearn

            pl_path = prairielearn.write(out, pl_data := prairielearn.results_json(result))
    except OSError as e:
        fail(f"cannot write results to {out}: {e.strerror or e}")
    if db is not None and student is not None:
        _record(db, spec, student, notebook, result, result_path, feedback, sandbox)
    if as_json:
        click.echo(json.dumps(pl_data if fmt == "prairielearn" else result.to_json(), indent=2))
        return
    if not quiet:
        for line in _failures(result, instructor):
            click.echo(line)
    for line in _summary(result, feedback, result_path):
        click.echo(line)
    if fmt == "prairielearn":
        click.echo(f"PrairieLearn: {one_line(pl_path, 4000)}")


def _record(db: str, spec, student: str, notebook: Path, result, result_path: Path,  # noqa: ANN001
            feedback: Path, sandbox: str) -> None:
    """`--db`: the grading and the written and figure answers into the gradebook (stderr line)."""
    from grader.batch.single import record_submit
    from grader.course.notebook import MAX_NOTEBOOK_BYTES, BadNotebook
    from grader.gradebook.db import GradebookError
    from grader.manual.questions import QuestionError

    try:
        with open(notebook, "rb") as f:  # bounded: answers_from_bytes refuses more than the cap
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
        record_submit(db, spec, student, notebook, data, result, result_path, feedback, sandbox)
    except (GradebookError, QuestionError, BadNotebook, OSError) as e:
        fail(f"graded, but not recorded in the gradebook: {e}")
    click.echo(f"Recorded in the gradebook for student {one_line(student, 200)}", err=True)


def _kit_for(mode: str, notebook: Path, course: Path | None, kit: Path | None) -> Path | None:
    """The kit to check with: --kit, else (no --course, no $DLGRADE_COURSE) kit.json beside the notebook."""
    import os

    from grader.judge.pipeline import BadInput
    from grader.kit.load import find_kit

    if kit is not None:
        if mode == "submit":
            raise BadInput("a kit holds the public tests only: `grade submit` needs the course; "
                           "use `grade check NB --kit DIR`, and hand your notebook in")
        return kit
    if mode == "check" and course is None and not os.environ.get("DLGRADE_COURSE"):
        return find_kit(notebook)
    return None


def _prepare_kit(notebook: Path, kit: Path, assignment: str | None):  # noqa: ANN202
    """(notebook, the kit's Assignment), or BadInput with one line."""
    from grader.course.assignment import assignment_id_of
    from grader.course.notebook import BadNotebook, read_notebook
    from grader.judge.pipeline import BadInput
    from grader.kit.build import KitError
    from grader.kit.load import load_kit

    try:
        nb = read_notebook(notebook)
    except BadNotebook as e:
        raise BadInput(str(e)) from None
    try:
        spec = load_kit(kit)
    except KitError as e:
        raise BadInput(str(e)) from None
    for given in (assignment, assignment_id_of(nb)):
        if given and given != spec.id:
            raise BadInput(f"{notebook}: this notebook is for assignment '{given}', but the kit in {kit} "
                           f"is for '{spec.id}'")
    return nb, spec


def _failures(result, instructor: bool) -> list[str]:  # noqa: ANN001
    """Each failing test with the feedback page's one-line message (grader.feedback.lines)."""
    from grader.feedback.lines import failure_lines

    due = result.extra.get("due") if isinstance(result.extra, dict) else None
    return failure_lines(result.tests, instructor=instructor, due=due)


def _summary(result, feedback: Path, result_path: Path) -> list[str]:  # noqa: ANN001
    """The closing lines on stdout; everything student-derived goes through textsafe."""
    counts = {s: sum(t.status == s for t in result.tests) for s in ("passed", "partial", "failed", "error")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"Score: {result.score:g} / {result.max_score:g}  ({summary})"]
    lines += [f"hint: {one_line(t.name, 200)}: it looks like you {one_line(d.get('title', ''), 300)}. "
              f"{one_line(d.get('hint', ''), 1000)}" for t in result.tests for d in t.diagnoses]
    lines += [f"note: {one_line(err, 1000)}" for err in result.errors]
    lines.append(f"Feedback: {one_line(feedback, 4000)}")  # the default --out is named after the notebook
    lines.append(f"Result:   {one_line(result_path, 4000)}")
    return lines


def _feedback_page(result, nb, course: Path | None, instructor: bool):  # noqa: ANN001, ANN202
    """(feedback.html text, result with the page's rendering errors added). Never raises for
    anything in the notebook: a page that cannot be made becomes a bare page and an error."""
    import dataclasses
    import html

    from grader.course.assignment import templates_dir
    from grader.feedback import build_feedback

    try:
        page = build_feedback(result, nb, templates=templates_dir(course), instructor=instructor)
    except Exception as e:  # a bug in the page must not cost the submission its result
        why = f"the feedback page could not be made ({type(e).__name__})"
        text = f"<!DOCTYPE html><meta charset=utf-8><title>feedback</title><p>{html.escape(why)}; see result.json"
        return text, dataclasses.replace(result, errors=(*result.errors, why))
    return page.html, page.result_with_errors(result)


def _prairielearn_ungradable(reason: str, out: Path, as_json: bool) -> None:
    """For `--format prairielearn`, bad input still gets a results.json (gradable: false)."""
    from grader.lms import prairielearn

    data = prairielearn.ungradable_json(reason)
    try:
        prairielearn.write(out, data)
    except OSError as e:
        click.echo(f"error: cannot write results to {one_line(out, 4000)}: {e.strerror or e}", err=True)
    if as_json:
        click.echo(json.dumps(data, indent=2))


def _override_limits(limits, items: tuple[str, ...]):  # noqa: ANN001, ANN202
    """`--limit KEY=VALUE` over the assignment's [limits], checked as assignment.toml is."""
    import dataclasses

    from grader.course.assignment import _limits

    table: dict = dataclasses.asdict(limits)
    for item in items:
        key = item.partition("=")[0].strip().replace("-", "_")
        if "=" not in item or key not in table:
            fail(f"--limit {item!r}: expected KEY=VALUE with KEY one of {', '.join(table)}")
        table[key] = parse_limit(item)[1]
    try:
        return _limits(table)
    except Exception as e:  # assignment._Bad: the same message as for assignment.toml
        fail(f"--limit: {e}")


def _terminate_cleanly() -> None:
    """SIGTERM unwinds like Ctrl-C, so that `finally` blocks remove the sandbox containers."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def stop(signum, frame):  # noqa: ANN001, ANN202
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop)


def _grade_options(f):  # noqa: ANN001, ANN201
    f = limit_option("memory_mb=4096")(f)
    f = gpus_option("GPUs the notebook may use: all, a count (2) or device ids (0,1). "
                    "Used when the assignment has gpu = optional or required.")(f)
    f = click.option("--kit", type=click.Path(path_type=Path), default=None,
                     help="Check with this kit folder (grade kit) instead of the course (default for "
                          "grade check: the kit beside the notebook, when there is no course).")(f)
    f = click.option("--quiet", "-q", "quiet", is_flag=True,
                     help="Only the progress dots and the score: leave out the failing tests' lines.")(f)
    f = click.option("--instructor", is_flag=True,
                     help="Show every test message in the feedback, whatever its visibility.")(f)
    f = course_option(f)
    f = sandbox_option("Where the notebook runs.")(f)
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
    warnings.showwarning = _plain_warning


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A warning for people: one "warning: ..." line, without Python's source path and code line."""
    click.echo(f"warning: {one_line(str(message), 1000)}", err=True)


@main.command()
@_grade_options
@click.option("--format", "fmt", type=click.Choice(["dlgrade", "prairielearn"]), default="dlgrade",
              show_default=True, help="prairielearn: also write PrairieLearn's external-grader "
                                      "results.json into --out (and print it with --json).")
@click.option("--db", default=None, metavar="URL",
              help="Also record the grading, with the written and figure answers, in this gradebook "
                   "(as grade batch does; needs --student).")
@click.option("--student", default=None, help="The student id the grading is recorded under (with --db).")
def submit(notebook: Path, assignment: str | None, out: Path | None, as_json: bool, sandbox: str,
           course: Path | None, instructor: bool, **options: object) -> None:
    """Grade NOTEBOOK (or a folder: the notebook and its model files) with the public and hidden tests."""
    _grade_command("submit", notebook, assignment, out, as_json, sandbox, course, instructor, **options)


@main.command()
@_grade_options
def check(notebook: Path, assignment: str | None, out: Path | None, as_json: bool, sandbox: str,
          course: Path | None, instructor: bool, **options: object) -> None:
    """Run only the public tests on NOTEBOOK or a folder holding it (fast; for students, after every edit).

    A folder's model files ([model] in assignment.toml) are checked and loaded, not scored."""
    _grade_command("check", notebook, assignment, out, as_json, sandbox, course, instructor, **options)


@main.command()
@click.argument("assignment")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("data"))
@course_option
def data(assignment: str, directory: Path, course: Path | None) -> None:
    """Write ASSIGNMENT's public data files into DIRECTORY (default ./data) for local Jupyter.

    With [model] predictions, also <dataset>_test.npz: the unlabeled test inputs (X, id)."""
    from grader.course import datasets
    from grader.course.assignment import AssignmentError, load_assignment

    try:
        spec = load_assignment(assignment, course)
    except AssignmentError as e:
        fail(str(e))
    for path in datasets.write_public(spec.datasets, directory, spec.public_files):
        click.echo(str(path))
    if spec.model is not None and spec.model.predictions:
        import numpy as np

        from grader.judge.model_scoring import test_inputs
        from grader.judge.pipeline import course_secret

        X = test_inputs(spec.model, course_secret())
        path = directory / f"{spec.model.dataset}_test.npz"
        np.savez(path, X=X, id=np.arange(len(X)))
        click.echo(f"{path}  (unlabeled test inputs: predict each id into {spec.model.predictions})")


@main.command()
@click.argument("solution", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Starter notebook to write (default: starter.ipynb next to SOLUTION).")
@click.option("--assignment", default=None,
              help="Assignment id to stamp (default: the one in SOLUTION's metadata).")
def assign(solution: Path, out: Path | None, assignment: str | None) -> None:
    """Write the starter notebook: SOLUTION with its solution blocks replaced by stubs."""
    from grader.authoring.assign import AssignError, assign_file
    from grader.course.notebook import BadNotebook

    out = out or solution.parent / "starter.ipynb"
    try:
        assign_file(solution, out, assignment)
    except (BadNotebook, AssignError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
    click.echo(str(out))


@main.command()
@click.argument("assignments", nargs=-1)
@course_option
@click.option("--variants", is_flag=True,
              help="Also grade every variant of assignments/<id>/variants.py: each mistake must lose points "
                   "where it says and get exactly its declared misconceptions; correct alternatives none "
                   "(minutes per assignment).")
def validate(assignments: tuple[str, ...], course: Path | None, variants: bool) -> None:
    """Check ASSIGNMENTS (default: all): lint the tests, grade the solution and the starter,
    check the misconceptions against the variant catalogue.

    Exits 1 when anything is wrong, printing one line per problem.
    """
    from grader.authoring.validate import validate_assignment
    from grader.course.assignment import AssignmentError, list_assignments, load_assignment

    try:
        specs = [load_assignment(a, course) for a in assignments] or list_assignments(course)
    except AssignmentError as e:
        fail(str(e))
    problems = 0
    for spec in specs:
        click.echo(f"Validating '{spec.id}'", err=True)
        report = validate_assignment(
            spec, variants=variants,
            on_run=lambda case_id, s=spec: click.echo(f"  {s.id}: grading variant {case_id}", err=True))
        for line in report.violations:
            click.echo(f"{spec.id}: {line}")
        for note in report.notes:
            click.echo(f"{spec.id}: note: {note}", err=True)
        click.echo(f"{spec.id}: {report.summary()}")
        problems += len(report.violations)
    if problems:
        click.echo(f"{problems} problem(s)", err=True)
        sys.exit(1)


@main.command(name="kit")
@click.argument("assignment")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="A new folder, or FILE.zip (default: ./<ASSIGNMENT>-kit).")
@course_option
def kit_(assignment: str, out: Path | None, course: Path | None) -> None:
    """Write ASSIGNMENT's student kit: starter, public tests, public data, manifest; nothing secret."""
    from grader.course.assignment import AssignmentError, load_assignment
    from grader.kit.build import KitError, write_kit

    try:
        spec = load_assignment(assignment, course)
        path = write_kit(spec, out or Path(f"{spec.id}-kit"))
    except (AssignmentError, KitError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write the kit: {e.strerror or e}")
    click.echo(str(path))


@main.command(name="new-course")
@click.argument("directory", type=click.Path(path_type=Path))
def new_course(directory: Path) -> None:
    """Lay out a new course in DIRECTORY: one small assignment that `grade validate` passes."""
    from grader.authoring.skeleton import SkeletonError
    from grader.authoring.skeleton import new_course as make

    try:
        files = make(directory)
    except SkeletonError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write {directory}: {e.strerror or e}")
    for path in files:
        click.echo(str(path))
    click.echo(f"Next: DLGRADE_COURSE={directory} grade validate", err=True)


main.add_command(new_course, name="init")


@main.command(name="list")
@course_option
def list_(course: Path | None) -> None:
    """List the assignments with their points, test counts and GPU needs."""
    from grader.authoring.validate import summarize
    from grader.course.assignment import AssignmentError, list_assignments

    try:
        specs = list_assignments(course)
    except AssignmentError as e:
        fail(str(e))
    for spec in specs:
        s = summarize(spec)  # read from the test files (ast); nothing runs
        about = "" if s.exact else "; at least: some parametrize cases are not static"
        click.echo(f"{spec.id:16} {spec.title}  ({s.points:g} points; tests: {s.public} public, "
                   f"{s.hidden} hidden; gpu: {spec.gpu}{about})")


@main.group()
def sandbox() -> None:
    """The Docker sandbox: build its image, remove leftover containers."""


@sandbox.command(name="build")
@click.option("--gpu", is_flag=True,
              help="CUDA torch (PyPI's torch==2.13.0) instead of the CPU build; tag dlgrade-sandbox:gpu.")
@click.option("--base-image", default=None, metavar="IMAGE",
              help="Build FROM this image the ordinary way (pip downloads in the build), e.g. "
                   "python:3.11-slim. Default: a Debian rootfs from debootstrap, wheels from the host "
                   "(no registry needed).")
@click.option("--tag", default=None, help="Image tag (default: dlgrade-sandbox:cpu, or :gpu with --gpu).")
def sandbox_build(gpu: bool, base_image: str | None, tag: str | None) -> None:
    """Build the sandbox image from the sandbox/ folder (cached; safe to run again)."""
    import time

    from grader.sandbox import SandboxError
    from grader.sandbox.docker_build import build

    started = time.monotonic()
    try:
        name, image_id = build(gpu=gpu, base_image=base_image, tag=tag, log=lambda m: click.echo(m, err=True))
    except SandboxError as e:
        fail(str(e), code=1)
    click.echo(f"Built {name} ({image_id}) in {time.monotonic() - started:.0f} s")


@sandbox.command(name="prune")
@click.option("--all", "everything", is_flag=True,
              help="Also remove the containers of gradings still running.")
def sandbox_prune(everything: bool) -> None:
    """Remove sandbox containers (label dlgrade=1) left by gradings that were killed."""
    from grader.sandbox import SandboxError
    from grader.sandbox.docker import prune

    try:
        removed = prune(everything=everything)
    except SandboxError as e:
        fail(str(e), code=1)
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"Removed {len(removed)} container(s)")


# The other command groups (grader/commands/: batch, lms, report, serve, regrades).
_batch.register(main)
_lms.register(main)
_report.register(main)
_serve.register(main)
_regrades.register(main)


if __name__ == "__main__":
    main()
