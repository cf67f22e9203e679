"""`grade regrades list|show|resolve`: regrade requests for instructors without the grading app.

A resolution here is the same audited override the app writes (grader.gradebook.regrades), with
`--by NAME` as who made it, and the student's feedback page is written again.
Callers: grader.cli (register). Calls grader.gradebook.regrades and grader.batch.refresh.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader.commands.common import course_option, db_option, fail, open_gradebook


@click.group()
def regrades() -> None:
    """Students' regrade requests (filed from the links on their feedback pages)."""


@regrades.command(name="list")
@click.argument("assignment", required=False)
@click.option("--all", "everything", is_flag=True, help="Also the resolved requests.")
@click.option("--json", "as_json", is_flag=True, help="Print the requests as JSON.")
@db_option
def regrades_list(assignment: str | None, everything: bool, as_json: bool, db: str | None) -> None:
    """List the open requests (of ASSIGNMENT), per assignment and item, oldest first."""
    from grader.gradebook.regrades import Regrades
    from grader.textsafe import one_line

    gb = open_gradebook(db)
    try:
        rows = Regrades(gb.sessions).requests(assignment, None if everything else "open")
    finally:
        gb.dispose()
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no open regrade requests" if not everything else "no regrade requests")
        return
    for r in rows:
        click.echo(f"{r.id}\t{r.assignment}\t{one_line(r.item, 80)}\t{one_line(r.student, 60)}\t{r.status}\t"
                   f"{r.filed_at:%Y-%m-%d %H:%M}\t{one_line(r.reason, 80)}")


@regrades.command(name="show")
@click.argument("request_id", type=int)
@db_option
def regrades_show(request_id: int, db: str | None) -> None:
    """Show request REQUEST_ID: the item, the score, the evidence, the reason and any answer."""
    from grader.gradebook.regrades import RegradeError, Regrades
    from grader.textsafe import clean_text, one_line

    gb = open_gradebook(db)
    try:
        rq = Regrades(gb.sessions)
        r = rq.get(request_id)
        view = rq.item(r.assignment, r.student, r.item, staff=True)
    except RegradeError as e:
        fail(str(e))
    finally:
        gb.dispose()
    score = "not graded" if view.score is None else f"{view.score:g}"
    click.echo(f"request {r.id}: {one_line(r.student, 60)} on {r.assignment}, {one_line(view.label, 200)}: "
               f"{score} / {view.max_score:g}; {r.status}, filed {r.filed_at:%Y-%m-%d %H:%M} UTC")
    for line in (*view.lines, *view.evidence):
        click.echo("  " + clean_text(line, 2_000).replace("\n", "\n  "))
    click.echo("reason:\n  " + clean_text(r.reason).replace("\n", "\n  "))
    if r.status != "open":
        click.echo(f"{r.status} by {one_line(r.resolver, 64)} on {r.resolved_at:%Y-%m-%d %H:%M} UTC: "
                   f"{r.old_score} -> {r.new_score}")
        if r.reply:
            click.echo("reply:\n  " + clean_text(r.reply).replace("\n", "\n  "))


@regrades.command(name="resolve")
@click.argument("request_id", type=int)
@click.option("--accept", "score", type=float, default=None, metavar="SCORE",
              help="Accept with this new score (a test: its override; a question: its score).")
@click.option("--adjusted", is_flag=True,
              help="The rubric was changed for everyone (grade serve's rubric page); keep the score it gives.")
@click.option("--reject", is_flag=True, help="Reject; --reply is then required.")
@click.option("--reply", default="", help="What the student reads on their request's page.")
@click.option("--by", "actor", default="cli", show_default=True, help="Who resolves it (kept in the audit log).")
@db_option
@course_option
def regrades_resolve(request_id: int, score: float | None, adjusted: bool, reject: bool, reply: str, actor: str,
                     db: str | None, course: Path | None) -> None:
    """Resolve request REQUEST_ID: exactly one of --accept SCORE, --adjusted, --reject."""
    from grader.gradebook.regrades import RegradeError, Regrades

    chosen = [a for a, on in (("accept", score is not None), ("adjust", adjusted), ("reject", reject)) if on]
    if len(chosen) != 1:
        fail("give exactly one of --accept SCORE, --adjusted, --reject")
    gb = open_gradebook(db)
    try:
        done = Regrades(gb.sessions).resolve(request_id, chosen[0], actor, score, reply)
        from grader.batch.refresh import refresh_feedback

        path = refresh_feedback(gb, done.assignment, done.student, course)
    except RegradeError as e:
        fail(str(e))
    finally:
        gb.dispose()
    click.echo(f"request {done.id} {done.status}: {done.old_score} -> {done.new_score}")
    if path:
        click.echo(f"Feedback: {path}")


def _as_dict(r) -> dict:  # noqa: ANN001
    return {"id": r.id, "student": r.student, "assignment": r.assignment, "item": r.item, "reason": r.reason,
            "status": r.status, "filed_at": r.filed_at.isoformat(),
            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None, "resolver": r.resolver,
            "reply": r.reply, "old_score": r.old_score, "new_score": r.new_score}


def register(main: click.Group) -> None:
    main.add_command(regrades)
