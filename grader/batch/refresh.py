"""Re-render one student's feedback page from the gradebook after an override or extension.

The stored result.json and notebook bytes are rendered again with the gradebook's adjustments
(overrides, lateness, final score), and written over the feedback path the grading recorded.
Callers: grader.commands.batch. Calls grader.feedback, grader.gradebook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.gradebook.api import Gradebook


def refresh_feedback(gb: Gradebook, assignment: str, student: str, course: Path | None = None) -> Path | None:
    """Write the page again; returns its path, or None when the student has no rendered grading."""
    from grader.outputs import write_text

    made = feedback_page(gb, assignment, student, course)
    if made is None:
        return None
    target, html = made
    return write_text(target.parent, target.name, html)


def feedback_page(gb: Gradebook, assignment: str, student: str, course: Path | None = None, *,
                  row: Any = None, sub: Any = None) -> tuple[Path, str] | None:
    """(the recorded feedback path, the page as the gradebook has it now: overrides, lateness,
    manual grades with their rubric items and comments, regrade links), or None without a rendered grading.

    `row` and `sub` are the student's rows of gb.students and gb.submissions when the caller has
    them already (a feedback zip renders every student: reading the class again per page is quadratic)."""
    if row is None:
        row = next((r for r in gb.students(assignment) if r.student == student), None)
    if row is None or row.grading_id is None:
        return None
    if sub is None:
        sub = next((s for s in gb.submissions(assignment) if s.student == student), None)
    grading = gb.grading(row.grading_id)
    if sub is None or not sub.feedback_path or not grading["result_json"]:
        return None
    from grader.course.assignment import templates_dir
    from grader.feedback import build_feedback
    from grader.gradebook.manual import Manual
    from grader.gradebook.scoring import adjustment_lines
    from grader.judge.results import GradingResult

    result = GradingResult.from_json(json.loads(grading["result_json"]))
    try:
        nb = json.loads(sub.notebook().decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    lateness = gb.lateness(assignment, student, sub.submitted_at, sub.late_flag)
    manual = Manual(gb.sessions).feedback(assignment, student)
    lines = adjustment_lines(result.score, {t.name: t.score for t in result.tests},
                             [(o.test, o.score, o.comment) for o in row.overrides], row.max_score, lateness,
                             row.manual_score if manual else None)
    from grader.regrades.links import feedback_links

    links = feedback_links(gb.regrade_settings(assignment), student, assignment, [t.name for t in result.tests],
                           [q.key for q in manual])
    page = build_feedback(result, nb, templates=templates_dir(course), adjustments=lines, manual=manual,
                          regrade_links=links)
    return Path(sub.feedback_path), page.html
