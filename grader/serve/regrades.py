"""Regrade requests in the grading app: the student's page behind a signed link, the staff queue,
resolutions, and the audit log.

- `/r/TOKEN` (no account): the item, the student's score on it, its feedback message or rubric
  items, the student's earlier requests with their answers, and a form to file one (reason: plain
  text, at most 2,000 characters). The token is checked first (grader.regrades.links): a forged
  link gets 403, an expired one a page saying so (its answers still readable, nothing can be
  filed); the form carries the session's CSRF token and the number of requests it showed, so a
  form sent twice or a second request while one is open is refused (409) and nothing changes.
- `/regrades` (graders): open requests per assignment and item, oldest first, the student's answer
  or test evidence beside the reason; `/regrades/<id>`: accept with a new score, adjusted rubric,
  or reject with a reply; each writes an audited override (grader.gradebook.regrades) and the
  student's feedback page is written again.
- `/audit`: the audit log (rubric changes, accounts, regrade resolutions).

Callers: grader.serve.app (register). Calls grader.gradebook.regrades, grader.regrades.links,
grader.batch.refresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, redirect, render_template, request, url_for

from grader.gradebook.api import Gradebook
from grader.gradebook.regrades import MAX_REASON_CHARS, RegradeError, Regrades
from grader.regrades.links import LinkError, course_secret, verify
from grader.serve.guard import PUBLIC_ENDPOINTS, AppError, check_csrf


def register(app: Flask, gb: Gradebook, course: Path | None = None) -> None:
    """Add the regrade pages to `app` (grader.serve.app.create_app calls this)."""
    rq = Regrades(gb.sessions)

    @app.errorhandler(RegradeError)
    def _regrade_error(e: RegradeError) -> tuple[str, int]:
        return render_template("error.html", title=e.title, message=str(e),
                               student=request.endpoint in PUBLIC_ENDPOINTS), e.status

    def _claim(token: str, allow_expired: bool) -> tuple[Any, str]:
        try:
            return verify(token, course_secret()), ""
        except LinkError as e:
            if e.kind == "expired" and allow_expired and e.claim is not None:
                return e.claim, str(e)
            status, title = {"forged": (403, "This link is not valid"), "expired": (410, "This link has expired"),
                             "off": (503, "Regrade requests are off")}[e.kind]
            raise AppError(status, title, str(e) + " Nothing was filed.") from None

    @app.route("/r/<token>", methods=["GET", "POST"], endpoint="regrade_link")
    def regrade_link(token: str) -> Any:
        if request.method == "POST":
            check_csrf()
            claim, _ = _claim(token, allow_expired=False)
            try:
                seen = int(request.form.get("seen", ""))
            except ValueError:
                raise AppError(400, "Bad form", "The form is incomplete; open the link again. Nothing was filed.") \
                    from None
            rq.file(claim.assignment, claim.student, claim.item, request.form.get("reason", ""), seen)
            return redirect(url_for("regrade_link", token=token, filed=1))
        claim, expired = _claim(token, allow_expired=True)
        view = rq.item(claim.assignment, claim.student, claim.item)
        history = rq.history(claim.assignment, claim.student, claim.item)
        return render_template("regrade_student.html", claim=claim, view=view, history=history, expired=expired,
                               open=any(r.status == "open" for r in history), max_chars=MAX_REASON_CHARS,
                               filed=request.args.get("filed") == "1", student=True)

    @app.get("/regrades")
    def regrades() -> str:
        everything = request.args.get("all") == "1"
        rows = rq.requests(status=None if everything else "open")
        groups: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
        for r in rows:
            try:
                view = rq.item(r.assignment, r.student, r.item, staff=True)
            except RegradeError:
                view = None
            groups.setdefault((r.assignment, r.item), []).append((r, view))
        return render_template("regrade_queue.html", groups=groups, everything=everything,
                               message=request.args.get("done", ""))

    @app.get("/regrades/<int:rid>")
    def regrade_request(rid: int) -> str:
        r = rq.get(rid)
        view = rq.item(r.assignment, r.student, r.item, staff=True)
        history = rq.history(r.assignment, r.student, r.item)
        return render_template("regrade_request.html", r=r, view=view, history=history, max_chars=MAX_REASON_CHARS)

    @app.post("/regrades/<int:rid>/resolve")
    def regrade_resolve(rid: int) -> Any:
        action = request.form.get("action", "")
        score = None
        if action == "accept":
            try:
                score = float(request.form.get("score", ""))
            except ValueError:
                raise RegradeError("The new score must be a number; nothing was saved.") from None
        done = rq.resolve(rid, action, g.grader, score, request.form.get("reply", ""))
        from grader.batch.refresh import refresh_feedback

        try:
            refresh_feedback(gb, done.assignment, done.student, course)
        except (OSError, ValueError):  # the page is written again by the next export or `grade feedback`
            app.logger.warning("could not rewrite the feedback page of request %s", rid)
        return redirect(url_for("regrades", done=f"Request {rid} {done.status}."))

    @app.get("/audit")
    def audit() -> str:
        aid = request.args.get("assignment") or None
        entries = list(reversed(rq.manual.audit(aid)))[:500]
        return render_template("audit.html", entries=entries, aid=aid)
