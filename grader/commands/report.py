"""`grade report`, `grade similarity` and `grade leaderboard`: pages read from the gradebook.

`register(main)` adds them to the CLI group; the work (grader.report) is imported when a command
runs. Callers: grader.cli.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.commands.common import course_option, db_option, fail, open_gradebook, write_output

_FORMATS = click.Choice(["html", "json"])


@click.command()
@click.argument("assignment")
@db_option
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: report.html, or report.json with --format json).")
@click.option("--format", "fmt", type=_FORMATS, default="html", show_default=True,
              help="html: the instructor's page with plots; json: the same numbers for other tools.")
@course_option
def report(assignment: str, db: str | None, out: Path | None, fmt: str, course: Path | None) -> None:
    """Write the class report for ASSIGNMENT: scores, pass rates, failure clusters, errors."""
    from grader.course.assignment import templates_dir
    from grader.report.classdata import build_report
    from grader.report.page import render_html, render_json

    gb = open_gradebook(db)
    try:
        data = build_report(gb, assignment)
        data = _with_leaderboard(data, gb, course)
    except LookupError as e:
        fail(str(e))
    finally:
        gb.dispose()
    out = out or Path(f"report.{fmt}")
    text = render_json(data) if fmt == "json" else render_html(data, out, templates_dir(course))
    path = write_output(out, text)
    worst = data.tests[0] if data.tests else None
    click.echo(f"{assignment}: {data.status_counts.get('graded', 0)} graded of {data.students}"
               + (f"; lowest pass rate {worst.name} ({100 * worst.pass_rate:.0f} %)" if worst else ""))
    for d in data.misconceptions:  # names and titles: the course's, one-lined in classdata
        click.echo(f"  {d.count} student{'' if d.count == 1 else 's'} {d.title} ({d.name})")
    click.echo(f"Report: {path}")


def _with_leaderboard(data, gb, course: Path | None):  # noqa: ANN001, ANN202
    """The class report with the leaderboard of an assignment with [model] (as the course defines it now)."""
    import dataclasses

    from grader.course.assignment import AssignmentError, load_assignment

    try:
        spec = load_assignment(data.assignment, course)
    except AssignmentError:  # the gradebook outlives the course folder: no leaderboard then
        return data
    if spec.model is None:
        return data
    from grader.judge.pipeline import course_secret
    from grader.report.leaderboard import build_leaderboard, to_json

    return dataclasses.replace(data, leaderboard=to_json(build_leaderboard(gb, spec, course_secret())))


@click.command()
@click.argument("assignment")
@db_option
@click.option("--phase", type=click.Choice(["public", "private"]), default=None,
              help="Which part of the test set ranks (default: public before the due date, private after).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the static page to post (pseudonyms and scores only), e.g. leaderboard.html.")
@course_option
def leaderboard(assignment: str, db: str | None, phase: str | None, out: Path | None, course: Path | None) -> None:
    """Rank ASSIGNMENT's models under pseudonyms (assignments with [model]; docs/models.md)."""
    from grader.course.assignment import AssignmentError, load_assignment
    from grader.judge.pipeline import course_secret
    from grader.report.leaderboard import build_leaderboard, render_html, text_lines

    try:
        spec = load_assignment(assignment, course)
    except AssignmentError as e:
        fail(str(e))
    gb = open_gradebook(db)
    try:
        board = build_leaderboard(gb, spec, course_secret(), phase)
    except LookupError as e:
        fail(str(e))
    finally:
        gb.dispose()
    for line in text_lines(board):
        click.echo(line)
    if out is not None:
        click.echo(f"Page: {write_output(out, render_html(board))}")


@click.command()
@click.argument("assignment")
@db_option
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Absolute similarity bar in [0, 1] (default 0.75); pairs that stand out against the "
                   "class's own distribution are flagged as well.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: similarity.html, or similarity.json with --format json).")
@click.option("--format", "fmt", type=_FORMATS, default="html", show_default=True,
              help="html: flagged pairs side by side; json: every pair with a similarity above 0.")
@course_option
def similarity(assignment: str, db: str | None, threshold: float | None, out: Path | None, fmt: str,
               course: Path | None) -> None:
    """Compare the code of every pair of students of ASSIGNMENT (the starter's code does not count)."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from grader.course.assignment import AssignmentError, load_assignment, templates_dir
    from grader.report import similarity as sim
    from grader.report.page import render_similarity_html

    gb = open_gradebook(db)
    try:
        subs = gb.submissions(assignment)
        codes = sim.class_codes(subs)
    finally:
        gb.dispose()
    if not subs:
        fail(f"the gradebook has no submissions for assignment '{assignment}'; run grade batch first")
    try:
        starter_path = load_assignment(assignment, course).starter
        starter = sim.notebook_code(starter_path.read_bytes()) if starter_path.is_file() else ""
    except (AssignmentError, OSError):
        starter = ""
    if not starter:
        click.echo(f"warning: no starter notebook for '{assignment}' in the course: its code counts "
                   "as the students' own", err=True)
    with Progress(TextColumn("comparing"), BarColumn(), TextColumn("{task.completed}/{task.total} pairs"),
                  TimeRemainingColumn(), transient=True, console=Console(stderr=True),
                  disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("pairs", total=max(len(codes) * (len(codes) - 1) // 2, 1))
        result = sim.compare_class(assignment, codes, starter,
                                   threshold=sim.DEFAULT_THRESHOLD if threshold is None else threshold,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
    out = out or Path(f"similarity.{fmt}")
    if fmt == "json":
        text = json.dumps(result.to_json(), indent=2) + "\n"
    else:
        text = render_similarity_html(result, codes, starter, templates_dir(course))
    path = write_output(out, text)
    flagged = sum(p.flagged for p in result.pairs)
    click.echo(f"{assignment}: {result.students} students, {flagged} flagged pairs "
               f"(class median {result.median:.2f}, bar {result.outlier_bar:.2f})")
    click.echo(f"Similarity: {path}")


def register(main: click.Group) -> None:
    for command in (report, similarity, leaderboard):
        main.add_command(command)
