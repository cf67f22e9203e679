"""What every command group of `grade` shares: the error exit and the repeated options.

`fail` is the one way a command stops on bad input: one `error: ...` line on stderr, with
the message neutralised (it quotes paths, student ids and notebook text), and exit code 2.
The options here (`--course`, `--db`, `--sandbox`, `--gpus`, `--limit`) read the same in
`grade submit`, `grade batch`, `grade report` and the LMS commands.

Imports only click and grader.textsafe at module level (the CLI's start-up time matters).
Callers: grader.cli, grader.commands.batch, grader.commands.lms, grader.commands.report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from grader.textsafe import one_line

EXIT_BAD_INPUT = 2
#: How much of an error message reaches the terminal (one line).
MESSAGE_CHARS = 1000

course_option = click.option(
    "--course", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Course folder holding assignments/ and reference/ (default: $DLGRADE_COURSE, "
         "then this checkout; the dlgrade package holds no course).")
db_option = click.option(
    "--db", default=None, metavar="URL",
    help="Gradebook database (default: $DLGRADE_DB, else sqlite:///gradebook.db here); "
         "e.g. postgresql+psycopg://user@host/db.")


def sandbox_option(help: str) -> Callable[[Any], Any]:  # noqa: A002 - click's own name
    """`--sandbox process|docker`, default process."""
    return click.option("--sandbox", type=click.Choice(["process", "docker"]), default="process",
                        show_default=True, help=help)


def gpus_option(help: str) -> Callable[[Any], Any]:  # noqa: A002
    """`--gpus all|N|IDS`, default none."""
    return click.option("--gpus", default=None, metavar="all|N|IDS", help=help)


def limit_option(example: str) -> Callable[[Any], Any]:
    """`--limit KEY=VALUE`, repeatable; `example` is one such pair for the help text."""
    return click.option("--limit", "limit", multiple=True, metavar="KEY=VALUE",
                        help=f"Override one of the assignment's [limits], e.g. --limit {example} (repeatable).")


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Stop the command: one neutralised `error: ...` line on stderr, exit `code` (default 2)."""
    click.echo(f"error: {one_line(message, MESSAGE_CHARS)}", err=True)
    sys.exit(code)


def parse_limit(item: str) -> tuple[str, int | float]:
    """One `--limit KEY=VALUE` as (key, number); `fail`s on a missing `=` or a non-number."""
    key, sep, value = item.partition("=")
    if not sep:
        fail(f"--limit {item!r}: expected KEY=VALUE")
    try:
        number = int(value) if value.strip().lstrip("-").isdigit() else float(value)
    except ValueError:
        fail(f"--limit {item!r}: {value!r} is not a number")
    return key.strip().replace("-", "_"), number


def open_gradebook(db: str | None):  # noqa: ANN201 - Gradebook, imported lazily
    """The gradebook at `db` (default as --db says); a bad URL or schema `fail`s."""
    from grader.gradebook.api import Gradebook
    from grader.gradebook.db import GradebookError

    try:
        return Gradebook.open(db)
    except GradebookError as e:
        fail(str(e))


def write_output(out: Path, text: str) -> Path:
    """Write `text` to the file `out` with grader.outputs.write_text; an OSError `fail`s."""
    from grader.outputs import write_text

    try:
        return write_text(out.parent if str(out.parent) else Path("."), out.name, text)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
