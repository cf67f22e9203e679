"""The `[regrades]` table of assignment.toml and the signed regrade links of feedback pages.

    [regrades]
    until = "2026-12-20T23:59:00+01:00"       # ISO 8601 with a time zone: links expire then
    url = "https://grader.example.edu"         # where students reach `grade serve`

No `[regrades]` (or no `until`): no links. A link is `URL/r/TOKEN`; TOKEN is the base64url JSON
of [student, assignment, item, expiry (Unix seconds)], a dot, and the base64url HMAC-SHA256 of
that text under a key derived from the course secret (GRADER_SECRET or GRADER_SECRET_FILE, as
the judge reads it). Without a course secret no link is written and none is accepted. An item is
`test:NAME` or `question:KEY`.

`verify` checks the size, then the signature (a forged or altered token: `LinkError("forged")`),
then the payload's shape, then the expiry (`LinkError("expired")`, the claim attached so the
student can still read the answers). Pure: standard library only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

#: Longest token accepted (a student id of 128, a test name of 512 and the rest fit well below).
MAX_TOKEN_CHARS = 2_000
ITEM_KINDS = ("test", "question")
_KEYS = ("until", "url")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[A-Za-z0-9._~\-/]*)?$")
_CONTEXT = b"dlgrade regrade links v1"


class LinkError(ValueError):
    """A link that is not accepted: `kind` is "forged" (bad signature or shape), "expired" or "off"."""

    def __init__(self, kind: str, message: str, claim: Claim | None = None) -> None:
        super().__init__(message)
        self.kind, self.claim = kind, claim


@dataclass(frozen=True)
class RegradeSettings:
    """`[regrades]` of an assignment. Both empty: the assignment has no regrade links."""

    until: str = ""  # ISO 8601 with a time zone; links expire then ("" = no links)
    url: str = ""  # the address of `grade serve` as students reach it, e.g. https://grader.example.edu

    @property
    def enabled(self) -> bool:
        return bool(self.until and self.url)

    @property
    def expires(self) -> int:
        """The expiry as Unix seconds (0 when not enabled)."""
        return int(_parse_time(self.until).timestamp()) if self.until else 0

    def to_json(self) -> str:
        return json.dumps({"until": self.until, "url": self.url}, sort_keys=True)

    @staticmethod
    def from_json(text: str | None) -> RegradeSettings:
        try:
            data = json.loads(text or "{}")
            return parse_regrades(data) if isinstance(data, dict) else RegradeSettings()
        except ValueError:
            return RegradeSettings()


@dataclass(frozen=True)
class Claim:
    """What a valid link names."""

    student: str
    assignment: str
    item: str  # test:NAME | question:KEY
    expires: int  # Unix seconds

    @property
    def kind(self) -> str:
        return self.item.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.item.split(":", 1)[1]

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.expires, dt.timezone.utc)


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value


def parse_regrades(table: Mapping[str, Any]) -> RegradeSettings:
    """Check a `[regrades]` table; ValueError with one line naming the key."""
    for key in table:
        if key not in _KEYS:
            raise ValueError(f"unknown key 'regrades.{key}' (allowed: {', '.join(_KEYS)})")
    until, url = table.get("until", ""), table.get("url", "")
    if not isinstance(until, str):
        raise ValueError("regrades.until must be a string like 2026-12-20T23:59:00+01:00")
    if until:
        try:
            _parse_time(until)
        except ValueError:
            raise ValueError("regrades.until must be ISO 8601 with a time zone, like 2026-12-20T23:59:00+01:00, "
                             f"not {until!r}") from None
    if not isinstance(url, str) or (url and not _URL_RE.match(url)):
        raise ValueError(f"regrades.url must be an http(s) address like https://grader.example.edu, not {url!r}")
    if until and not url:
        raise ValueError("regrades.url is required with regrades.until (the address of grade serve, "
                         "e.g. https://grader.example.edu)")
    return RegradeSettings(until=until, url=url.rstrip("/"))


def course_secret() -> str:
    """The course secret, read as the judge reads it (GRADER_SECRET_FILE, else GRADER_SECRET)."""
    path = os.environ.get("GRADER_SECRET_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get("GRADER_SECRET", "")


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claim: Claim, secret: str) -> str:
    """The token of `claim` (ValueError without a secret)."""
    if not secret:
        raise ValueError("no course secret (GRADER_SECRET): regrade links are off")
    body = _b64(json.dumps([claim.student, claim.assignment, claim.item, claim.expires],
                           separators=(",", ":"), ensure_ascii=True).encode("ascii"))
    return body + "." + _b64(hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).digest())


def verify(token: str, secret: str, now: dt.datetime | None = None) -> Claim:
    """The claim of a valid, unexpired token; LinkError otherwise (see the module docstring)."""
    if not secret:
        raise LinkError("off", "Regrade links are switched off on this server (it has no course secret).")
    forged = LinkError("forged", "This link is not one the course gave out (it was altered or made up).")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise forged
    body, sig = token.split(".")
    want = _b64(hmac.new(_key(secret), body.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(sig.encode("ascii", "replace"), want.encode("ascii")):
        raise forged
    try:
        data = json.loads(_unb64(body))
    except ValueError:
        raise forged from None
    if not (isinstance(data, list) and len(data) == 4 and all(isinstance(x, str) for x in data[:3])
            and isinstance(data[3], int) and not isinstance(data[3], bool)
            and data[2].split(":", 1)[0] in ITEM_KINDS and ":" in data[2]):
        raise forged
    claim = Claim(*data)
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.timestamp() > claim.expires:
        raise LinkError("expired", f"Regrade requests for this assignment closed on "
                                   f"{claim.expires_at:%Y-%m-%d %H:%M} UTC.", claim)
    return claim


def feedback_links(settings: RegradeSettings, student: str, assignment: str, tests: Iterable[str],
                   questions: Iterable[str], secret: str | None = None) -> dict[str, str]:
    """item -> link, for every test and question of one student's page; {} when links are off."""
    secret = course_secret() if secret is None else secret
    if not settings.enabled or not secret:
        return {}
    expires = settings.expires
    items = [f"test:{t}" for t in tests] + [f"question:{q}" for q in questions]
    return {item: f"{settings.url}/r/{sign(Claim(student, assignment, item, expires), secret)}" for item in items}
