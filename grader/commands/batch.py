"""The batch commands of `grade`: batch, override, extension, status, export.

`register(main)` adds them to the CLI group; nothing heavy is imported until a command runs.
Bad input: one `error: ...` line on stderr and exit code 2. Callers: grader.cli.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from grader.commands.common import (
    course_option,
    db_option,
    fail,
    gpus_option,
    limit_option,
    open_gradebook,
    parse_limit,
    sandbox_option,
    write_output,
)


def _limits(items: tuple[str, ...]) -> dict:
    return dict(parse_limit(item) for item in items)


class _Bar:
    """The rich progress bar on stderr: done/total, failures, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failures]} failed"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        self.task = None

    def begin(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("grading", total=total, failures=0)

    def advance(self, student: str, status: str) -> None:
        if self.task is None:
            return
        failures = self.progress.tasks[0].fields["failures"] + (status != "graded")
        self.progress.update(self.task, advance=1, failures=failures)

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()


def _terminate_as_interrupt() -> None:
    import signal

    def stop(signum, frame):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


@click.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--assignment", required=True, help="Assignment id the submissions are for.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Submissions graded at once (default: one per core; one per GPU for GPU assignments).")
@sandbox_option("Where the notebooks run.")
@gpus_option("GPUs for GPU assignments; one per concurrent job.")
@db_option
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV of the class (id[,name,email,sis_user_id,sis_login_id,section], or Canvas's gradebook "
                   "export); roster students without a submission are 'missing'.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for OUT/<student>/result.json and feedback.html (default: next to SUBMISSIONS).")
@click.option("--force", is_flag=True, help="Regrade every submission, changed or not (overrides are kept).")
@click.option("--student", "students", multiple=True, metavar="ID", help="Regrade only this student (repeatable).")
@click.option("--layout", "layout", type=click.Choice(["auto", "folder", "students", "canvas", "moodle", "gradescope"]),
              default="auto", show_default=True,
              help="The layout of SUBMISSIONS; auto decides on the whole structure and refuses a mixed or "
                   "ambiguous one (docs/batch.md).")
@click.option("--intake", "intake", type=click.Choice(["folder", "students", "canvas", "moodle", "gradescope"]),
              default=None, hidden=True, help="Old name of --layout.")
@limit_option("cell_seconds=30")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary on stdout.")
@click.option("--cluster", default=None, metavar="SPEC",
              help="Grade on Dask instead of the local pool: local[:N], tcp://HOST:PORT, tls://HOST:PORT, "
                   "scheduler-file:PATH or slurm (docs/cluster.md).")
@click.option("--cluster-config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML file with a [cluster.slurm] table (queue, account, cores, memory, walltime, jobs, "
                   "python, ...) for --cluster slurm.")
@course_option
def batch(submissions: Path, assignment: str, jobs: int | None, sandbox: str, gpus: str | None, db: str | None,
          roster: Path | None, out: Path | None, force: bool, students: tuple[str, ...], layout: str,
          intake: str | None, limit: tuple[str, ...], as_json: bool, cluster: str | None, cluster_config: Path | None,
          course: Path | None) -> None:
    """Grade a class: a folder of notebooks or student folders, or a Canvas/Moodle/Gradescope zip.

    Only new or changed submissions are graded (by content hash); results go to the gradebook
    and to OUT/<student>/. Safe to stop and run again.
    """
    from grader.batch.driver import Batch, BatchConfig, BatchInputError, print_summary, stderr_line

    _terminate_as_interrupt()
    if intake is not None and layout not in ("auto", intake):
        fail(f"--layout {layout} and --intake {intake} disagree (--intake is the old name of --layout)")
    intake = intake or (None if layout == "auto" else layout)
    runner = None
    if cluster is not None:
        from grader.cluster.runner import dask_runner
        from grader.cluster.spec import ClusterError, parse_spec

        try:
            spec = parse_spec(cluster, cluster_config)
        except ClusterError as e:
            fail(str(e))
        if spec.kind == "slurm" and not spec.slurm.log_directory:  # slurm-N.out: with the batch's results
            import dataclasses
            import os

            from grader.batch.driver import default_out

            logs = Path(os.path.abspath(out or default_out(submissions))) / "slurm-logs"
            spec = dataclasses.replace(spec, slurm=dataclasses.replace(spec.slurm, log_directory=str(logs)))
        if spec.kind == "slurm":
            from grader.cluster.spec import check_log_directory

            try:
                check_log_directory(spec.slurm.log_directory, "the Slurm log folder")
            except ClusterError as e:
                fail(str(e))
        runner = dask_runner(spec)
    cfg = BatchConfig(submissions=submissions, assignment=assignment, jobs=jobs, sandbox=sandbox, gpus=gpus, db=db,
                      roster=roster, out=out, force=force, students=students, intake=intake, course=course,
                      limits=_limits(limit), cluster=cluster)
    bar = None if as_json else _Bar()
    try:
        summary = Batch(cfg, report=(lambda line: None) if as_json else stderr_line, runner=runner).run(progress=bar)
    except BatchInputError as e:
        fail(str(e))
    except Exception as e:
        from grader.cluster.spec import ClusterError

        if not isinstance(e, ClusterError):
            raise
        fail(str(e))
    finally:
        if bar is not None:
            bar.stop()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary, click.echo)
    if summary["interrupted"]:
        sys.exit(130)


@click.command()
@click.argument("student")
@click.argument("assignment")
@click.option("--test", default=None, metavar="NAME", help="Override this test's score (default: the total).")
@click.option("--score", type=float, default=None, help="The score to give.")
@click.option("--comment", default="", help="Why; shown in the export and on the student's feedback page.")
@click.option("--clear", is_flag=True, help="Remove the override (of --test, or all of the student's).")
@db_option
@course_option
def override(student: str, assignment: str, test: str | None, score: float | None, comment: str, clear: bool,
             db: str | None, course: Path | None) -> None:
    """Set (or --clear) an instructor's score for STUDENT on ASSIGNMENT, kept apart from the autograde."""
    gb = open_gradebook(db)
    if gb.assignment(assignment) is None:
        fail(f"assignment {assignment!r} is not in the gradebook {gb.url} (grade it with grade batch first)")
    if clear:
        n = gb.clear_override(student, assignment, test)
        click.echo(f"removed {n} override(s) of {student} on {assignment}")
    else:
        if score is None or score != score:
            fail("--score X is required (or --clear)")
        rows = {r.student: r for r in gb.students(assignment)}
        if test and student in rows and rows[student].tests and test not in rows[student].tests:
            fail(f"--test {test!r}: no such test in {student}'s grading (tests: {', '.join(rows[student].tests)})")
        gb.set_override(student, assignment, score, comment, test or "")
        click.echo(f"override: {student} on {assignment}: {test or 'total'} = {score:g}")
    from grader.batch.refresh import refresh_feedback

    path = refresh_feedback(gb, assignment, student, course)
    if path:
        click.echo(f"Feedback: {path}")


@click.command()
@click.argument("student")
@click.argument("assignment")
@click.option("--until", required=True, metavar="ISO", help="The student's due date, e.g. 2026-12-08T23:59:00+01:00.")
@click.option("--comment", default="", help="Why (kept in the gradebook).")
@db_option
@course_option
def extension(student: str, assignment: str, until: str, comment: str, db: str | None, course: Path | None) -> None:
    """Give STUDENT another due date for ASSIGNMENT (the late policy then counts from it)."""
    from grader.gradebook.scoring import parse_time

    try:
        when = parse_time(until)
    except ValueError as e:
        fail(f"--until: {e}" if "time zone" in str(e) else f"--until {until!r} is not ISO 8601 "
              "(e.g. 2026-12-08T23:59:00+01:00)")
    gb = open_gradebook(db)
    gb.set_extension(student, assignment, when, comment)
    click.echo(f"extension: {student} on {assignment} until {when.isoformat()}")
    from grader.batch.refresh import refresh_feedback

    refresh_feedback(gb, assignment, student, course)


@click.command()
@click.argument("assignment")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Add these students (missing if they have no submission).")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(assignment: str, roster: Path | None, db: str | None, as_json: bool) -> None:
    """Counts per status, who is missing, who has an override, open regrade requests, what changed since
    the last export."""
    from grader.textsafe import one_line

    gb = open_gradebook(db)
    if roster:
        from grader.batch.roster import RosterError, read_roster

        try:
            gb.ensure_students(read_roster(roster), roster=True)
        except RosterError as e:
            fail(str(e))
    if gb.assignment(assignment) is None and not roster:
        fail(f"assignment {assignment!r} is not in the gradebook {gb.url}")
    rows = gb.students(assignment)
    counts = {s: sum(r.status == s for r in rows) for s in ("graded", "invalid", "error", "missing")}
    missing = [r.student for r in rows if r.status == "missing"]
    overridden = [(r.student, [(o.test or "total", o.score) for o in r.overrides]) for r in rows if r.overrides]
    when, changes = gb.changes_since_export(assignment, rows)
    incomplete = [r.student for r in rows if r.incomplete]
    questions = list(rows[0].manual) if rows else []
    from grader.gradebook.regrades import Regrades

    open_regrades = Regrades(gb.sessions).open_count(assignment)
    if as_json:
        click.echo(json.dumps({"assignment": assignment, "counts": counts, "missing": missing,
                               "incomplete": incomplete,
                               "manual": {q: sum(r.manual.get(q) is not None for r in rows) for q in questions},
                               "overrides": {s: dict(o) for s, o in overridden},
                               "regrades_open": open_regrades,
                               "last_export": when.isoformat() if when else None,
                               "changed_since_export": [c[0] for c in changes]}, indent=2))
        return
    click.echo(f"{assignment}: {len(rows)} students: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if missing:
        click.echo("missing: " + ", ".join(one_line(s, 60) for s in missing))
    for student, items in overridden:
        click.echo(f"override: {one_line(student, 60)}: " + ", ".join(f"{t} = {v:g}" for t, v in items))
    if questions:
        submitted = sum(r.submission_id is not None for r in rows)
        click.echo("manual grading: " + ", ".join(
            f"{q} {sum(r.manual.get(q) is not None for r in rows)}/{submitted}" for q in questions)
            + (f"; {len(incomplete)} incomplete (grade serve)" if incomplete else "; complete"))
    if open_regrades:
        click.echo(f"regrade requests: {open_regrades} open (grade serve, or grade regrades list {assignment})")
    if when is None:
        click.echo("never exported")
    elif not changes:
        click.echo(f"no change since the last export ({when:%Y-%m-%d %H:%M} UTC)")
    else:
        click.echo(f"changed since the last export ({when:%Y-%m-%d %H:%M} UTC): "
                   + ", ".join(one_line(c[0], 60) for c in changes))


@click.command()
@click.argument("assignment")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "canvas", "moodle"]), default="json",
              show_default=True, help="json (documented in docs/batch.md), csv (one row per student, one "
              "column per test), canvas (gradebook import CSV) or moodle (grading worksheet); docs/lms.md.")
@db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: stdout; canvas/moodle: ASSIGNMENT-canvas.csv / -moodle.csv).")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="canvas/moodle: one row per student of this roster, in its order.")
@click.option("--canvas-id", type=int, default=None,
              help="canvas: Canvas's assignment id (default: [lms] canvas_assignment_id; none: match by title).")
@click.option("--missing", type=click.Choice(["blank", "zero"]), default="blank", show_default=True,
              help="canvas: what a student without a submission gets.")
@click.option("--worksheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="moodle: the grading worksheet Moodle exported, to fill (default: a new one).")
@course_option
def export(assignment: str, fmt: str, db: str | None, output: Path | None, roster: Path | None,
           canvas_id: int | None, missing: str, worksheet: Path | None, course: Path | None) -> None:
    """Export ASSIGNMENT's grades: autograde, manual grades, overrides, late penalties, final scores."""
    from grader.batch.export import export_csv, export_json

    gb = open_gradebook(db)
    waiting = [r.student for r in gb.students(assignment) if r.incomplete]
    if waiting:
        from grader.textsafe import one_line

        click.echo(f"warning: {len(waiting)} student(s) have written or figure answers not graded yet "
                   f"(incomplete; their final score counts those as 0): "
                   f"{', '.join(one_line(s, 40) for s in waiting[:10])}{' ...' if len(waiting) > 10 else ''}; "
                   "grade them with grade serve", err=True)
    if fmt in ("canvas", "moodle"):
        from grader.lms import LmsError
        from grader.lms.export import export as lms_export

        try:
            path = lms_export(gb, assignment, fmt, output, roster=roster, canvas_id=canvas_id, missing=missing,
                              worksheet=worksheet, course=course, log=lambda m: click.echo(m, err=True))
        except LmsError as e:
            fail(str(e))
        except OSError as e:
            fail(f"cannot write {output}: {e.strerror or e}")
        click.echo(str(path))
        return
    info = gb.assignment(assignment)
    if info is None:
        fail(f"assignment {assignment!r} is not in the gradebook {gb.url}")
    rows = gb.students(assignment)
    text = json.dumps(export_json(assignment, info[0], info[1], rows, gb.autograde_max(assignment)),
                      indent=2) + "\n" if fmt == "json" \
        else export_csv(rows)
    if output is None:
        click.echo(text, nl=False)
    else:
        path = write_output(output, text)
        click.echo(f"{len(rows)} students -> {path}", err=True)
    gb.record_export(assignment, fmt, str(output or "-"), rows)


def register(main: click.Group) -> None:
    for command in (batch, override, extension, status, export):
        main.add_command(command)
