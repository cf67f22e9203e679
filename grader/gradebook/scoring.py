"""Late policy and final scores: pure rules, no database.

`[late]` in assignment.toml (docs/batch.md):

    [late]
    due = "2026-12-01T23:59:00+01:00"   # ISO 8601 with a time zone ("" = the top-level due, if it has one)
    grace_minutes = 15                  # up to this late counts as on time
    per_day = 0.1                       # fraction of max_score lost per started day late
    zero_after_days = 7                 # more days late than this scores 0 (0 = never)
    max_penalty = 0.5                   # per_day penalties stop at this fraction of max_score

Lateness is counted from the due date (or the student's extension): a submission at the due
time or inside the grace is on time; past the grace, each started day counts (1 s past one day
is two days). An LMS late flag without a submission time counts as one day late, unless the
student has an extension. The final score is the autograde with the per-test overrides, plus the
manual grades of the written and figure questions (grader.gradebook.manual), or the total
override when there is one, minus the late penalty (a fraction of the whole assignment's
points), never below 0.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

DAY = 86_400.0
_KEYS = ("due", "grace_minutes", "per_day", "zero_after_days", "max_penalty")


@dataclass(frozen=True)
class LatePolicy:
    """An assignment's `[late]` table. The defaults charge nothing."""

    due: str = ""  # ISO 8601 with a time zone; "" = no due date, nothing is late
    grace_minutes: float = 0.0  # lateness up to this counts as on time
    per_day: float = 0.0  # fraction of max_score per started day late
    zero_after_days: float = 0.0  # more days late than this scores 0; 0 = never
    max_penalty: float = 1.0  # cap on the per_day penalty, a fraction of max_score

    @property
    def due_at(self) -> dt.datetime | None:
        return parse_time(self.due) if self.due else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str | None) -> LatePolicy:
        try:
            data = json.loads(text or "{}")
            return LatePolicy(**{k: v for k, v in data.items() if k in _KEYS})
        except (ValueError, TypeError):
            return LatePolicy()


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date-time with a time zone ("Z" allowed); ValueError otherwise."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add one, e.g. +00:00 or Z)")
    return value


def parse_late(table: Mapping[str, Any], fallback_due: str = "") -> LatePolicy:
    """Check a `[late]` table; raises ValueError with one line naming the key."""
    for key in table:
        if key not in _KEYS:
            raise ValueError(f"unknown key 'late.{key}' (allowed: {', '.join(_KEYS)})")
    due = table.get("due", "")
    if not isinstance(due, str):
        raise ValueError("late.due must be a string like 2026-12-01T23:59:00+01:00")
    if due:
        try:
            parse_time(due)
        except ValueError:
            raise ValueError(f"late.due must be ISO 8601 with a time zone, like 2026-12-01T23:59:00+01:00, "
                             f"not {due!r}") from None
    elif fallback_due:
        try:
            parse_time(fallback_due)
            due = fallback_due
        except ValueError:
            due = ""
    values: dict[str, Any] = {"due": due}
    for key, low, high in (("grace_minutes", 0, None), ("per_day", 0, 1), ("zero_after_days", 0, None),
                           ("max_penalty", 0, 1)):
        if key not in table:
            continue
        v = table[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low \
                or (high is not None and v > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"late.{key} must be a number {span}, not {v!r}")
        values[key] = float(v)
    return LatePolicy(**values)


@dataclass(frozen=True)
class Lateness:
    """How late one submission was under a policy, and what it costs."""

    late: bool  # past the due date and the grace (or flagged by the LMS without a time)
    seconds: float | None  # seconds past the due date (None: no submission time known)
    days: int  # started days late that count (0 when on time)
    penalty: float  # fraction of max_score taken off
    due: dt.datetime | None  # the due date that applied (the extension's, if any)

    def describe(self, max_score: float) -> str:
        if not self.late:
            return ""
        when = f"{self.seconds / 3600:.1f} h" if self.seconds is not None else "flagged late by the LMS"
        return (f"late ({when}; {self.days} day{'s' if self.days != 1 else ''}): "
                f"-{self.penalty * max_score:g} points ({self.penalty:.0%} of {max_score:g})")


ON_TIME = Lateness(False, None, 0, 0.0, None)


def assess(policy: LatePolicy, submitted_at: dt.datetime | None, late_flag: bool,
           extension: dt.datetime | None = None) -> Lateness:
    """Apply `policy` to one submission (see the module docstring for the rules)."""
    due = extension or policy.due_at
    if submitted_at is not None and due is not None:
        seconds = (submitted_at - due).total_seconds()
        if seconds <= policy.grace_minutes * 60:
            return Lateness(False, max(seconds, 0.0), 0, 0.0, due)
        days = max(1, math.ceil(seconds / DAY - 1e-9))
    elif late_flag and extension is None:
        seconds, days = None, 1
    else:
        return Lateness(False, None, 0, 0.0, due)
    if policy.zero_after_days and days > policy.zero_after_days:
        penalty = 1.0
    else:
        penalty = min(policy.max_penalty, policy.per_day * days)
    return Lateness(True, seconds, days, round(penalty, 9), due)


def final_score(score: float, tests: Mapping[str, float], overrides: Iterable[tuple[str, float]],
                max_score: float, lateness: Lateness = ON_TIME, manual: float = 0.0) -> float:
    """The score after overrides (per test, then total), manual grades and the late penalty; >= 0.

    `tests`: autograde score per test name; `overrides`: (test name or "" for the total, score);
    `manual`: the sum of the manual questions' grades (a total override replaces it too).
    """
    per_test = dict(tests)
    total_override = None
    changed = False
    for name, value in overrides:
        if name:
            per_test[name] = value
            changed = True
        else:
            total_override = value
    total = total_override if total_override is not None else \
        (sum(per_test.values()) if changed else score) + manual
    return round(max(0.0, total - lateness.penalty * max_score), 6)


def adjustment_lines(score: float, tests: Mapping[str, float], overrides: Iterable[tuple[str, float, str]],
                     max_score: float, lateness: Lateness = ON_TIME, manual: float | None = None) -> list[str]:
    """What the feedback page says about overrides, manual grades and lateness; [] when none.

    `manual`: the manual questions' total (None: the assignment has none); `max_score` is then
    the whole assignment's."""
    overrides = list(overrides)
    lines = []
    for name, value, comment in overrides:
        what = f"test {name}" if name else "the total score"
        lines.append(f"{what} set to {value:g} by the instructor" + (f": {comment}" if comment else ""))
    if lateness.late:
        lines.append(lateness.describe(max_score))
    if lines or manual is not None:
        final = final_score(score, tests, [(n, v) for n, v, _ in overrides], max_score, lateness, manual or 0.0)
        extra = f", written and figure questions {manual:g}" if manual is not None else ""
        lines.append(f"final score: {final:g} / {max_score:g} (autograde {score:g}{extra})")
    return lines
