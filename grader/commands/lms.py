"""The LMS commands of `grade`: gradescope build, prairielearn build, feedback, push canvas.

Imports only click and grader.commands.common at module level (the CLI's start-up time
matters); each command imports its grader.lms module when it runs. `grade export --format
canvas|moodle` lives with the batch commands' `export` and calls grader.lms.export.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from grader.commands.common import course_option, db_option, fail, open_gradebook

GRADESCOPE_VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

_offline_option = click.option(
    "--offline", is_flag=True,
    help="Put every dependency's wheel inside (CPython 3.11, Linux, about 260 MB), so that the image "
         "build needs no PyPI; default: setup.sh installs them from PyPI.")


def _call(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    from grader.lms import LmsError

    try:
        return fn(*args, **kwargs)
    except LmsError as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def gradescope() -> None:
    """Gradescope: build the autograder zip."""


@gradescope.command(name="build")
@click.argument("assignment")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The zip to write (default: autograder-ASSIGNMENT.zip).")
@click.option("--hidden-visibility", type=click.Choice(GRADESCOPE_VISIBILITIES), default=None,
              help="Gradescope visibility of the hidden tests (default: [lms] gradescope_hidden_visibility, "
                   "else after_published).")
@_offline_option
@course_option
def gradescope_build(assignment: str, out: Path | None, hidden_visibility: str | None, offline: bool,
                     course: Path | None) -> None:
    """Write ASSIGNMENT's Gradescope autograder zip (setup.sh and run_autograder at its root)."""
    from grader.lms import gradescope as gs

    out = out or Path(f"autograder-{assignment}.zip")
    path = _call(gs.build, assignment, out, course=course, offline=offline,
                 hidden_visibility=hidden_visibility, log=_log)
    click.echo(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")


@click.group()
def prairielearn() -> None:
    """PrairieLearn: the external grader's image context and question files."""


@prairielearn.command(name="build")
@click.argument("assignment")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for image/ (docker build context) and question/ (info.json, tests/).")
@_offline_option
@course_option
def prairielearn_build(assignment: str, out: Path, offline: bool, course: Path | None) -> None:
    """Write ASSIGNMENT's PrairieLearn grader: an image context and the question's tests/ folder."""
    from grader.lms import prairielearn as pl

    path = _call(pl.build, assignment, out, course=course, offline=offline, log=_log)
    click.echo(f"{path / 'image'}  (docker build -t REGISTRY/dlgrade-{assignment} {path / 'image'}, then push)")
    click.echo(f"{path / 'question'}  (copy into your course's questions/; set info.json's image and uuid)")


@click.command()
@click.argument("assignment")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The zip to write.")
@click.option("--for", "target", type=click.Choice(["canvas", "moodle", "plain"]), default="plain",
              show_default=True, help="Name the pages for this LMS's bulk feedback upload.")
@db_option
def feedback(assignment: str, zip_path: Path, target: str, db: str | None) -> None:
    """Zip every student's feedback page, named for the LMS's bulk feedback upload."""
    from grader.lms import feedback_zip

    path, count, notes = _call(feedback_zip.build, open_gradebook(db), assignment, zip_path, target)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"{count} feedback page(s) -> {path}")


@click.group()
def push() -> None:
    """Send final scores to an LMS."""


@push.command(name="canvas")
@click.argument("assignment")
@click.option("--url", required=True, help="Your Canvas, e.g. https://canvas.example.edu.")
@click.option("--course", "course_id", required=True, help="Canvas course id (or sis_course_id:...).")
@click.option("--canvas-id", type=int, default=None,
              help="Canvas assignment id (default: [lms] canvas_assignment_id in assignment.toml).")
@click.option("--token-env", default="CANVAS_TOKEN", show_default=True, metavar="VAR",
              help="Environment variable holding the API token (never a command-line argument).")
@click.option("--feedback-url", default=None, metavar="URL",
              help="Where the feedback pages are published; the comment links URL/<student>/feedback.html.")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Retries per grade after a 429 (waiting its Retry-After) or a 5xx (backoff from 0.5 s, doubling).")
@click.option("--bulk", is_flag=True,
              help="One update_grades call per 100 students (a Canvas job, polled until done) "
                   "instead of one request per student.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@db_option
@click.option("--course-dir", "course", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course folder with assignment.toml's [lms] canvas_assignment_id (default: as for grade submit).")
def push_canvas(assignment: str, url: str, course_id: str, canvas_id: int | None, token_env: str,
                feedback_url: str | None, retries: int, bulk: bool, dry_run: bool, db: str | None,
                course: Path | None) -> None:
    """Post each changed final score (and a short comment) with Canvas's Submissions API."""
    from grader.lms import canvas
    from grader.lms.export import _course_canvas_id

    canvas_id = canvas_id or _course_canvas_id(assignment, course)
    if canvas_id is None:
        fail("no Canvas assignment id: pass --canvas-id or set [lms] canvas_assignment_id in assignment.toml")
    client = None
    if not dry_run:
        token = os.environ.get(token_env, "").strip()
        if not token:
            fail(f"no Canvas token: set the environment variable {token_env} (Canvas: Account > Settings > "
                  "New access token)")
        client = _call(canvas.CanvasClient, url, token, retries=retries)
    gb = open_gradebook(db)
    try:
        summary = canvas.push_grades(gb, assignment, client, url=url, course=course_id, canvas_id=canvas_id,
                                     dry_run=dry_run, feedback_url=feedback_url, bulk=bulk, log=click.echo)
    except canvas.CanvasAuthError as e:
        fail(str(e), code=1)
    except Exception as e:  # noqa: BLE001 - LmsError and OSError: one line
        from grader.lms import LmsError

        if not isinstance(e, (LmsError, OSError)):
            raise
        fail(str(e), code=1)
    for line in summary.skipped:
        click.echo(f"skipped: {line}", err=True)
    if dry_run:
        click.echo(f"dry run: {len(summary.planned)} to send, {summary.unchanged} unchanged")
        return
    click.echo(f"sent {summary.sent}, unchanged {summary.unchanged}, failed {summary.failed}")
    if summary.failed:
        sys.exit(1)


def register(main: click.Group) -> None:
    for command in (gradescope, prairielearn, feedback, push):
        main.add_command(command)
