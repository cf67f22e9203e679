"""`grade feedback ASSIGNMENT --zip FILE --for canvas|moodle|plain`: every student's feedback page
in one zip, named so that the LMS's bulk upload attaches each page to the right student.

- moodle: `{Full name}_{N}_assignsubmission_file/feedback.html`, the folder names of Moodle's own
  "Download all submissions" (for "Upload multiple feedback files in a zip");
- canvas: `{name}[_LATE]_{user id}_{attachment id}_feedback.html`, the prefix of Canvas's own
  download kept (Canvas recovers the user id from it);
- plain: `{student id}/feedback.html`.

The pages are the feedback.html files batch grading wrote (their paths are in the gradebook);
when the assignment has written or figure questions, each page is rendered again with the
manual grades as they are now (grader.batch.refresh.feedback_page: rubric items, comments,
final score). Calls grader.gradebook (read only), grader.batch.refresh, grader.lms.canvas/moodle
(names), grader.outputs.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from grader.lms import LmsError
from grader.textsafe import one_line

TARGETS = ("canvas", "moodle", "plain")
MAX_PAGE_BYTES = 20 * 2**20
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def entry_name(target: str, student: str, source_name: str, person: str) -> str:
    from grader.lms import canvas, moodle

    if target == "moodle":
        return f"{moodle.feedback_folder(student, source_name, person)}/feedback.html"
    if target == "canvas":
        return canvas.feedback_name(student, source_name, person)
    return f"{student}/feedback.html"


def _read_page(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_PAGE_BYTES + 1)
    return data if len(data) <= MAX_PAGE_BYTES else None


def not_graded_page(assignment: str, status: str, reason: str) -> bytes:
    """The page for a submission the judge could not grade (batch writes no feedback.html then)."""
    import html

    from grader.textsafe import clean_text

    if status == "invalid":
        why = "Your submission could not be graded: " + clean_text(reason or "it is not a notebook we can read", 2000)
    else:
        why = "Grading your submission failed on our side; your instructor will grade it again."
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(assignment)}: feedback"
            f"</title></head><body><h1>{html.escape(assignment)}</h1><p>{html.escape(why)}</p></body></html>\n"
            ).encode()


def build(gb: Any, assignment: str, out: Path, target: str) -> tuple[Path, int, list[str]]:
    """Write the zip; returns (path, pages written, notes on students left out)."""
    from grader.outputs import ensure_dir, write_bytes

    if target not in TARGETS:
        raise LmsError(f"--for must be one of {', '.join(TARGETS)}")
    rows = gb.students(assignment)
    by_student = {r.student: r for r in rows}
    subs = gb.submissions(assignment)
    if not subs:
        raise LmsError(f"the gradebook has no submissions for '{assignment}' (run grade batch first)")
    from grader.batch.refresh import feedback_page
    from grader.gradebook.manual import Manual

    has_manual = bool(Manual(gb.sessions).questions(assignment))
    buf = io.BytesIO()
    notes: list[str] = []
    names: set[str] = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for sub in subs:
            who = one_line(sub.student, 60)
            page = _read_page(sub.feedback_path) if sub.feedback_path else None
            if page is not None and has_manual:  # the manual grades as they are now, rubric items and comments
                made = feedback_page(gb, assignment, sub.student, row=by_student.get(sub.student), sub=sub)
                page = made[1].encode("utf-8") if made else page
            if page is None and sub.status in ("invalid", "error"):
                reason = by_student[sub.student].reason if sub.student in by_student else ""
                page = not_graded_page(assignment, sub.status, reason)
            if page is None:
                notes.append(f"{who}: no feedback page ({sub.status or 'not graded'})")
                continue
            name = entry_name(target, sub.student, sub.source_name, by_student[sub.student].name if sub.student in by_student else "")
            if name in names or name.startswith("/") or ".." in name.split("/"):
                notes.append(f"{who}: left out: the name {one_line(name, 80)!r} is not usable")
                continue
            names.add(name)
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), page)
    folder = ensure_dir(out.parent if str(out.parent) else Path("."))
    return write_bytes(folder, out.name, buf.getvalue()), len(names), notes
