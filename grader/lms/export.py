"""`grade export ASSIGNMENT --format canvas|moodle`: the gradebook's final scores in an LMS's
import format (the json and csv formats live with batch grading, grader.batch).

Calls grader.gradebook.api (rows; the export is recorded), grader.lms.canvas/moodle, grader.outputs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from grader.lms import LmsError

FORMATS = ("canvas", "moodle")


def roster_rows(rows: list[Any], roster: list[dict[str, str]]) -> list[Any]:
    """The gradebook's rows in roster order, one per roster student (missing when not in the gradebook)."""
    by_id = {r.student: r for r in rows}
    out = []
    for entry in roster:
        sid = entry.get("id", "")
        row = by_id.get(sid)
        if row is None:
            template = rows[0] if rows else None
            if template is None:
                raise LmsError("the gradebook has no rows for this assignment (run grade batch first)")
            row = dataclasses.replace(template, student=sid, status="missing", score=0.0, final_score=0.0,
                                      late=False, seconds_late=None, late_penalty=0.0, tests={}, overrides=(),
                                      reason="", source_name="", content_hash="", submitted_at=None,
                                      submission_id=None, grading_id=None, graded_at=None, name="", email="",
                                      sis_user_id="", sis_login_id="", section="")
        fill = {k: entry[k] for k in ("name", "email", "sis_user_id", "sis_login_id", "section")
                if entry.get(k) and not getattr(row, k)}
        out.append(dataclasses.replace(row, **fill) if fill else row)
    return out


def export(gb: Any, assignment: str, fmt: str, output: Path | None, *, roster: Path | None = None,
           canvas_id: int | None = None, missing: str = "blank", worksheet: Path | None = None,
           course: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Write the export file; returns its path."""
    from grader.outputs import ensure_dir, write_bytes

    if fmt not in FORMATS:
        raise LmsError(f"unknown LMS format {fmt!r} (known: {', '.join(FORMATS)})")
    info = gb.assignment(assignment)
    if info is None:
        raise LmsError(f"the gradebook has no gradings for '{assignment}' (run grade batch first)")
    title, max_score, _policy = info
    rows = gb.students(assignment)
    if roster is not None:
        from grader.batch.roster import RosterError, read_roster

        try:
            rows = roster_rows(rows, read_roster(roster))
        except RosterError as e:
            raise LmsError(str(e)) from None
    if fmt == "canvas":
        from grader.lms import canvas

        if canvas_id is None:
            canvas_id = _course_canvas_id(assignment, course)
        if canvas_id is None:
            log("note: no Canvas assignment id ([lms] canvas_assignment_id or --canvas-id): "
                "Canvas will match the column by its title")
        data = canvas.gradebook_csv(rows, title=title or assignment, canvas_id=canvas_id,
                                    points_possible=max_score, missing=missing).encode("utf-8")
        output = output or Path(f"{assignment}-canvas.csv")
    else:
        from grader.lms import moodle

        if worksheet is not None:
            try:
                raw = Path(worksheet).read_bytes()
            except OSError as e:
                raise LmsError(f"cannot read the worksheet {worksheet}: {e.strerror or e}") from None
            data, filled, notes = moodle.fill_worksheet(raw, rows, max_score)
            for note in notes:
                log(f"note: {note}")
            log(f"filled {len(filled)} participant(s)")
        else:
            data = moodle.new_worksheet(rows, max_score)
        output = output or Path(f"{assignment}-moodle.csv")
    folder = ensure_dir(output.parent if str(output.parent) else Path("."))
    path = write_bytes(folder, output.name, data)
    gb.record_export(assignment, fmt, str(path), rows)
    return path


def _course_canvas_id(assignment: str, course: Path | None) -> int | None:
    from grader.course.assignment import AssignmentError, load_assignment

    try:
        return load_assignment(assignment, course).lms.canvas_assignment_id
    except AssignmentError:
        return None
