"""The gradebook on SQLite and on a real PostgreSQL server: migrations, one-transaction writes,
current pointers, overrides, extensions, late penalties, exports' change tracking, concurrent writers."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3

import pytest
import sqlalchemy as sa
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.gradebook import db
from grader.gradebook.api import Gradebook, NewGrading, NewSubmission, TestOutcome
from grader.gradebook.scoring import LatePolicy, assess, final_score, parse_late

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(due=DUE.isoformat(), grace_minutes=15, per_day=0.1, max_penalty=0.25, zero_after_days=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("pg_database")


def _grading(score: float, names=("t_a", "t_b")) -> NewGrading:  # noqa: ANN001
    tests = tuple(TestOutcome(n, "public", score / len(names), 5.0, "partial", f"msg {n}", "visible") for n in names)
    return NewGrading("graded", score, 10.0, tests=tests, result_json="{}", files=(("result", "/r.json"),
                                                                                 ("feedback", "/f.html")))


def _sub(student: str, content: bytes, assignment: str = "hw", **kw) -> NewSubmission:  # noqa: ANN003
    import hashlib

    return NewSubmission(student, assignment, f"{student}.ipynb", hashlib.sha256(content).hexdigest(), content, **kw)


def test_migrations_reach_head_and_reopening_is_one_query(url):  # noqa: ANN001
    gb = Gradebook.open(url)
    engine = gb.sessions.kw["bind"]
    assert db.current_revision(engine) == db.HEAD
    tables = set(sa.inspect(engine).get_table_names())
    assert {"students", "assignments", "blobs", "submissions", "runs", "gradings", "test_results",
            "feedback_files", "overrides", "extensions", "lms_pushes", "exports"} <= tables
    Gradebook.open(url).dispose()  # a second open finds head and changes nothing
    assert db.current_revision(engine) == db.HEAD
    gb.dispose()


def test_regrades_keep_one_current_grading_and_store_the_notebook(url):  # noqa: ANN001
    gb = Gradebook.open(url)
    gb.ensure_assignment("hw", "Homework", 10.0, POLICY)
    gb.ensure_students([{"id": "7", "name": "Ada", "email": "a@x"}, {"id": "8", "name": "Bo"}], roster=True)
    gb.record_grading(_sub("7", b"one"), _grading(4.0))
    gb.record_grading(_sub("7", b"one"), _grading(6.0))  # regrade of the same content
    gb.record_grading(_sub("7", b"two", submitted_at=DUE), _grading(8.0))  # a new submission
    rows = {r.student: r for r in gb.students("hw")}
    assert set(rows) == {"7", "8"}
    assert rows["7"].status == "graded" and rows["7"].score == 8.0 and rows["7"].final_score == 8.0
    assert rows["7"].tests == {"t_a": 4.0, "t_b": 4.0} and rows["7"].name == "Ada"
    assert rows["8"].status == "missing" and rows["8"].final_score == 0.0
    subs = gb.submissions("hw")
    assert [(s.student, s.notebook(), s.feedback_path) for s in subs] == [("7", b"two", "/f.html")]
    assert [t.message for t in gb.test_results(rows["7"].grading_id)] == ["msg t_a", "msg t_b"]
    assert gb.current("hw") == {"7": (subs[0].content_hash, "graded")}
    with gb.sessions() as s:
        assert s.execute(sa.text("select count(*) from gradings")).scalar() == 3
        assert s.execute(sa.text("select count(*) from gradings where is_current")).scalar() == 2
        assert s.execute(sa.text("select count(*) from submissions where is_current")).scalar() == 1
    gb.dispose()


def test_overrides_extensions_late_and_export_changes(url):  # noqa: ANN001
    gb = Gradebook.open(url)
    gb.ensure_assignment("hw", "Homework", 10.0, POLICY)
    two_days = DUE + dt.timedelta(days=1, hours=2)
    gb.record_grading(_sub("1", b"a", submitted_at=two_days), _grading(8.0))
    gb.record_grading(_sub("2", b"b", late_flag=True), _grading(8.0))
    rows = {r.student: r for r in gb.students("hw")}
    assert rows["1"].late and rows["1"].late_penalty == 2.0 and rows["1"].final_score == 6.0
    assert rows["2"].late and rows["2"].seconds_late is None and rows["2"].final_score == 7.0
    gb.record_export("hw", "json", "/x.json", list(rows.values()))
    gb.set_override("1", "hw", 5.0, "regraded by hand", test="t_a")
    gb.set_extension("2", "hw", DUE + dt.timedelta(days=3))
    rows = {r.student: r for r in gb.students("hw")}
    assert rows["1"].final_score == 7.0  # t_a 4 -> 5, then -2 late
    assert rows["2"].late is False and rows["2"].final_score == 8.0
    when, changes = gb.changes_since_export("hw")
    assert when is not None and sorted(c[0] for c in changes) == ["1", "2"]
    gb.set_override("1", "hw", 9.5, "total")
    assert {r.student: r.final_score for r in gb.students("hw")}["1"] == 7.5
    assert gb.clear_override("1", "hw") == 2 and gb.overrides("hw") == []
    gb.record_push("1", "hw", "canvas", 6.0, "ok")
    assert [(p.student, p.target, p.status) for p in gb.pushes("hw")] == [("1", "canvas", "ok")]
    gb.dispose()


def _writer(url: str, assignment: str, n: int) -> None:
    gb = Gradebook.open(url)
    gb.ensure_assignment(assignment, assignment, 10.0, LatePolicy())
    for i in range(n):
        gb.record_grading(_sub(f"s{i}", f"{assignment}-{i}".encode(), assignment), _grading(float(i % 10)))
    gb.dispose()


def test_two_batches_on_one_database_do_not_corrupt_it(url):  # noqa: ANN001
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, a, 25)) for a in ("hw1", "hw2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    gb = Gradebook.open(url)
    for a in ("hw1", "hw2"):
        rows = gb.students(a)
        assert len(rows) == 25 and all(r.status == "graded" for r in rows)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
            assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    gb.dispose()


@pytest.mark.parametrize("offset, penalty", [
    (dt.timedelta(0), 0.0),                                  # exactly at the due time
    (dt.timedelta(minutes=15), 0.0),                         # the last second of the grace
    (dt.timedelta(minutes=15, seconds=1), 0.1),              # just past the grace: one day
    (dt.timedelta(days=1), 0.1),                             # exactly 1 day late
    (dt.timedelta(days=1, seconds=1), 0.2),                  # into the second day
    (dt.timedelta(days=3), 0.25),                            # 3 days: 0.3, capped by max_penalty
    (dt.timedelta(days=5), 0.25),                            # zero_after_days = 5: not yet
    (dt.timedelta(days=5, seconds=1), 1.0),                  # 6th day: zero
])
def test_late_penalty_boundaries(offset, penalty):  # noqa: ANN001
    late = assess(POLICY, DUE + offset, late_flag=False)
    assert late.penalty == pytest.approx(penalty, abs=1e-12)
    assert late.late == (penalty > 0)
    assert final_score(9.0, {}, [], 10.0, late) == pytest.approx(max(0.0, 9.0 - 10 * penalty), abs=1e-9)


def test_extension_moves_the_due_date_and_policy_checks_keys():
    ext = DUE + dt.timedelta(days=2)
    assert assess(POLICY, DUE + dt.timedelta(days=2), False, ext).penalty == 0
    assert assess(POLICY, ext + dt.timedelta(days=1), False, ext).penalty == pytest.approx(0.1)
    assert assess(LatePolicy(), DUE, True).penalty == 0  # no policy: a flag costs nothing
    with pytest.raises(ValueError, match="time zone"):
        parse_late({"due": "2026-12-01T23:59:00"})
    with pytest.raises(ValueError, match="late.per_dya"):
        parse_late({"per_dya": 0.1})
    with pytest.raises(ValueError, match="late.per_day"):
        parse_late({"per_day": 2})
    assert parse_late({}, "2026-12-01T10:00:00+01:00").due == "2026-12-01T10:00:00+01:00"
    assert parse_late({}, "2026-12-01").due == ""  # a date without a zone cannot place lateness


def test_grade_batch_writes_to_postgresql(pg_database, tmp_path):  # noqa: ANN001, F811
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.ipynb").write_bytes((root / "assignments" / "backprop" / "starter.ipynb").read_bytes())
    (subs / "bob.ipynb").write_text("{ not json")
    run = [sys.executable, "-m", "grader.cli"]
    r = subprocess.run([*run, "batch", str(subs), "--assignment", "backprop", "--db", pg_database, "--json",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {k: json.loads(r.stdout)[k] for k in ("graded", "invalid")} == {"graded": 1, "invalid": 1}
    e = subprocess.run([*run, "export", "backprop", "--db", pg_database], capture_output=True, text=True)
    rows = {s["student"]: s for s in json.loads(e.stdout)["students"]}
    assert rows["ann"]["status"] == "graded" and rows["ann"]["score"] == 0 and len(rows["ann"]["tests"]) > 10
    assert rows["bob"]["status"] == "invalid" and "not valid JSON" in rows["bob"]["reason"]
