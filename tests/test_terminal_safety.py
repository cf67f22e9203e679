"""Terminal and log injection: nothing student-derived reaches a person's terminal raw.

A notebook controls its file name, its exception texts and (through them) the messages
the CLI prints: progress lines, notes, the closing summary, error lines. Terminal escape
sequences there could move the cursor, clear the screen, set the window title, write the
clipboard (OSC 52) or hide a link (OSC 8); bidi overrides could reorder what is read. The
CLI passes all of it through grader/textsafe.py, so none of those bytes are printed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from cli_run import grade
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import cli
from grader.commands import common as cliutil
from grader.judge.results import CellRun, GradingResult, TestResult

REPO = Path(__file__).resolve().parent.parent

#: Cursor moves, screen clear, a title set, an OSC 52 clipboard write, an OSC 8 hidden link,
#: 8-bit CSI, bidi overrides and isolates, a backspace and a carriage return.
HOSTILE = ("\x1b[2J\x1b[1;1H\x1b]0;PWNED-TITLE\x07\x1b]52;c;cm0gLXJmIH4=\x07"
           "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x9b31m\u202eevil\u2066x\u2069\b\rend")
#: Characters that must never reach the terminal from student text.
FORBIDDEN = ["\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\u2069", "\b", "\r"]


def assert_clean(text: str) -> None:
    for ch in FORBIDDEN:
        assert ch not in text, f"{ch!r} reached the terminal: {text!r}"


def test_progress_line_is_cleaned(capsys):
    progress = cli._Progress(quiet=False)
    progress.cell(CellRun(3, "error", 0.0, (), f"ValueError: {HOSTILE}"))
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.startswith("  cell 3: error: ValueError: ") and err.endswith("end\n")
    assert err.count("\n") == 1  # one line, whatever the message holds


def test_summary_lines_are_cleaned(tmp_path):
    result = GradingResult("backprop", f"nb{HOSTILE}.ipynb", "check", 0.0, 1.0,
                           (TestResult("t", "public", 0, 1, "failed", HOSTILE),),
                           errors=(f"worker crashed: {HOSTILE}\nsecond line",))
    lines = cli._summary(result, tmp_path / f"x{HOSTILE}" / "feedback.html", tmp_path / "result.json")
    for line in lines:
        assert_clean(line)
        assert "\n" not in line
    assert lines[1].startswith("note: worker crashed: ") and lines[1].endswith("second line")


def test_error_line_is_cleaned(capsys):
    with pytest.raises(SystemExit) as stop:
        cliutil.fail(f"{HOSTILE}.ipynb: not valid JSON")
    assert stop.value.code == cliutil.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("command", [["report"], ["similarity"], ["status"], ["export"],
                                     ["feedback", "--zip", "fb.zip"]])
def test_every_command_group_cleans_its_error_line(command, tmp_path):
    """batch, report and LMS commands quote the assignment id back: one clean line, exit 2."""
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    run = CliRunner().invoke(cli.main, [command[0], f"a{HOSTILE}", *command[1:], "--db", db])
    assert run.exit_code == cliutil.EXIT_BAD_INPUT, run.output
    assert_clean(run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 and run.stdout == ""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`grade check` (text and --json) of a notebook whose name and exception text carry escapes."""
    work = tmp_path_factory.mktemp("terminal")
    nb = new_notebook(cells=[
        new_markdown_cell("![x](attachment:missing.png)"),  # a page rendering error: a note line
        new_code_cell("x = 1"),
        new_code_cell(f"raise ValueError({HOSTILE!r})"),
    ])
    nb.metadata["dlgrade"] = {"assignment": "backprop"}
    path = work / "sub\u202emission\x1b]0;T\x07.ipynb"
    nbformat.write(nb, str(path))
    text = grade("check", path.name, cwd=work, isolated=True, timeout=300)
    as_json = grade("check", path.name, "--json", "--out", "json-out", cwd=work, isolated=True, timeout=300)
    return work, text, as_json


def test_cli_output_is_clean_for_a_hostile_notebook(hostile_run):
    work, run, _ = hostile_run
    assert run.returncode == 0, run.stderr
    assert_clean(run.stdout)
    assert_clean(run.stderr)
    assert "Traceback" not in run.stderr
    assert "Grading submission.ipynb for 'backprop'" in run.stderr  # the name, cleaned
    assert "  cell 2: error: ValueError: " in run.stderr
    assert "note: feedback page: cell 0: markdown shown as source text" in run.stdout


def test_json_output_escapes_controls(hostile_run):
    work, _, run = hostile_run
    assert run.returncode == 0, run.stderr
    assert_clean(run.stdout)
    assert_clean(run.stderr)
    data = json.loads(run.stdout)  # still the exact text, as JSON escapes
    assert any("\u202e" in (c.get("message") or "") for c in data["cells"])
    assert data["errors"][-1].startswith("feedback page: cell 0: markdown shown as source text")
    on_disk = json.loads((work / "json-out" / "result.json").read_text(encoding="utf-8"))
    assert on_disk["errors"] == data["errors"]  # result.json records the page's fallback too
