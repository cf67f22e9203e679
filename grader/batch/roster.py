"""`--roster CSV`: who is in the class, by the same id the intake gives.

Two forms are read:
- a plain CSV with an `id` column and optional `name`, `email`, `sis_user_id`, `sis_login_id`,
  `section` (headers are case-insensitive);
- Canvas's gradebook export: `Student, ID, SIS User ID, SIS Login ID, Section, ...`; its
  "Points Possible" row and rows without an ID are skipped.

Standard library only; callers: grader.batch.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

from grader.textsafe import one_line

FIELDS = ("id", "name", "email", "sis_user_id", "sis_login_id", "section")
_CANVAS = {"student": "name", "id": "id", "sis user id": "sis_user_id", "sis login id": "sis_login_id",
           "section": "section", "email": "email"}
MAX_ROSTER_BYTES = 20 * 2**20
MAX_ID_CHARS = 128  # the gradebook's students.id column


class RosterError(Exception):
    """The roster cannot be read (one line)."""


def read_roster(path: Path) -> list[dict[str, str]]:
    """The roster's students as dicts with the keys of FIELDS (missing ones empty)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RosterError(f"roster {path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_ROSTER_BYTES:
        raise RosterError(f"roster {path}: larger than {MAX_ROSTER_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"roster {path}: not UTF-8 text") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        raise RosterError(f"roster {path}: empty")
    header = [h.strip().lower() for h in rows[0]]
    if "id" not in header:
        raise RosterError(f"roster {path}: no 'id' column (a plain CSV needs id[,name,email,sis_user_id,"
                          "sis_login_id,section]; Canvas's export has Student, ID, SIS User ID, ...)")
    canvas = bool(header) and header[0] == "student"
    mapping = {i: (_CANVAS.get(h) if canvas else (h if h in FIELDS else None)) for i, h in enumerate(header)}
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        entry = {f: "" for f in FIELDS}
        for i, value in enumerate(row):
            key = mapping.get(i)
            if key:
                entry[key] = one_line(value, 256)
        if canvas and "points possible" in entry["name"].lower():
            continue
        entry["id"] = unicodedata.normalize("NFC", entry["id"])  # the intake's ids are NFC too
        if not entry["id"]:
            continue
        if len(entry["id"]) > MAX_ID_CHARS:
            raise RosterError(f"roster {path}: line {n}: the id is longer than {MAX_ID_CHARS} characters")
        if entry["id"] in seen:
            raise RosterError(f"roster {path}: line {n}: id {entry['id']!r} appears twice")
        seen.add(entry["id"])
        out.append(entry)
    return out
