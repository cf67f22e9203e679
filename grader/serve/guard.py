"""What every page of `grade serve` shares: the CSP, the endpoints reached without an account,
the refusal with a page (AppError) and the CSRF check. Imported by grader.serve.app and
grader.serve.regrades; imports nothing of grader.
"""

from __future__ import annotations

import hmac

from flask import request, session

#: Endpoints reached without an account: a student's regrade page (its signed link is the credential).
PUBLIC_ENDPOINTS = ("regrade_link",)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


class AppError(Exception):
    """A request the app refuses with a page: status, title and what to do."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def check_csrf() -> None:
    """Refuse (AppError 400) a form whose csrf_token is not this session's."""
    sent = request.form.get("csrf_token", "")
    want = session.get("csrf", "")
    if not sent or not want or not hmac.compare_digest(sent.encode(), want.encode()):
        raise AppError(400, "Refused: missing or stale security token",
                       "This form was not sent by this app's current page (its CSRF token is missing or "
                       "stale). Nothing was saved. Reload the page and try again.")
