"""The feedback page: score, tests, problem cells, grading errors and the rendered notebook.

`build_feedback` makes the page (a `FeedbackPage`: its HTML and the rendering errors that
belong in the result's errors); `render_feedback` also writes it. Our own page is rendered by
jinja2 with autoescape on; the notebook fragment from grader.feedback.render (sanitised, and
checked there as a whole) is the only markup marked safe; a
Content-Security-Policy meta tag forbids scripts, frames, fonts and any network access.
Student-derived strings of the page (test messages, cell messages, grading errors, names)
also lose control and bidi characters (grader.textsafe.clean_text).

jinja2 is imported on first use. Callers: grader.cli, batch grading.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from grader.feedback import cells as _cells
from grader.feedback.cells import MAX_OUTPUT_CHARS, truncate
from grader.judge.results import VISIBILITIES, GradingResult, TestResult
from grader.textsafe import clean_text, no_surrogates

#: The Content-Security-Policy of the page. No scripts, frames, fonts or connections;
#: images only inline (plots are base64 `data:` URLs); inline CSS only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
#: Grading errors shown.
MAX_ERRORS = 100
#: If the rendered notebook is still larger than this, it is left out of the page.
MAX_FRAGMENT_CHARS = 25_000_000
#: Test statuses the page knows (grader.judge.results.STATUSES, and "skipped" from the pytest plugin);
#: anything else is shown as "unknown".
TEST_STATUSES = ("passed", "partial", "failed", "error", "skipped")

_log = logging.getLogger("dlgrade.feedback")


@dataclass(frozen=True)
class FeedbackPage:
    """One rendered page. `errors` are problems met while rendering (a cell shown as source
    because it could not be rendered, a cell left out as unsafe): the page lists them, and
    the caller adds them to the result's errors (result.json) with `result_with_errors`."""

    html: str
    errors: tuple[str, ...] = ()

    def result_with_errors(self, result: GradingResult) -> GradingResult:
        """`result` with this page's rendering errors appended to its errors."""
        if not self.errors:
            return result
        import dataclasses

        new = [line for e in self.errors if (line := f"feedback page: {e}") not in result.errors]
        return dataclasses.replace(result, errors=(*result.errors, *new)) if new else result


def fmt_points(x: Any) -> str:
    """27.5 -> "27.5", 40.0 -> "40", 1/3 -> "0.33"."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "?"
    if value != value:  # NaN
        return "?"
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_due(due: Any) -> datetime | date | None:
    """An ISO date ("2025-03-01") or date-time; None when absent, empty or unreadable."""
    if isinstance(due, datetime):
        return due
    if isinstance(due, date):
        return due
    if not isinstance(due, str) or not due.strip():
        return None
    text = due.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def due_passed(due: Any, now: datetime) -> bool:
    """Whether `due` has passed at `now`. A date is due at the end of that day (in the
    zone of `now`); a naive date-time is read in the zone of `now`. No due date: False."""
    when = parse_due(due)
    if when is None:
        return False
    if not isinstance(when, datetime):
        return now.date() > when
    if (when.tzinfo is None) != (now.tzinfo is None):
        if when.tzinfo is None:
            when = when.replace(tzinfo=now.tzinfo)
        else:
            now = now.astimezone()  # naive now is local time
    return now >= when


def _test_row(test: TestResult, *, show_details: bool, hidden_reason: str, cells: set[int]) -> dict[str, Any]:
    status = test.status if test.status in TEST_STATUSES else "unknown"
    row: dict[str, Any] = {
        "name": clean_text(test.name, 500),
        "points": f"{fmt_points(test.score)} / {fmt_points(test.max_score)}",
        "status": status,
        "visibility": test.visibility if test.visibility in VISIBILITIES else "hidden",
        "suite": clean_text(test.suite, 50),
        "description": "",
        "message": "",
        "note": "",
        "cell": None,
        "diagnoses": [],
    }
    if show_details:
        row["description"] = clean_text(truncate(str(test.description or ""), 2_000, "description"))
        row["message"] = clean_text(truncate(str(test.message or ""), MAX_OUTPUT_CHARS, "message"))
        if isinstance(test.cell, int) and test.cell in cells:
            row["cell"] = test.cell
        row["diagnoses"] = [{"title": clean_text(str(d.get("title", "")), 300), "hint": clean_text(str(d.get("hint", "")), 2_000)}
                            for d in (test.diagnoses or ())[:5] if isinstance(d, dict)]
    else:
        row["note"] = hidden_reason
    return row


def _details(test: TestResult, *, instructor: bool, due_over: bool) -> tuple[bool, str]:
    if instructor or test.visibility == "visible":
        return True, ""
    if test.visibility == "after_due_date":
        if due_over:
            return True, ""
        return False, "details are shown after the due date"
    return False, "hidden test"  # "hidden" and anything unknown


def _bar_pct(score: Any, max_score: Any) -> str:
    try:
        frac = float(score) / float(max_score)
    except (TypeError, ValueError, ZeroDivisionError):
        frac = 0.0
    frac = 0.0 if frac != frac else min(max(frac, 0.0), 1.0)
    return f"{frac * 100:.1f}"


def _render_notebook(prepared: _cells.PreparedNotebook) -> Any:
    """grader.feedback.render's RenderedNotebook for `prepared` (imports mistune and pygments)."""
    from grader.feedback import render

    return render.render_notebook(prepared)


_page_envs: dict[str, Any] = {}
_css: list[str] = []


def build_feedback(
    result: GradingResult,
    notebook: Any,
    *,
    templates: Path,
    instructor: bool = False,
    now: datetime | None = None,
    adjustments: tuple[str, ...] | list[str] = (),
    manual: Any = (),
    regrade_links: Any = None,
) -> FeedbackPage:
    """The feedback page for `result` and the submitted `notebook`.

    `notebook` is the submitted nbformat v4 notebook as read (dict or NotebookNode);
    `templates` is the folder holding feedback.html.j2; `instructor` shows every test
    message whatever its visibility; `now` (default: the current time, UTC) decides whether
    an "after_due_date" message is shown yet; `adjustments`: lines from the gradebook
    (overrides, lateness, the final score), shown apart from the autograde; `manual`: the
    person-graded questions (grader.gradebook.manual.QuestionFeedback): score, rubric items
    applied with their comments, the grader's comment; `regrade_links`: item (`test:NAME`,
    `question:KEY`) -> the signed link asking for a regrade of it (grader.regrades.links).
    """
    import jinja2
    from markupsafe import Markup

    from grader.feedback import render

    templates = Path(templates)
    now = now or datetime.now(timezone.utc)
    due = result.extra.get("due") if isinstance(result.extra, dict) else None
    due_over = due_passed(due, now)

    prepared = _cells.prepare_notebook(notebook, result)
    notes = list(prepared.notes)
    render_errors: list[str] = []
    try:
        rendered = _render_notebook(prepared)
        fragment = rendered.html
        render_errors += rendered.errors
        notes += rendered.notes
    except Exception as e:  # the page must not fail grading: show the rest without the notebook
        _log.debug("feedback: the notebook could not be rendered", exc_info=True)  # no traceback on stderr
        fragment = ""
        render_errors.append(f"the notebook could not be rendered ({type(e).__name__}) and was left out of this page")
    if len(fragment) > MAX_FRAGMENT_CHARS:
        notes.append("the notebook is too large to show and was left out of this page")
        fragment = ""

    infos = prepared.cells
    cell_ids = {info.index for info in infos}
    rows = []
    for test in result.tests:
        show, reason = _details(test, instructor=instructor, due_over=due_over)
        rows.append(_test_row(test, show_details=show, hidden_reason=reason, cells=cell_ids))
        rows[-1]["regrade"] = (regrade_links or {}).get(f"test:{test.name}", "")

    code = [i for i in infos if i.cell_type == "code"]
    counts: dict[str, int] = {}
    for info in code:
        key = info.status or "not run"
        counts[key] = counts.get(key, 0) + 1
    errors = [clean_text(truncate(str(e), MAX_OUTPUT_CHARS, "error")) for e in result.errors[:MAX_ERRORS]]
    if len(result.errors) > MAX_ERRORS:
        errors.append(f"... and {len(result.errors) - MAX_ERRORS} more grading errors")
    errors += [clean_text(e) for e in render_errors if f"feedback page: {e}" not in result.errors]  # a re-render

    title = result.extra.get("title") if isinstance(result.extra, dict) else None
    key = str(templates.resolve())
    if key not in _page_envs:
        _page_envs[key] = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=True,  # everything is escaped but notebook_html and pygments_css
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    if not _css:
        _css.append(render.pygments_css())
    page = _page_envs[key].get_template("feedback.html.j2").render(
        csp=CSP,
        result=result,
        assignment=clean_text(result.assignment, 200),
        notebook_name=clean_text(result.notebook, 500),
        title=clean_text(title, 500) if title else "",
        score=fmt_points(result.score),
        max_score=fmt_points(result.max_score),
        bar_pct=_bar_pct(result.score, result.max_score),
        mode=str(result.mode),
        instructor=instructor,
        due=str(due) if due else "",
        due_over=due_over,
        tests=rows,
        test_counts=[(s, n) for s in (*TEST_STATUSES, "unknown") if (n := sum(r["status"] == s for r in rows))],
        problem_cells=[{"index": i.index, "label": i.label, "message": clean_text(i.message)}
                       for i in code if i.problem],
        cell_counts=sorted(counts.items()),
        code_cells=len(code),
        errors=errors,
        notes=notes,
        adjustments=[clean_text(a, 2_000) for a in adjustments],
        manual=[{"title": clean_text(q.title, 300),
                 "score": "not graded yet" if q.score is None else f"{fmt_points(q.score)} / {fmt_points(q.points)}",
                 "applied": [{"points": f"{i.points:+g}", "description": clean_text(i.description, 1000),
                            "comment": clean_text(i.comment, 2000)} for i in q.items],
                 "comment": clean_text(q.comment, 5000),
                 "regrade": (regrade_links or {}).get(f"question:{getattr(q, 'key', '')}", "")} for q in manual],
        notebook_html=Markup(fragment),  # the only markup trusted: sanitised and checked above
        pygments_css=Markup(_css[0]),
        generated=now.strftime("%Y-%m-%d %H:%M %Z").strip(),
        graded_in=f"{result.duration:.1f} s" if isinstance(result.duration, (int, float)) else "?",
    )
    # the last guard: a lone surrogate anywhere (a notebook's source, an output) would make the
    # page unwritable as UTF-8; the parts above clean student text, this catches what they miss
    return FeedbackPage(no_surrogates(page), tuple(render_errors))


def render_feedback(
    result: GradingResult,
    notebook: Any,
    out_path: Path,
    *,
    templates: Path,
    instructor: bool = False,
    now: datetime | None = None,
    adjustments: tuple[str, ...] | list[str] = (),
) -> Path:
    """Write the feedback page (`build_feedback`) to `out_path`; returns the path."""
    out_path = Path(out_path)
    page = build_feedback(result, notebook, templates=templates, instructor=instructor, now=now,
                          adjustments=adjustments).html
    from grader.outputs import write_text  # no link following, atomic

    return write_text(out_path.parent, out_path.name, page)
