"""From an LMS's own download to the file its importer takes, through the real commands:
`grade batch` on a Moodle (or Canvas) submissions zip, then `grade export` and `grade feedback`.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import cli_run
import pytest
from test_lms_exports import moodle_worksheet, parse_canvas, parse_moodle

from grader.gradebook.api import Gradebook

ROOT = Path(__file__).resolve().parent.parent
BACKPROP = ROOT / "assignments" / "backprop"
NOTEBOOKS = {"solution": (BACKPROP / "solution.ipynb").read_bytes(),
             "buggy": (BACKPROP / "examples" / "submission.ipynb").read_bytes(),
             "malformed": b'{"cells": ['}


def grade(*args: str) -> subprocess.CompletedProcess:
    proc = cli_run.grade(*args, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def zip_of(entries: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.mark.slow
def test_moodle_zip_to_filled_worksheet_and_feedback_zip(tmp_path):
    people = {"solution": ("Jane Doe", "50001"), "buggy": ("Li Wei", "50002"), "malformed": ("Zoë Roy", "50003")}
    download = zip_of({f"{name}_{n}_assignsubmission_file/hw1.ipynb": NOTEBOOKS[kind]
                       for kind, (name, n) in people.items()}, tmp_path / "CS101-Backprop-77.zip")
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    grade("batch", str(download), "--assignment", "backprop", "--db", db, "--out", str(tmp_path / "out"), "-j", "2")
    ids = [n for _, n in people.values()] + ["50004"]  # 50004: in Moodle, no submission
    raw = moodle_worksheet(ids).replace(b"100.00", b"47.00")  # 45 autograded + 2 written
    (tmp_path / "ws.csv").write_bytes(raw)
    grade("export", "backprop", "--format", "moodle", "--worksheet", str(tmp_path / "ws.csv"), "-o",
          str(tmp_path / "filled.csv"), "--db", db)
    filled = parse_moodle((tmp_path / "filled.csv").read_bytes(), ",", "utf-8")
    gb = Gradebook.open(db)
    rows = {r.student: r for r in gb.students("backprop")}
    assert set(rows) == {"50001", "50002", "50003"}
    assert rows["50001"].final_score == 45 and 0 < rows["50002"].final_score < 45
    assert rows["50003"].status == "invalid"
    for sid in ("50001", "50002", "50003"):
        grade_cell, modified, comment = filled[sid]
        assert float(grade_cell) == pytest.approx(rows[sid].final_score, abs=0.005)
        assert modified != "-" and comment.startswith("Autograded:")
    assert "Not graded:" in filled["50003"][2]
    assert filled["50004"] == ("", "-", "")  # not graded here: untouched
    grade("feedback", "backprop", "--zip", str(tmp_path / "fb.zip"), "--for", "moodle", "--db", db)
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:
        names = sorted(zf.namelist())
    assert names == sorted(f"{name}_{n}_assignsubmission_file/feedback.html" for name, n in people.values())
    gb.dispose()


@pytest.mark.slow
def test_canvas_zip_to_gradebook_csv(tmp_path):
    entries = {"doejane_1001_9001_hw1.ipynb": NOTEBOOKS["solution"],
               "liwei_LATE_1002_9002_hw1.ipynb": NOTEBOOKS["buggy"],
               "royzoe_1003_9003_hw1.ipynb": NOTEBOOKS["malformed"]}
    download = zip_of(entries, tmp_path / "cs101-backprop_submissions.zip")
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      "\"Doe, Jane\",1001,S1,jd,A\n\"Wei, Li\",1002,S2,lw,A\n\"Roy, Zoë\",1003,S3,zr,B\n"
                      "\"Absent, Al\",1004,S4,aa,B\n")
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    grade("batch", str(download), "--assignment", "backprop", "--db", db, "--roster", str(roster), "--out",
          str(tmp_path / "out"), "-j", "2")
    grade("export", "backprop", "--format", "canvas", "--canvas-id", "4242", "-o", str(tmp_path / "c.csv"),
          "--db", db)
    parsed = parse_canvas((tmp_path / "c.csv").read_text())
    (col, (_title, cid)), = parsed["columns"].items()
    assert cid == 4242 and parsed["points"][col] == 47  # 45 autograded + 2 for the written question
    gb = Gradebook.open(db)
    rows = {r.student: r for r in gb.students("backprop")}
    assert list(parsed["students"]) == ["1001", "1002", "1003", "1004"]
    for sid, got in parsed["students"].items():
        want = None if rows[sid].status == "missing" else round(rows[sid].final_score, 2)
        assert got["scores"][col] == want
    assert parsed["students"]["1001"]["scores"][col] == 45 and parsed["students"]["1004"]["scores"][col] is None
    assert parsed["students"]["1003"]["sis_user_id"] == "S3"
    text = grade("feedback", "backprop", "--zip", str(tmp_path / "fb.zip"), "--for", "canvas", "--db", db)
    assert "3 feedback page(s)" in text.stdout
    with zipfile.ZipFile(tmp_path / "fb.zip") as zf:
        names = sorted(zf.namelist())
    assert names == ["doejane_1001_9001_feedback.html", "liwei_LATE_1002_9002_feedback.html",
                     "royzoe_1003_9003_feedback.html"]
    assert all(re.search(r"_(\d+)_\d+_feedback", n).group(1) in rows for n in names)
    gb.dispose()
