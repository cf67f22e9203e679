"""Grader accounts of the grading app: names, roles (instructor, ta), scrypt password hashes.

    from grader.gradebook.accounts import Accounts
    Accounts(gb.sessions).add_grader("ta1", "ta", password)
    Accounts(gb.sessions).authenticate("ta1", password)   # "ta", or None

Every change is written to the audit log. Callers: grader.serve (sign-in), grader.commands.serve
(`grade graders`). Calls nothing of grader but the gradebook's models.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from grader.gradebook import models as m
from grader.gradebook.manual import ManualError

ROLES = ("instructor", "ta")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt with a random salt, as `scrypt$n$r$p$salt$hash` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


class Accounts:
    """The graders of a gradebook; each method is its own transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def add_grader(self, name: str, role: str, password: str, actor: str = "cli") -> None:
        if role not in ROLES:
            raise ManualError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ManualError(f"grader name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
        if len(password) < 8:
            raise ManualError("the password must have at least 8 characters")
        with self.sessions.begin() as s:
            row = s.get(m.GraderRow, name)
            if row is None:
                s.add(m.GraderRow(name=name, role=role, password_hash=hash_password(password), created_at=m.utcnow()))
            else:
                row.role, row.password_hash = role, hash_password(password)
            s.add(m.AuditRow(actor=actor, action="grader_set", assignment_id="", at=m.utcnow(),
                             detail=json.dumps({"name": name, "role": role})))

    def graders(self) -> list[tuple[str, str, dt.datetime]]:
        with self.sessions() as s:
            return [(g.name, g.role, g.created_at) for g in s.scalars(sa.select(m.GraderRow)
                                                                       .order_by(m.GraderRow.name))]

    def remove_grader(self, name: str, actor: str = "cli") -> bool:
        with self.sessions.begin() as s:
            gone = s.execute(sa.delete(m.GraderRow).where(m.GraderRow.name == name)).rowcount or 0
            if gone:
                s.add(m.AuditRow(actor=actor, action="grader_remove", assignment_id="", at=m.utcnow(),
                                 detail=json.dumps({"name": name})))
            return bool(gone)

    def authenticate(self, name: str, password: str) -> str | None:
        """The grader's role when `password` is theirs, else None (same work for unknown names)."""
        with self.sessions() as s:
            row = s.get(m.GraderRow, name)
        stored = row.password_hash if row else "scrypt$16384$8$1$00$00"
        ok = check_password(password, stored)
        return row.role if row is not None and ok else None

    def role(self, name: str) -> str | None:
        with self.sessions() as s:
            row = s.get(m.GraderRow, name)
            return row.role if row else None
