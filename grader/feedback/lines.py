"""One line per failing test, for terminals and the in-notebook check: what the feedback page says.

`failure_lines` is the single place that turns a result's failing tests into text lines, so
that `grade check`, `grade submit` and `grader.check()` say the same thing. A message is shown
under the same rule as on the feedback page (`grader.feedback.page._details`): visible tests
always, `after_due_date` ones once the due date has passed, hidden ones only to instructors;
otherwise the page's note ("hidden test") stands in for it.

Everything here is student-derived text and goes through grader.textsafe.one_line.
May call grader.feedback.page (standard library only at import) and grader.textsafe.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from grader.textsafe import one_line

#: Statuses that are a failing line (passed and skipped tests are not listed).
FAILING = ("failed", "error", "partial")
#: The longest message kept on one line.
MESSAGE_CHARS = 300


def test_message(test: Any, *, instructor: bool = False, due: Any = None, now: datetime | None = None) -> str:
    """The message the feedback page shows for `test`, or its note when the page hides it."""
    from grader.feedback.page import _details, due_passed

    now = now or datetime.now(timezone.utc)
    show, note = _details(test, instructor=instructor, due_over=due_passed(due, now))
    return str(test.message or "") if show else note


def failure_line(test: Any, message: str) -> str:
    """`  FAIL test_relu_small (0/1): relu out: ...` on one line."""
    from grader.feedback.page import fmt_points

    word = {"failed": "FAIL", "error": "ERROR", "partial": "PARTIAL"}.get(test.status, test.status.upper())
    head = f"  {word} {one_line(test.name, 200)} ({fmt_points(test.score)}/{fmt_points(test.max_score)})"
    return f"{head}: {one_line(message, MESSAGE_CHARS)}" if message else head


def failure_lines(tests: Iterable[Any], *, instructor: bool = False, due: Any = None,
                  now: datetime | None = None) -> list[str]:
    """One line per failing (or partly passing) test, in the order the tests ran."""
    return [failure_line(t, test_message(t, instructor=instructor, due=due, now=now))
            for t in tests if t.status in FAILING]
