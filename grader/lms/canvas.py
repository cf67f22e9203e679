"""Canvas: the gradebook CSV for Canvas's importer, feedback file names, and `grade push canvas`.

Gradebook CSV (instructure/canvas-lms lib/gradebook_importer.rb): header `Student, ID,
SIS User ID, SIS Login ID, Section`, then one assignment column titled `Title (id)` (the
importer reads the id with `^(.*)\\s\\((\\d+)\\)$`; without an id, the bare title, which Canvas
matches by title), then a `Points Possible` row, then one row per student. Canvas matches
students by the ID column (the Canvas user id, which is what a "Download Submissions" intake
records), then SIS User ID, then SIS Login ID. A blank cell means no score; values are compared
at 2 decimals.

Grade push (Submissions API): `PUT /api/v1/courses/:course/assignments/:assignment/submissions/:user`
with `submission[posted_grade]` and `comment[text_comment]`, or with `bulk`, `POST
.../submissions/update_grades` (`grade_data[user][posted_grade|text_comment]`), an asynchronous
job whose Progress (`GET /api/v1/progress/:id`) is polled until completed or failed; bearer
token from an environment variable. Retries 429 (Retry-After) and 5xx with backoff, stops at 401/403, and records every
push in the gradebook (`lms_pushes`), so a rerun sends only what changed.

Calls grader.gradebook.api (rows and push records), grader.textsafe; callers: grader.cli.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from grader.lms import LmsError
from grader.textsafe import csv_cell, one_line

HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Students per update_grades call (one Progress each).
BULK_SIZE = 100
TITLE_ID = re.compile(r"^(.*)\s\((\d+)\)$")


def column_title(title: str, canvas_id: int | None) -> str:
    """`Title (id)`, or the bare title (never one that Canvas would misread as carrying an id)."""
    title = one_line(title, 200) or "Assignment"
    if canvas_id is not None:
        return f"{title} ({int(canvas_id)})"
    if TITLE_ID.match(title):  # "HW (2)" alone would be read as assignment id 2
        title = title.replace("(", "[").replace(")", "]")
    return title


def score_text(value: float) -> str:
    """A score as Canvas reads it: at most 2 decimals, no trailing zeros."""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def exported_score(row: Any, missing: str) -> str:
    """What the student's cell holds: the final score; blank (or 0) when missing; blank on an error."""
    if row.status == "missing":
        return "0" if missing == "zero" else ""
    if row.status == "error":  # the grader failed, not the student: no score until it is regraded
        return ""
    return score_text(row.final_score)


def gradebook_csv(rows: Iterable[Any], *, title: str, canvas_id: int | None, points_possible: float,
                  missing: str = "blank") -> str:
    """The CSV text (rows: grader.gradebook.api.StudentRow, or anything with its fields)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*HEADER, column_title(title, canvas_id)])
    w.writerow(["Points Possible", "", "", "", "", score_text(points_possible)])
    for r in rows:
        w.writerow([csv_cell(r.name or r.student), csv_cell(r.student), csv_cell(r.sis_user_id),
                    csv_cell(r.sis_login_id), csv_cell(r.section), exported_score(r, missing)])
    return buf.getvalue()


def feedback_name(student: str, source_name: str, person: str = "") -> str:
    """A feedback file name Canvas attaches to `student` on re-upload: its download prefix kept.

    Canvas's own names are `name[_LATE]_userid_attachmentid_file`; when the intake's entry has
    that shape its prefix is reused, else `name_userid_feedback.html`.
    """
    base = source_name.rsplit("/", 1)[-1]
    m = re.match(r"^((?:[a-z0-9]*_)?(?:LATE_)?" + re.escape(student) + r"_\d+_)", base)
    if m:
        return f"{m.group(1)}feedback.html"
    slug = re.sub(r"[^a-z0-9]", "", person.lower()) or "student"
    return f"{slug}_{student}_feedback.html"


# ---------------------------------------------------------------- grade push canvas


class CanvasAuthError(LmsError):
    """401/403: the token is missing, wrong, expired or lacks the permission."""


@dataclass(frozen=True)
class PushPlan:
    """One grade to send: to whom, what, and what Canvas had from us before (None: never sent)."""

    student: str
    user: str  # the path segment: a Canvas user id, or sis_user_id:...
    score: float
    comment: str
    before: float | None


def target_name(url: str, course: str, canvas_id: int) -> str:
    """The `lms_pushes.target` of one Canvas assignment (so two courses never mix)."""
    host = urllib.parse.urlsplit(url).netloc
    return f"canvas:{host}:{course}:{canvas_id}"[:64]


def plan(rows: Iterable[Any], pushed: dict[str, float | None], max_score: float,
         feedback_url: str | None = None) -> list[PushPlan]:
    """What to send: every graded (or invalid) student whose final score differs from the last push."""
    out = []
    for r in rows:
        if r.status not in ("graded", "invalid"):
            continue
        score = round(float(r.final_score), 2)
        before = pushed.get(r.student)
        if before is not None and round(before, 2) == score:
            continue
        if r.student.isascii() and r.student.isdigit():
            user = r.student
        elif r.sis_user_id:
            user = "sis_user_id:" + r.sis_user_id
        else:
            continue  # no Canvas identity: reported by the caller
        how = "Graded" if getattr(r, "manual", None) else "Autograded"
        comment = f"{how} by dlgrade: {score_text(score)} / {score_text(max_score)}."
        if getattr(r, "manual", None):
            comment += f" Written and figure questions: {score_text(r.manual_score)}."
            if r.incomplete:
                comment += " Some written answers are not graded yet."
        if r.late_penalty:
            comment += f" Late penalty: {score_text(r.late_penalty)}."
        if feedback_url:
            comment += f" Feedback: {feedback_url.rstrip('/')}/{urllib.parse.quote(r.student)}/feedback.html"
        out.append(PushPlan(r.student, user, score, comment, before))
    return out


def last_pushed(pushes: Iterable[Any], target: str) -> dict[str, float | None]:
    """student -> the last score Canvas accepted from us for this target."""
    out: dict[str, float | None] = {}
    for p in pushes:
        if p.target == target and p.status == "ok":
            out[p.student] = p.final_score
    return out


class CanvasClient:
    """The few Submissions API calls we make; the token is held here and never printed."""

    def __init__(self, url: str, token: str, *, retries: int = 5, backoff: float = 0.5,
                 max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise LmsError(f"--url must be like https://canvas.example.edu, not {one_line(url, 100)!r}")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise LmsError("refusing to send the Canvas token over plain http; use an https:// URL")
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._token = token
        self.retries, self.backoff, self.max_wait, self.sleep, self.timeout = retries, backoff, max_wait, sleep, timeout

    def __repr__(self) -> str:
        return f"CanvasClient({self.base!r})"

    def put_grade(self, course: str, assignment: int, item: PushPlan) -> dict[str, Any]:
        path = (f"/api/v1/courses/{urllib.parse.quote(str(course), safe=':')}/assignments/{int(assignment)}"
                f"/submissions/{urllib.parse.quote(item.user, safe=':')}")
        body = urllib.parse.urlencode({"submission[posted_grade]": score_text(item.score),
                                       "comment[text_comment]": item.comment}).encode()
        return self._request("PUT", path, body)

    def bulk_update(self, course: str, assignment: int, items: list[PushPlan], poll: float = 1.0,
                    deadline: float = 600.0) -> dict[str, Any]:
        """update_grades for many students at once; waits for its Progress to finish; returns it."""
        path = (f"/api/v1/courses/{urllib.parse.quote(str(course), safe=':')}/assignments/{int(assignment)}"
                "/submissions/update_grades")
        fields = []
        for item in items:
            fields += [(f"grade_data[{item.user}][posted_grade]", score_text(item.score)),
                       (f"grade_data[{item.user}][text_comment]", item.comment)]
        progress = self._request("POST", path, urllib.parse.urlencode(fields).encode())
        ends = time.monotonic() + deadline
        while progress.get("workflow_state") not in ("completed", "failed"):
            if time.monotonic() > ends:
                raise LmsError(f"Canvas's bulk update did not finish within {deadline:.0f} s")
            pid = progress.get("id")
            if not isinstance(pid, int):
                raise LmsError("Canvas's bulk update answered without a Progress id")
            self.sleep(poll)
            progress = self._request("GET", f"/api/v1/progress/{pid}", None)
        if progress["workflow_state"] == "failed":
            raise LmsError(f"Canvas's bulk update failed: {one_line(progress.get('message') or 'no message', 200)}")
        return progress

    def _request(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read(1_000_000)
                try:
                    data = json.loads(raw or b"{}")
                except ValueError:
                    raise LmsError(f"{method} {path}: Canvas answered with something other than JSON") from None
                return data if isinstance(data, dict) else {}
            except urllib.error.HTTPError as e:
                code = e.code
                wait = delay
                if code in (401, 403):
                    raise CanvasAuthError(
                        f"Canvas refused the token ({code}) for {method} {path}: check that it is current "
                        "and that its user may grade this course") from None
                if code == 429 or code >= 500:
                    after = (e.headers or {}).get("Retry-After")
                    if code == 429 and after:
                        try:
                            wait = min(max(float(after), 0.0), self.max_wait)
                        except ValueError:
                            pass
                    if attempt < self.retries:
                        self.sleep(wait)
                        delay = min(delay * 2, self.max_wait)
                        continue
                raise LmsError(f"{method} {path}: HTTP {code}") from None
            except (urllib.error.URLError, OSError) as e:
                if attempt < self.retries:
                    self.sleep(delay)
                    delay = min(delay * 2, self.max_wait)
                    continue
                reason = getattr(e, "reason", e)
                raise LmsError(f"{method} {path}: cannot reach Canvas ({one_line(reason, 120)})") from None
        raise LmsError(f"{method} {path}: gave up after {self.retries} retries")


@dataclass(frozen=True)
class PushSummary:
    """How a push went: counts, and one line per student that could not be sent."""

    sent: int
    unchanged: int
    failed: int
    skipped: tuple[str, ...]  # students without a Canvas identity, or without a gradable result
    planned: tuple[PushPlan, ...]


def push_grades(gb: Any, assignment: str, client: CanvasClient | None, *, url: str, course: str,
                canvas_id: int, dry_run: bool = False, feedback_url: str | None = None, bulk: bool = False,
                log: Callable[[str], None] = print) -> PushSummary:
    """Send every changed final score; each outcome is recorded in the gradebook as it happens.

    Raises CanvasAuthError on 401/403 (nothing after it is sent). Other failures are recorded,
    logged in one line each, and the run goes on.
    """
    info = gb.assignment(assignment)
    if info is None:
        raise LmsError(f"the gradebook has no gradings for '{assignment}' (run grade batch first)")
    _title, max_score, _policy = info
    rows = gb.students(assignment)
    target = target_name(url, course, canvas_id)
    items = plan(rows, last_pushed(gb.pushes(assignment), target), max_score, feedback_url)
    waiting = sum(r.incomplete for r in rows)
    if waiting:
        log(f"warning: {waiting} student(s) have written or figure answers not graded yet; their score "
            "counts those as 0 until graded (grade serve), and the next push sends the change")
    planned_ids = {i.student for i in items}
    gradable = [r for r in rows if r.status in ("graded", "invalid")]
    skipped = tuple(f"{one_line(r.student, 60)}: no Canvas user id or SIS User ID" for r in gradable
                    if r.student not in planned_ids and not (r.student.isascii() and r.student.isdigit()) and not r.sis_user_id)
    unchanged = len(gradable) - len(items) - len(skipped)
    if dry_run:
        for i in items:
            was = "never sent" if i.before is None else f"was {score_text(i.before)}"
            log(f"would send {score_text(i.score)} to {one_line(i.student, 60)} ({was})")
        return PushSummary(0, unchanged, 0, skipped, tuple(items))
    assert client is not None
    sent = failed = 0
    if bulk:
        for start in range(0, len(items), BULK_SIZE):
            chunk = items[start:start + BULK_SIZE]
            try:
                progress = client.bulk_update(course, canvas_id, chunk)
            except CanvasAuthError as e:
                for i in chunk:
                    gb.record_push(i.student, assignment, target, i.score, "failed", one_line(e, 300))
                raise
            except LmsError as e:
                failed += len(chunk)
                for i in chunk:
                    gb.record_push(i.student, assignment, target, i.score, "failed", one_line(e, 300))
                log(f"failed: {len(chunk)} grade(s): {one_line(e, 200)}")
                continue
            sent += len(chunk)
            for i in chunk:
                gb.record_push(i.student, assignment, target, i.score, "ok",
                               json.dumps({"progress": progress.get("id")})[:300])
        return PushSummary(sent, unchanged, failed, skipped, tuple(items))
    for i in items:
        try:
            answer = client.put_grade(course, canvas_id, i)
        except CanvasAuthError as e:
            gb.record_push(i.student, assignment, target, i.score, "failed", one_line(e, 300))
            raise
        except LmsError as e:
            failed += 1
            gb.record_push(i.student, assignment, target, i.score, "failed", one_line(e, 300))
            log(f"failed: {one_line(i.student, 60)}: {one_line(e, 200)}")
            continue
        sent += 1
        detail = json.dumps({"grade": answer.get("grade"), "score": answer.get("score")})[:300]
        gb.record_push(i.student, assignment, target, i.score, "ok", detail)
    return PushSummary(sent, unchanged, failed, skipped, tuple(items))
