"""A real (SQLite) gradebook holding a class, written through grader.gradebook.api as batch
grading writes it: roster, gradings with per-test scores, overrides, late submissions under a
late policy, missing, invalid and errored students. The LMS tests read it back through exports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from grader.gradebook.api import Gradebook, NewGrading, NewSubmission, TestOutcome
from grader.gradebook.scoring import LatePolicy

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(due=DUE.isoformat(), grace_minutes=15, per_day=0.1, max_penalty=0.3)
MAX = 45.0
NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
         "Frances Allen", "Ken Thompson", "Zoë Durand", "=HYPERLINK(\"http://x\")"]


def canvas_id(i: int) -> str:
    return str(1000 + i)


def build_class(path: Path, n: int = 60, assignment: str = "backprop", ids=canvas_id,
                source=None, feedback_dir: Path | None = None) -> Gradebook:  # noqa: ANN001
    """n students; every 7th missing, #5 invalid, #11 errored, every 4th late, overrides on #2 and #3."""
    gb = Gradebook.open(f"sqlite:///{path}")
    gb.ensure_assignment(assignment, "Backprop, by hand", MAX, POLICY)
    roster = [{"id": ids(i), "name": NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}"),
               "sis_user_id": f"S{i:04d}", "sis_login_id": f"user{i}@uni.example", "section": f"Sec {i % 3}"}
              for i in range(n)]
    gb.ensure_students(roster, roster=True)
    for i in range(n):
        sid = ids(i)
        if i % 7 == 6:
            continue  # missing
        content = f"notebook {i}".encode()
        late = i % 4 == 1
        when = DUE + (dt.timedelta(days=1, hours=3) if late else -dt.timedelta(hours=i))
        sub = NewSubmission(sid, assignment, source(i, sid) if source else f"{sid}.ipynb",
                            hashlib.sha256(content).hexdigest(), content, intake="canvas", submitted_at=when)
        files = ()
        if feedback_dir is not None:
            page = feedback_dir / f"{sid}.html"
            page.write_text(f"<html><body>feedback for {sid}</body></html>")
            files = (("feedback", str(page)),)
        if i == 5:
            grading = NewGrading("invalid", reason="not valid JSON", files=files)
        elif i == 11:
            grading = NewGrading("error", reason="RuntimeError: judge crashed", files=files)
        else:
            score = float((i * 7) % 46)
            tests = (TestOutcome("test_a", "public", score / 2, MAX / 2, "partial", "", "visible"),
                     TestOutcome("test_b", "hidden", score / 2, MAX / 2, "partial", "", "visible"))
            grading = NewGrading("graded", score, MAX, tests=tests, result_json="{}", files=files)
        gb.record_grading(sub, grading)
    if n > 3:
        gb.set_override(ids(2), assignment, 44.5, "regraded by hand")
        gb.set_override(ids(3), assignment, 1.25, "one test by hand", test="test_a")
    return gb
