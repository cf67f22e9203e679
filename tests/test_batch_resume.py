"""Stopping and resuming a batch: SIGKILL of the driver's whole process group at three points,
SIGTERM keeping what finished; the instructor's workflow: overrides that survive --force, late
penalties at the policy's boundaries (a Gradescope export with submission times), extensions,
--student, status and the exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from batch_class import LIMITS, small_class, write_folder
from cli_run import grade, grade_argv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SOLUTION = (ROOT / "assignments" / "backprop" / "solution.ipynb").read_bytes()
LIMIT_ARGS = [x for item in LIMITS for x in ("--limit", item)]


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("select count(*) from gradings").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _start(folder: Path, db: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(grade_argv("batch", folder, "--assignment", "backprop", "-j", "2", "--db", f"sqlite:///{db}",
                                       "--out", out, "--json", *LIMIT_ARGS),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_sigkill_at_three_points_then_resume_loses_and_duplicates_nothing(tmp_path):
    students = small_class(8)
    folder = write_folder(tmp_path / "subs", students)
    (folder / "broken.ipynb").write_text("{ not json")
    db, out = tmp_path / "gb.db", tmp_path / "out"
    points = [("at start", lambda: time.sleep(0.5) or True), ("after the first results", lambda: _committed(db) >= 2),
              ("mid-way", lambda: _committed(db) >= 5)]
    seen = []
    for what, ready in points:
        proc = _start(folder, db, out)
        deadline = time.monotonic() + 600
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"the batch ended before the kill point '{what}': {proc.stderr.read()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        for _ in range(100):
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
        assert not _group_alive(proc.pid), f"processes of the killed batch remain ({what})"
        seen.append(_committed(db))
    assert seen[-1] < 9, "the kills came too late to test anything"
    r = grade("batch", str(folder), "--assignment", "backprop", "-j", "2", "--db", f"sqlite:///{db}",
            "--out", str(out), "--json", *LIMIT_ARGS)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["graded"] + summary["invalid"] + summary["skipped"] == 9
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        # every submission graded exactly once over all the runs: nothing lost, nothing twice
        per_sub = conn.execute("select submission_id, count(*) from gradings group by submission_id").fetchall()
        assert len(per_sub) == 9 and all(n == 1 for _, n in per_sub), per_sub
        current = conn.execute("select s.student_id, g.status, g.score from submissions s join gradings g "
                               "on g.submission_id = s.id where s.is_current and g.is_current").fetchall()
    assert sorted(c[0] for c in current) == sorted([s.uid for s in students] + ["broken"])
    for student, status, score in current:
        if status == "graded":
            assert score == 45.0
            assert json.loads((out / student / "result.json").read_text())["score"] == score
            assert (out / student / "feedback.html").read_text().rstrip().endswith("</html>")
    assert not list(out.rglob(".*.tmp")), "a half-written file was left behind"
    r = grade("batch", str(folder), "--assignment", "backprop", "--db", f"sqlite:///{db}", "--out", str(out),
            "--json", *LIMIT_ARGS)
    assert json.loads(r.stdout)["graded"] == 0 and json.loads(r.stdout)["nothing_to_do"]


def test_sigterm_stops_the_judges_and_keeps_finished_results(tmp_path):
    folder = write_folder(tmp_path / "subs", small_class(6))
    db, out = tmp_path / "gb.db", tmp_path / "out"
    proc = _start(folder, db, out)
    deadline = time.monotonic() + 600
    while _committed(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    summary = json.loads(stdout)
    assert summary["interrupted"] and summary["graded"] >= 1
    for _ in range(100):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "judge processes outlived the batch"
    kept = _committed(db)
    assert kept >= summary["graded"]
    r = grade("batch", str(folder), "--assignment", "backprop", "--db", f"sqlite:///{db}", "--out", str(out),
            "--json", *LIMIT_ARGS)
    again = json.loads(r.stdout)
    assert again["graded"] == 6 - kept and again["skipped"] == kept


# --------------------------------------------------------------------------- late policy, overrides

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
LATE_TOML = f"""
[late]
due = "{DUE.isoformat()}"
grace_minutes = 10
per_day = 0.1
max_penalty = 0.25
zero_after_days = 4
"""
#: student -> (submitted, final score under the policy); autograde 45 of 47 (2 for the written
#: question, not graded here), the penalty a share of the 47
TIMES = {
    "s1": (DUE, 45.0),                                             # exactly at the due time
    "s2": (DUE + dt.timedelta(minutes=9, seconds=59), 45.0),       # inside the grace
    "s3": (DUE + dt.timedelta(days=1), 40.3),                      # 1 day late: -10 %
    "s4": (DUE + dt.timedelta(days=3), 33.25),                     # 3 days: -30 %, capped at -25 %
    "s5": (DUE + dt.timedelta(days=5), 0.0),                       # past zero_after_days
}


@pytest.fixture(scope="module")
def late_course(tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("late")
    course = work / "course"
    shutil.copytree(ROOT / "assignments" / "backprop", course / "assignments" / "backprop",
                    ignore=shutil.ignore_patterns("__pycache__", "examples"))
    shutil.copytree(ROOT / "reference", course / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", course / "templates")
    toml = course / "assignments" / "backprop" / "assignment.toml"
    toml.write_text(toml.read_text() + LATE_TOML)
    meta = io.StringIO()
    with zipfile.ZipFile(work / "gradescope.zip", "w") as zf:
        for n, (student, (when, _)) in enumerate(TIMES.items()):
            meta.write(f":submission_{100 + n}:\n  :submitters:\n  - :name: Student {student}\n"
                       f"    :sid: '{student}'\n  :created_at: {when.strftime('%Y-%m-%d %H:%M:%S.%f')} +00:00\n")
            zf.writestr(f"assignment_1_export/submission_{100 + n}/backprop.ipynb", SOLUTION)
        zf.writestr("assignment_1_export/submission_metadata.yml", meta.getvalue())
    db, out = work / "gb.db", work / "out"
    args = ["batch", str(work / "gradescope.zip"), "--assignment", "backprop", "-j", "2", "--db", f"sqlite:///{db}",
            "--out", str(out), "--course", str(course), "--json", *LIMIT_ARGS]
    r = grade(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["graded"] == 5
    return work, course, db, out, args


def _copy(late_course, tmp_path: Path) -> tuple[str, Path, list[str]]:  # noqa: ANN001
    work, course, db, out, args = late_course
    shutil.copy(db, tmp_path / "gb.db")
    shutil.copytree(out, tmp_path / "out")
    with sqlite3.connect(tmp_path / "gb.db") as conn:  # the copy's files are the copied ones
        conn.execute("update feedback_files set path = replace(path, ?, ?)", (str(out), str(tmp_path / "out")))
    args = [a.replace(str(db), str(tmp_path / "gb.db")).replace(str(out), str(tmp_path / "out")) for a in args]
    return f"sqlite:///{tmp_path / 'gb.db'}", tmp_path / "out", args


def _export(db: str) -> dict:
    r = grade("export", "backprop", "--db", db)
    assert r.returncode == 0, r.stderr
    return {s["student"]: s for s in json.loads(r.stdout)["students"]}


def test_late_penalties_at_the_boundaries_and_an_extension(late_course, tmp_path):
    db, out, _ = _copy(late_course, tmp_path)
    rows = _export(db)
    assert {s: r["final_score"] for s, r in rows.items()} == {s: f for s, (_, f) in TIMES.items()}
    assert all(r["score"] == 45.0 for r in rows.values())
    assert [s for s, r in rows.items() if r["late"]] == ["s3", "s4", "s5"]
    assert rows["s3"]["seconds_late"] == 86400 and rows["s4"]["late_penalty"] == 11.75
    page = (out / "s3" / "feedback.html").read_text()
    assert "late (24.0 h; 1 day)" in page and "final score: 40.3 / 47" in page
    r = grade("extension", "s4", "backprop", "--until", (DUE + dt.timedelta(days=3)).isoformat(), "--db", db)
    assert r.returncode == 0, r.stderr
    assert _export(db)["s4"]["final_score"] == 45.0 and not _export(db)["s4"]["late"]
    assert "late (" not in (out / "s4" / "feedback.html").read_text()
    bad = grade("extension", "s4", "backprop", "--until", "2026-12-01T10:00", "--db", db)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --until") and "time zone" in bad.stderr


def test_overrides_survive_force_and_show_in_exports_and_feedback(late_course, tmp_path):
    db, out, args = _copy(late_course, tmp_path)
    r = grade("override", "s1", "backprop", "--test", "test_affine_forward_small", "--score", "0.5",
            "--comment", "hand-checked", "--db", db)
    assert r.returncode == 0, r.stderr
    r = grade("override", "s2", "backprop", "--score", "30", "--comment", "=cmd|' /C calc'!A0", "--db", db)
    assert r.returncode == 0, r.stderr
    assert "the total score set to 30 by the instructor" in (out / "s2" / "feedback.html").read_text()
    bad = grade("override", "s1", "backprop", "--test", "test_nope", "--score", "1", "--db", db)
    assert bad.returncode == 2 and "no such test" in bad.stderr
    r = grade(*[a for a in args if a != "--json"], "--force")
    assert r.returncode == 0 and "This run: 5 graded" in r.stdout, r.stderr[-2000:]
    rows = _export(db)
    assert rows["s1"]["final_score"] == 44.5 and rows["s1"]["score"] == 45.0
    assert rows["s1"]["overrides"][0]["test"] == "test_affine_forward_small"
    assert rows["s2"]["final_score"] == 30.0 and rows["s2"]["overrides"][0]["comment"].startswith("=cmd")
    page = (out / "s1" / "feedback.html").read_text()
    assert "test test_affine_forward_small set to 0.5 by the instructor: hand-checked" in page
    text = grade("export", "backprop", "--db", db, "--format", "csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["student"] for r in table] == list(TIMES)
    assert "test_affine_forward_small" in table[0] and table[0]["final_score"] == "44.5"
    assert table[1]["override"] == "total=30"
    st = grade("status", "backprop", "--db", db).stdout
    assert "override: s1: test_affine_forward_small = 0.5" in st and "override: s2: total = 30" in st
    assert "changed since the last export" in st or "no change" in st
    r = grade("override", "s2", "backprop", "--clear", "--db", db)
    assert r.returncode == 0 and "removed 1 override" in r.stdout
    assert "changed since the last export" in grade("status", "backprop", "--db", db).stdout
    assert _export(db)["s2"]["final_score"] == 45.0
    one = grade(*args, "--student", "s3")
    assert json.loads(one.stdout)["graded"] == 1
