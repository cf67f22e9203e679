"""`grade serve` and `grade graders add|list|remove`. Imports only click until a command runs.

Callers: grader.cli (register). Calls grader.gradebook.manual (accounts) and grader.serve.app.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from grader.commands.common import course_option, db_option, fail, open_gradebook


@click.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default serves this machine only.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Seed of the answers' pseudo-random order (the same for every grader).")
@course_option
def serve(db: str | None, host: str, port: int, seed: int, course: Path | None) -> None:
    """Start the grading app (written and figure questions, regrade requests); prints its address.

    Regrade links are checked with the course secret (GRADER_SECRET or GRADER_SECRET_FILE), as
    the batch that wrote them had it; without one, regrade requests are off."""
    from werkzeug.serving import make_server

    from grader.serve.app import create_app

    gb = open_gradebook(db)
    app = create_app(gb, seed=seed, course=course)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Grading app on http://{shown}:{server.server_port}/ (gradebook {gb.url}); Ctrl+C stops it",
               err=False)
    sys.stdout.flush()
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach it may try to sign in; put it "
                   "behind HTTPS", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        gb.dispose()


@click.group()
def graders() -> None:
    """Accounts of the grading app (grade serve)."""


@graders.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(["ta", "instructor"]), default="ta", show_default=True,
              help="instructor: may also change rubrics.")
@click.option("--generate", is_flag=True,
              help="Generate a password and print it, instead of asking (without a terminal, the password "
                   "is the first line of stdin; an empty line generates one).")
@db_option
def graders_add(name: str, role: str, generate: bool, db: str | None) -> None:
    """Add grader NAME (or set their role and password); asks for the password."""
    from grader.gradebook.accounts import Accounts
    from grader.gradebook.manual import ManualError

    password, shown = "", False
    if not generate:
        if sys.stdin.isatty():
            password = click.prompt("Password (empty: generate one)", hide_input=True, confirmation_prompt=True,
                                    default="", show_default=False)
        else:  # a script: the first line of stdin
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        password, shown = secrets.token_urlsafe(12), True
    gb = open_gradebook(db)
    try:
        Accounts(gb.sessions).add_grader(name, role, password)
    except ManualError as e:
        fail(str(e))
    finally:
        gb.dispose()
    click.echo(f"grader {name} ({role}) saved" + (f"; password: {password}" if shown else ""))


@graders.command(name="list")
@db_option
def graders_list(db: str | None) -> None:
    """List the grading app's accounts."""
    from grader.gradebook.accounts import Accounts

    gb = open_gradebook(db)
    for name, role, created in Accounts(gb.sessions).graders():
        click.echo(f"{name}\t{role}\t{created:%Y-%m-%d}")
    gb.dispose()


@graders.command(name="remove")
@click.argument("name")
@db_option
def graders_remove(name: str, db: str | None) -> None:
    """Remove grader NAME (their signed-in sessions stop working)."""
    from grader.gradebook.accounts import Accounts

    gb = open_gradebook(db)
    try:
        if not Accounts(gb.sessions).remove_grader(name):
            fail(f"no grader {name!r} (see grade graders list)")
    finally:
        gb.dispose()
    click.echo(f"removed {name}")


def register(main: click.Group) -> None:
    main.add_command(serve)
    main.add_command(graders)
