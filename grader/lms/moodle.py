"""Moodle assignments: fill the offline grading worksheet, and feedback folder names.

The worksheet (mod/assign gradingtable.php download; re-upload in feedback/offline
importgradeslib.php): `Identifier` ("Participant N", N the assignment-specific id that also
names the "Download all submissions" folders, which is the student id our Moodle intake
records), `Full name`, ..., `Grade`, `Maximum Grade`, ..., `Last modified (grade)`, then the
feedback columns such as `Feedback comments`. The importer finds `Identifier`, `Grade` and
`Last modified (grade)` by their exact header text and skips a row whose Moodle grade changed
more than 60 s after the CSV's `Last modified (grade)`, or whose grade is above the maximum.

We keep every row, column, the encoding and the separator; for each participant the gradebook
graded we fill `Grade` (scaled to the worksheet's `Maximum Grade` when it differs from ours),
the feedback comment, and `Last modified (grade)` (now, in Moodle's own date format).
Inferred, so tolerated: header spellings differing in case or spacing, a BOM, `;` or tab
separators, and a worksheet without a feedback column (then none is written).

Calls grader.textsafe; callers: grader.cli.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from grader.lms import LmsError
from grader.textsafe import csv_cell, one_line, storable

IDENTIFIER, GRADE, MODIFIED, FEEDBACK = "Identifier", "Grade", "Last modified (grade)", "Feedback comments"
MAX_GRADE = "Maximum Grade"
_PARTICIPANT = re.compile(r"^\s*Participant\s+(\d+)\s*$", re.I)
MAX_WORKSHEET_BYTES = 50 * 2**20


def moodle_date(moment: dt.datetime) -> str:
    """Moodle's strftimedatetime in English: 'Tuesday, 1 December 2026, 9:30 PM'."""
    hour = moment.hour % 12 or 12
    return (f"{moment.strftime('%A')}, {moment.day} {moment.strftime('%B')} {moment.year}, "
            f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}")


def grade_text(value: float) -> str:
    return f"{round(float(value), 2):.2f}"


@dataclass(frozen=True)
class Worksheet:
    """A read worksheet: its rows as text, and how to write it back the same way."""

    rows: list[list[str]]
    encoding: str
    delimiter: str
    bom: bool
    newline: str


def read_worksheet(raw: bytes) -> Worksheet:
    if len(raw) > MAX_WORKSHEET_BYTES:
        raise LmsError(f"the worksheet is larger than {MAX_WORKSHEET_BYTES // 2**20} MiB")
    bom = raw.startswith(b"\xef\xbb\xbf")
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = raw[3:].decode(encoding) if bom else raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    newline = "\r\n" if "\r\n" in text[:10_000] else "\n"
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t", ":"), key=first.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows or not rows[0]:
        raise LmsError("the worksheet is empty")
    return Worksheet(rows, "utf-8" if bom else encoding, delimiter, bom, newline)


def _column(header: list[str], name: str, required: bool = True) -> int | None:
    want = " ".join(name.lower().split())
    for i, h in enumerate(header):
        if " ".join(h.replace("\ufeff", "").lower().split()) == want:
            return i
    if required:
        raise LmsError(f"the worksheet has no '{name}' column (found: {', '.join(one_line(h, 40) for h in header)}); "
                       "download it again from Moodle: View all submissions > Download grading worksheet")
    return None


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def comment_for(row: Any, max_score: float, feedback_note: str = "") -> str:
    text = f"Autograded: {grade_text(row.final_score).rstrip('0').rstrip('.')} / {max_score:g}."
    if getattr(row, "manual", None):
        text += f" Written and figure questions: {row.manual_score:g}."
        if row.incomplete:
            text += " Some written answers are not graded yet."
    if row.late_penalty:
        text += f" Late penalty: {row.late_penalty:g}."
    if row.status == "invalid" and row.reason:
        text += " Not graded: " + one_line(row.reason, 300)
    return text + (" " + feedback_note if feedback_note else "")


def fill_worksheet(raw: bytes, rows: Iterable[Any], max_score: float, now: dt.datetime | None = None,
                   feedback_note: str = "") -> tuple[bytes, list[str], list[str]]:
    """(the filled worksheet, participants filled, notes). Rows of students not graded are kept as they are."""
    sheet = read_worksheet(raw)
    header = sheet.rows[0]
    ident, grade, modified = (_column(header, IDENTIFIER), _column(header, GRADE), _column(header, MODIFIED))
    feedback = _column(header, FEEDBACK, required=False)
    maximum = _column(header, MAX_GRADE, required=False)
    by_id = {r.student: r for r in rows if r.status in ("graded", "invalid")}
    stamp = moodle_date((now or dt.datetime.now().astimezone()))
    filled, notes = [], []
    out_rows = [header]
    for line in sheet.rows[1:]:
        line = list(line) + [""] * (len(header) - len(line))
        m = _PARTICIPANT.match(line[ident]) if line else None
        r = by_id.get(m.group(1)) if m else None
        if r is not None:
            scale = 1.0
            if maximum is not None and (their := _number(line[maximum])) and max_score > 0 \
                    and abs(their - max_score) > 1e-9:
                scale = their / max_score
            line[grade] = grade_text(r.final_score * scale)
            line[modified] = stamp
            if feedback is not None:
                line[feedback] = str(csv_cell(comment_for(r, max_score, feedback_note)))
            filled.append(r.student)
        out_rows.append(line)
    missing = sorted(set(by_id) - set(filled))
    if missing:
        notes.append(f"{len(missing)} graded student(s) have no row in the worksheet: "
                     + ", ".join(one_line(s, 40) for s in missing[:10]))
    return _encode(sheet, out_rows), filled, notes


def new_worksheet(rows: Iterable[Any], max_score: float, now: dt.datetime | None = None) -> bytes:
    """Without a downloaded worksheet: the importer's three columns plus Full name and Feedback comments."""
    stamp = moodle_date(now or dt.datetime.now().astimezone())
    out = [[IDENTIFIER, "Full name", GRADE, MODIFIED, FEEDBACK]]
    for r in rows:
        if r.status in ("graded", "invalid"):
            out.append([f"Participant {r.student}", str(csv_cell(r.name)), grade_text(r.final_score), stamp,
                        str(csv_cell(comment_for(r, max_score)))])
    return _encode(Worksheet(out, "utf-8", ",", False, "\n"), out)


def _encode(sheet: Worksheet, rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sheet.delimiter, lineterminator=sheet.newline).writerows(rows)
    try:
        data = buf.getvalue().encode(sheet.encoding)
    except UnicodeEncodeError:
        raise LmsError(f"a value cannot be written in the worksheet's encoding ({sheet.encoding})") from None
    return (b"\xef\xbb\xbf" if sheet.bom else b"") + data


def feedback_folder(student: str, source_name: str, person: str = "") -> str:
    """The folder Moodle's 'upload multiple feedback files in a zip' maps to `student`.

    Its own download names it `{Full name}_{N}_assignsubmission_file` (Moodle finds the
    participant by N); the name part comes from the intake's entry when it has that shape, and
    is neutralised either way (`entry_text`): no control or bidi character, no path separator.
    """
    first = source_name.split("/", 1)[0]
    m = re.match(r"^(.+?)_" + re.escape(student) + r"_assignsubmission_[a-z]+", first)
    name = entry_text(m.group(1) if m else person) or "Participant"
    return f"{name}_{student}_assignsubmission_file"


def entry_text(text: str, limit: int = 100) -> str:
    """`text` fit for a zip entry's name: only letters, marks, digits, punctuation, symbols and
    spaces (controls, bidi overrides, lone surrogates go), no / or \\ or _ (Moodle's separator:
    its own download writes a name's _ as a space), runs of spaces as one, at most `limit` chars."""
    kept = "".join(c if unicodedata.category(c)[0] in "LMNPS" and c not in "/\\_" else " "
                   for c in storable(text))
    return " ".join(kept.split())[:limit].strip()
