"""The grading app: sign-in, questions with progress, one answer at a time, rubric edits.

Security: every page sends a strict Content-Security-Policy (scripts, styles and images only
from the app itself, no inline script, no framing); templates autoescape everything; every
form carries the session's CSRF token, checked on every POST; sessions are signed cookies
(HttpOnly, SameSite=Strict) naming a grader account that must still exist; figures are the
PNGs the intake re-encoded, served as image/png with nosniff. Unknown questions, stale forms
and forged links get an error page saying what to do; nothing is written for them. Regrade requests
(a student's page behind a signed link, the staff queue, the audit log) are in grader.serve.regrades.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from grader.gradebook.accounts import Accounts
from grader.gradebook.api import Gradebook
from grader.gradebook.manual import Manual, ManualError, StaleGrade
from grader.serve.guard import CSP, PUBLIC_ENDPOINTS, AppError, check_csrf


def create_app(gb: Gradebook, *, seed: int = 1, secret_key: str | None = None, course: Path | None = None) -> Flask:
    """The app on gradebook `gb`; `seed` fixes the answers' order for every grader; `course`: where the
    feedback pages' templates are (for pages written again after a regrade request is resolved)."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or os.environ.get("DLGRADE_SERVE_SECRET") or secrets.token_hex(32),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12), MAX_CONTENT_LENGTH=256 * 1024)
    manual, accounts = Manual(gb.sessions), Accounts(gb.sessions)
    app.extensions["dlgrade"] = {"gb": gb, "manual": manual, "seed": seed}

    @app.before_request
    def _guard() -> Any:
        g.started = time.perf_counter()
        g.grader = g.role = None
        name = session.get("grader")
        if name:
            role = accounts.role(name)
            if role is None:  # the account was removed
                session.clear()
            else:
                g.grader, g.role = name, role
        if request.endpoint in ("login", "static", *PUBLIC_ENDPOINTS):
            return None  # the login form and a student's regrade page check their CSRF token themselves
        if g.grader is None:
            if request.method == "GET":
                return redirect(url_for("login", next=request.path))
            raise AppError(401, "Not signed in", "Sign in first; nothing was saved.")
        if request.method == "POST":
            check_csrf()
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        if "started" in g:
            resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        return resp

    @app.errorhandler(AppError)
    def _app_error(e: AppError) -> tuple[str, int]:
        return render_template("error.html", title=e.title, message=e.message), e.status

    @app.errorhandler(ManualError)
    def _manual_error(e: ManualError) -> tuple[str, int]:
        if isinstance(e, StaleGrade):
            return render_template("error.html", title="Not saved: someone else graded this answer",
                                   message=str(e), back=request.path.rsplit("/", 1)[0]), 409
        return render_template("error.html", title="Not found", message=str(e)), 404

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> tuple[str, int]:
        return render_template("error.html", title=e.name, message=e.description or ""), e.code or 500

    @app.context_processor
    def _context() -> dict[str, Any]:
        return {"csrf_token": _csrf_token(), "grader": g.get("grader"), "role": g.get("role")}

    # -- sign-in ---------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        error = ""
        if request.method == "POST":
            check_csrf()
            name, password = request.form.get("name", ""), request.form.get("password", "")
            role = accounts.authenticate(name, password)
            if role is None:
                error = "Unknown name or wrong password."
            else:
                session.clear()
                session.permanent = True
                session["grader"] = name
                session["csrf"] = secrets.token_urlsafe(32)
                target = request.args.get("next", "")
                return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
        return render_template("login.html", error=error), 401 if error else 200

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("login"))

    # -- overview --------------------------------------------------------------------
    @app.get("/")
    def index() -> str:
        listing = []
        for aid in gb.assignments():
            questions = []
            for q in manual.questions(aid):
                order = manual.queue(aid, q.key, seed)
                questions.append((q, sum(e.graded for e in order), len(order)))
            if questions:
                listing.append((aid, questions))
        from grader.gradebook.regrades import Regrades

        return render_template("index.html", listing=listing,
                               open_regrades=len(Regrades(gb.sessions).requests(status="open")))

    # -- grading ---------------------------------------------------------------------
    def _at(aid: str, key: str, pos: int) -> tuple[Any, list[Any], Any]:
        q = manual.question(aid, key)
        order = manual.queue(aid, key, seed, q)
        if not 1 <= pos <= len(order):
            raise AppError(404, "No such answer", f"Question {key} has answers 1 to {len(order)}; there is "
                                                  f"no answer {pos}.")
        return q, order, order[pos - 1]

    def _student_of(aid: str, key: str, pos: int) -> tuple[Any, int, str]:
        """(question, number of answers, student at `pos`), checked against the form's student."""
        q, order, entry = _at(aid, key, pos)
        sent = request.form.get("student", "")
        if not hmac.compare_digest(sent.encode(), entry.student.encode()):
            raise AppError(409, "Stale page", "The answers changed since this page was loaded (a new "
                                              "submission arrived); nothing was saved. Reload the page.")
        return q, len(order), entry.student

    def _version() -> int:
        try:
            return int(request.form.get("version", ""))
        except ValueError:
            raise AppError(400, "Bad form", "The form has no valid version; reload the page.") from None

    @app.get("/a/<aid>/q/<key>")
    def question(aid: str, key: str) -> Any:
        order = manual.queue(aid, key, seed)
        if not order:
            raise AppError(404, "No answers", f"No student has a submission for {aid} yet.")
        pos = next((i for i, e in enumerate(order, 1) if not e.graded), 1)
        return redirect(url_for("answer", aid=aid, key=key, pos=pos, **_names_arg()))

    @app.get("/a/<aid>/q/<key>/<int:pos>")
    def answer(aid: str, key: str, pos: int) -> str:
        q, order, entry = _at(aid, key, pos)
        view = manual.answer(aid, key, entry.student, q)
        return render_template("answer.html", aid=aid, q=q, pos=pos, total=len(order),
                               done=sum(e.graded for e in order), view=view,
                               names=request.args.get("names") == "1", names_arg=_names_arg())

    @app.post("/a/<aid>/q/<key>/<int:pos>/toggle")
    def toggle(aid: str, key: str, pos: int) -> Any:
        q, _total, student = _student_of(aid, key, pos)
        manual.toggle(aid, key, student, request.form.get("item", ""), g.grader, _version(), q)
        return redirect(url_for("answer", aid=aid, key=key, pos=pos, **_names_arg()))

    @app.post("/a/<aid>/q/<key>/<int:pos>/save")
    def save(aid: str, key: str, pos: int) -> Any:
        q, total, student = _student_of(aid, key, pos)
        comment = request.form.get("comment", "")[:5000]
        manual.save(aid, key, student, request.form.getlist("items"), comment, g.grader, _version(), q)
        return redirect(url_for("answer", aid=aid, key=key, pos=min(pos + 1, total), **_names_arg()))

    @app.get("/a/<aid>/q/<key>/<int:pos>/figure.png")
    def figure(aid: str, key: str, pos: int) -> Response:
        _q, _order, entry = _at(aid, key, pos)
        png = manual.figure(aid, key, entry.student)
        if not png:
            abort(404, "This student has no figure.")
        return Response(png, mimetype="image/png", headers={"Content-Disposition": "inline; filename=figure.png"})

    # -- rubric ----------------------------------------------------------------------
    @app.route("/a/<aid>/q/<key>/rubric", methods=["GET", "POST"])
    def rubric(aid: str, key: str) -> Any:
        q = manual.question(aid, key)
        message = ""
        if request.method == "POST":
            if g.role != "instructor":
                raise AppError(403, "Instructors only", "Only an instructor may change the rubric.")
            item = request.form.get("item") or None
            try:
                points = float(request.form.get("points", ""))
            except ValueError:
                raise AppError(400, "Bad points", "Points must be a number; nothing was changed.") from None
            n = manual.edit_item(aid, key, item, points, request.form.get("description", ""),
                                 request.form.get("comment", ""), g.grader)
            message = f"Saved; {n} grade(s) re-scored."
            q = manual.question(aid, key)
        usage = dict((i.key, c) for i, c in manual.item_usage(aid).get(key, []))
        return render_template("rubric.html", aid=aid, q=q, usage=usage, message=message,
                               audit=[a for a in manual.audit(aid) if a["detail"].get("question") == key][-20:])

    from grader.serve import regrades

    regrades.register(app, gb, course)
    return app


def _names_arg() -> dict[str, str]:
    return {"names": "1"} if request.args.get("names") == "1" else {}


def _csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token
