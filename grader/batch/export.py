"""`grade export ASSIGNMENT --format json|csv`: the gradebook's standing of every student.

The JSON format is documented in docs/batch.md. The CSV has one row per student: identity,
status, score (autograde), late penalty, final score, max, the manual questions' total and
whether one is still ungraded (`incomplete`), then one column per manual question
(`manual:<id>`, empty while ungraded) and one per test (the union of the tests graded, in the
order of the first grading that ran them). Every text cell
goes through grader.textsafe.csv_cell.

Callers: grader.commands.batch. Calls grader.gradebook.api.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from grader.gradebook.api import StudentRow
from grader.textsafe import csv_cell
from grader.version import __version__

CSV_FIELDS = ("student", "name", "email", "sis_user_id", "sis_login_id", "section", "status", "score",
              "late", "seconds_late", "late_penalty", "final_score", "max_score", "override", "manual_score",
              "incomplete")
FORMAT_VERSION = 1


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_json(assignment: str, title: str, max_score: float, rows: list[StudentRow],
                autograde_max: float | None = None) -> dict[str, Any]:
    """`max_score`: the whole assignment's points; `autograde_max`: the autograde's share of them."""
    return {
        "format_version": FORMAT_VERSION,
        "assignment": assignment,
        "title": title,
        "max_score": max_score,
        "autograde_max": max_score if autograde_max is None else autograde_max,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "grader_version": __version__,
        "students": [{
            "student": r.student, "name": r.name, "email": r.email, "sis_user_id": r.sis_user_id,
            "sis_login_id": r.sis_login_id, "section": r.section, "status": r.status, "score": r.score,
            "final_score": r.final_score, "max_score": r.max_score, "late": r.late,
            "seconds_late": r.seconds_late, "late_penalty": r.late_penalty, "tests": r.tests,
            "overrides": [{"test": o.test or None, "score": o.score, "comment": o.comment,
                           "at": _iso(o.created_at)} for o in r.overrides],
            "manual": r.manual, "manual_score": r.manual_score, "incomplete": r.incomplete,
            "reason": r.reason, "source": r.source_name, "content_hash": r.content_hash or None,
            "submitted_at": _iso(r.submitted_at), "graded_at": _iso(r.graded_at),
        } for r in rows],
    }


def test_columns(rows: list[StudentRow]) -> list[str]:
    names: list[str] = []
    for r in rows:
        for name in r.tests:
            if name not in names:
                names.append(name)
    return names


def export_csv(rows: list[StudentRow]) -> str:
    tests = test_columns(rows)
    questions = list(rows[0].manual) if rows else []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([csv_cell(h) for h in (*CSV_FIELDS, *(f"manual:{q}" for q in questions), *tests)])
    for r in rows:
        override = "; ".join(f"{o.test or 'total'}={o.score:g}" for o in r.overrides)
        values = (r.student, r.name, r.email, r.sis_user_id, r.sis_login_id, r.section, r.status, r.score,
                  "yes" if r.late else "", "" if r.seconds_late is None else round(r.seconds_late, 1),
                  r.late_penalty, r.final_score, r.max_score, override, r.manual_score,
                  "yes" if r.incomplete else "")
        manual = [csv_cell("" if r.manual.get(q) is None else r.manual[q]) for q in questions]
        w.writerow([csv_cell(v) for v in values] + manual + [csv_cell(r.tests.get(t, "")) for t in tests])
    return buf.getvalue()
