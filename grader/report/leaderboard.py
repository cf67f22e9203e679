"""The leaderboard of an assignment with `[model]`: students ranked under pseudonyms.

Owns: reading each student's current grading from the gradebook (its result's `extra.model`),
choosing the phase (the public score before the due date, the private one from then on),
pseudonyms (the student's own, from the notebook's `metadata.dlgrade.pseudonym`, checked by
`clean_pseudonym`; else one generated from the course secret), and the terminal and static
HTML forms. Calls grader.gradebook (read only) and grader.textsafe. Called by `grade
leaderboard` and the class report (grader.report.cli).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from grader.textsafe import one_line

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PHASES = ("public", "private")
_PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{2,23}$")
_ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fleet", "gentle", "hardy", "ivory", "jolly",
               "keen", "lucid", "mellow", "nimble", "opal", "plucky", "quiet", "rapid", "steady", "tidy")
_ANIMALS = ("otter", "heron", "lynx", "marten", "puffin", "ibex", "gecko", "wren", "bison", "koala",
            "newt", "orca", "panda", "quokka", "raven", "seal", "tapir", "vole", "yak", "zebu")


@dataclass(frozen=True)
class Entry:
    """One row of the leaderboard."""

    rank: int
    pseudonym: str
    score: float  # the phase's metric value
    student: str  # for the instructor only: never shown on the posted page


@dataclass(frozen=True)
class Leaderboard:
    """The ranked rows of one assignment in one phase."""

    assignment: str
    metric: str
    phase: str  # public | private
    higher_is_better: bool
    entries: tuple[Entry, ...]
    unscored: int  # graded students whose model could not be scored


def clean_pseudonym(value: Any) -> str:
    """A student's chosen pseudonym if it is 3-24 letters, digits, spaces, _ . - (else "")."""
    return value.strip() if isinstance(value, str) and _PSEUDONYM.match(value.strip()) else ""


def generated_pseudonym(student: str, assignment: str, secret: str) -> str:
    """A stable pseudonym from the course secret: the same student gets the same name all term."""
    d = hashlib.sha256(f"pseudonym\0{assignment}\0{student}\0{secret}".encode()).digest()
    return f"{_ADJECTIVES[d[0] % 20]}-{_ANIMALS[d[1] % 20]}-{int.from_bytes(d[2:4], 'big') % 100:02d}"


def phase_for(due: str, now: dt.datetime | None = None) -> str:
    """"public" before the due date (or with none set), "private" from then on."""
    if not due:
        return "public"
    now = now or dt.datetime.now(dt.timezone.utc)
    when = dt.datetime.fromisoformat(due if "T" in due or " " in due else f"{due}T23:59:59")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return "private" if now >= when else "public"


def build_leaderboard(gb: Any, assignment: Any, secret: str, phase: str | None = None,
                      now: dt.datetime | None = None) -> Leaderboard:
    """The leaderboard of `assignment` (an Assignment with [model]) from gradebook `gb`."""
    settings = assignment.model
    if settings is None:
        raise LookupError(f"assignment '{assignment.id}' has no [model]: there is no leaderboard")
    phase = phase or phase_for(assignment.due, now)
    scored: list[tuple[float, str, str]] = []
    unscored = 0
    taken: set[str] = set()
    for row in gb.students(assignment.id):
        if row.status != "graded" or row.grading_id is None:
            continue
        try:
            model = json.loads(gb.grading(row.grading_id)["result_json"] or "{}").get("extra", {}).get("model", {})
        except (ValueError, AttributeError, KeyError):
            model = {}
        value = model.get(phase) if isinstance(model, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            unscored += 1
            continue
        chosen = clean_pseudonym(model.get("pseudonym")) if settings.pseudonyms else ""
        name = chosen if chosen and chosen.lower() not in taken else \
            generated_pseudonym(row.student, assignment.id, secret)
        taken.add(name.lower())
        scored.append((float(value), name, row.student))
    sign = -1.0 if settings.higher_is_better else 1.0
    scored.sort(key=lambda e: (sign * e[0], e[1]))
    entries, rank = [], 0
    for i, (value, name, student) in enumerate(scored):
        if i == 0 or value != scored[i - 1][0]:
            rank = i + 1
        entries.append(Entry(rank, name, round(value, 6), student))
    return Leaderboard(assignment.id, settings.metric, phase, settings.higher_is_better, tuple(entries), unscored)


def text_lines(board: Leaderboard) -> list[str]:
    """The leaderboard as terminal lines."""
    order = "higher is better" if board.higher_is_better else "lower is better"
    lines = [f"{board.assignment}: {board.phase} leaderboard, {board.metric} ({order}), "
             f"{len(board.entries)} ranked"]
    lines += [f"{e.rank:>4}  {one_line(e.pseudonym, 24):<24}  {e.score:.4f}" for e in board.entries]
    if board.unscored:
        lines.append(f"({board.unscored} graded submission(s) without a scored model)")
    return lines


def render_html(board: Leaderboard) -> str:
    """A static page to post: pseudonyms and scores only, escaped, under a strict CSP."""
    e = html.escape
    rows = "\n".join(f"<tr><td>{x.rank}</td><td>{e(one_line(x.pseudonym, 24))}</td><td>{x.score:.4f}</td></tr>"
                     for x in board.entries)
    title = e(f"{board.assignment}: leaderboard ({board.phase} test set)")
    order = "higher is better" if board.higher_is_better else "lower is better"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{padding:.3em 1em;border-bottom:1px solid #ccc;text-align:left}}</style></head>
<body><h1>{title}</h1>
<p>{e(board.metric)} ({order}); {len(board.entries)} ranked.</p>
<table><thead><tr><th>Rank</th><th>Pseudonym</th><th>{e(board.metric)}</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def to_json(board: Leaderboard) -> dict[str, Any]:
    """For the class report's JSON: the instructor's view (student ids included)."""
    return {"assignment": board.assignment, "metric": board.metric, "phase": board.phase,
            "higher_is_better": board.higher_is_better, "unscored": board.unscored,
            "entries": [{"rank": x.rank, "pseudonym": x.pseudonym, "score": x.score, "student": x.student}
                        for x in board.entries]}
