"""A class of 60 generated backprop submissions graded with `grade batch -j 2`, as a Canvas zip with
Canvas's roster, and a sample of it (every kind: correct, bug, hostile, malformed) as a plain
folder: one row per student, the grade each kind must get, scores equal to standalone `grade
submit`, hostile neighbours changing nothing, and a rerun grading nothing.

Slow by nature (the class is graded once, the sample again through the other intake); everything
else reads those two runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cli_run
import pytest
from batch_class import LIMITS, build_class, write_canvas_roster, write_canvas_zip, write_folder

pytestmark = pytest.mark.slow
MISSING = ("9001", "9002")
SUMMARY_KEYS = {"graded", "skipped", "invalid", "error", "missing"}


def grade(*args: str, cwd: Path | None = None, timeout: float = 1500) -> subprocess.CompletedProcess:
    return cli_run.grade(*args, cwd=cwd, timeout=timeout)


def limit_args() -> list[str]:
    return [x for item in LIMITS for x in ("--limit", item)]


@pytest.fixture(scope="module")
def klass(tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("class")
    return work, build_class(work / "variants")


def _run_batch(work: Path, intake: Path, name: str, *extra: str) -> tuple[dict, dict, Path]:
    db = f"sqlite:///{work / (name + '.db')}"
    out = work / f"{name}-out"
    r = grade("batch", str(intake), "--assignment", "backprop", "-j", "2", "--db", db, "--out", str(out),
              "--json", *limit_args(), *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    e = grade("export", "backprop", "--db", db, "--format", "json")
    assert e.returncode == 0, e.stderr
    return summary, json.loads(e.stdout), out


@pytest.fixture(scope="module")
def canvas(klass):  # noqa: ANN001, ANN201
    work, students = klass
    zpath = write_canvas_zip(work / "course-backprop_submissions.zip", students)
    roster = write_canvas_roster(work / "roster.csv", students, MISSING)
    summary, export, out = _run_batch(work, zpath, "canvas", "--roster", str(roster))
    return summary, export, out, f"sqlite:///{work / 'canvas.db'}", zpath, roster


#: One student or more of each kind and outcome: graded again through the folder intake and alone
#: with grade submit (the intake and the standalone command read the same notebooks; the whole
#: class once, through Canvas, is enough for the grade of every kind).
SAMPLE = ("solution", "affine_backward_missing_db", "relu_backward_ignores_mask", "fork_bomb", "print_flood",
          "os_exit", "stubborn_loop", "monkeypatch_numpy", "not_json", "other_assignment", "nbformat_3")


def _sample(students):  # noqa: ANN001, ANN202
    return [s for s in students if s.label in SAMPLE]


@pytest.fixture(scope="module")
def folder(klass):  # noqa: ANN001, ANN201
    work, students = klass
    return _run_batch(work, write_folder(work / "plain", _sample(students)), "plain")


def _check_grades(students, export: dict, maxima: dict, with_roster: bool) -> None:  # noqa: ANN001
    rows = {s["student"]: s for s in export["students"]}
    expected_ids = {s.uid for s in students} | (set(MISSING) if with_roster else set())
    assert sorted(rows) == sorted(expected_ids)  # exactly one row per student
    assert len(export["students"]) == len(expected_ids)
    full = export["autograde_max"]
    assert full == 45 and export["max_score"] == 47  # + the written question on dead ReLUs
    problems = []
    for s in students:
        row = rows[s.uid]
        if s.expect == "invalid":
            ok = row["status"] == "invalid" and row["reason"] and row["score"] == 0
        elif s.expect == "full":
            ok = row["status"] == "graded" and row["score"] == full
        elif s.expect == "zero":
            ok = row["status"] == "graded" and row["score"] == 0
        else:  # one mistake: loses points on the case's tests only
            lost = {t for t, v in row["tests"].items() if v < maxima[t]}
            ok = row["status"] == "graded" and 0 < row["score"] < full and set(s.case.fails) <= lost \
                and lost <= set(s.case.fails) | set(s.case.may_fail)
        if not ok:
            problems.append((s.uid, s.kind, s.label, row["status"], row["score"], row["reason"][:200]))
    assert not problems, problems
    for uid in MISSING if with_roster else ():
        assert rows[uid]["status"] == "missing" and rows[uid]["final_score"] == 0


@pytest.fixture(scope="module")
def test_maxima(canvas):  # noqa: ANN001, ANN201
    from grader.gradebook.api import Gradebook

    gb = Gradebook.open(canvas[3])
    row = next(r for r in gb.students("backprop") if r.status == "graded")
    maxima = {t.name: t.max_score for t in gb.test_results(row.grading_id)}
    gb.dispose()
    return maxima


def test_canvas_zip_with_roster_grades_every_student_once(klass, canvas, test_maxima):  # noqa: ANN001
    work, students = klass
    summary, export, out, db, _, _ = canvas
    assert SUMMARY_KEYS <= set(summary)
    assert summary["graded"] + summary["invalid"] + summary["error"] == len(students)
    assert summary["invalid"] == 7 and summary["error"] == 0 and summary["missing"] == 2
    assert summary["intake"] == "canvas" and summary["refused"] == 0
    _check_grades(students, export, test_maxima, with_roster=True)
    rows = {s["student"]: s for s in export["students"]}
    for s in students:  # the roster's names and Canvas's LATE marker
        assert rows[s.uid]["name"] == f"Student, {s.label}" and rows[s.uid]["sis_user_id"] == f"sis{s.uid}"
        assert rows[s.uid]["late"] == s.late
    for s in students:  # the same files grade submit writes
        if s.expect != "invalid":
            result = json.loads((out / s.uid / "result.json").read_text())
            assert result["score"] == rows[s.uid]["score"]
            assert (out / s.uid / "feedback.html").stat().st_size > 1000
        else:
            assert not (out / s.uid / "result.json").exists()
    assert "dlgrade_batch_bg" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_canvas_gradebook_csv_of_the_class_matches_the_gradebook(klass, canvas):  # noqa: ANN001
    """docs/lms.md: the class exports to the CSV Canvas imports; read back by its importer's rules."""
    from test_lms_exports import parse_canvas

    from grader.gradebook.api import Gradebook

    work, students = klass
    _, _, _, db, _, roster = canvas
    gb = Gradebook.open(db)
    graded = next(s.uid for s in students if s.expect == "full")
    gb.set_override(graded, "backprop", 12.5, "by hand")  # overrides count, as late penalties do
    out = work / "canvas-import.csv"
    r = grade("export", "backprop", "--db", db, "--format", "canvas", "--roster", str(roster), "--canvas-id", "77",
              "-o", str(out))
    assert r.returncode == 0, r.stderr
    parsed = parse_canvas(out.read_text())
    (col, (_title, cid)), = parsed["columns"].items()
    rows = {row.student: row for row in gb.students("backprop")}
    assert cid == 77 and parsed["points"][col] == 47  # 45 autograded + 2 for the written question
    assert list(parsed["students"]) == [s.uid for s in students] + list(MISSING)  # the roster's rows
    for uid, got in parsed["students"].items():
        row = rows[uid]
        assert got["scores"][col] == (None if row.status == "missing" else round(row.final_score, 2)), uid
    assert parsed["students"][graded]["scores"][col] == round(12.5 - rows[graded].late_penalty, 2)
    gb.dispose()  # the override stays: the export recorded it, so "no change since the last export" holds


def test_plain_folder_gives_the_same_grades(klass, canvas, folder, test_maxima):  # noqa: ANN001
    work, students = klass
    students = _sample(students)
    assert {s.kind for s in students} == {"correct", "bug", "hostile", "malformed"}
    summary, export, out = folder
    assert summary["intake"] == "folder" and summary["graded"] + summary["invalid"] == len(students)
    _check_grades(students, export, test_maxima, with_roster=False)
    by_canvas = {s["student"]: (s["status"], s["score"], s["tests"]) for s in canvas[1]["students"]}
    for row in export["students"]:
        assert (row["status"], row["score"], row["tests"]) == by_canvas[row["student"]], row["student"]


def test_a_sample_scores_as_standalone_grade_submit(klass, canvas):  # noqa: ANN001
    work, students = klass
    rows = {s["student"]: s for s in canvas[1]["students"]}
    sample = _sample(students)
    assert len(sample) >= 8
    alone = work / "alone"
    alone.mkdir(exist_ok=True)
    for s in sample:
        nb = alone / "backprop.ipynb"
        nb.write_bytes(s.data)
        r = grade("submit", str(nb), "--assignment", "backprop", "--json", "--out", str(alone / s.uid),
                  *limit_args(), timeout=600)
        row = rows[s.uid]
        if s.expect == "invalid":
            assert r.returncode == 2 and row["status"] == "invalid"
            line = r.stderr.strip().splitlines()[-1]
            assert line.startswith(f"error: {nb}: ")
            assert row["reason"] == "backprop.ipynb: " + line.removeprefix(f"error: {nb}: "), (row["reason"], line)
        else:
            assert r.returncode == 0, r.stderr[-2000:]
            result = json.loads(r.stdout)
            assert (row["status"], row["score"]) == ("graded", result["score"]), s.label
            assert row["tests"] == {t["name"]: t["score"] for t in result["tests"]}, s.label


def test_rerun_grades_nothing_and_says_so(klass, canvas):  # noqa: ANN001
    work, students = klass
    first, _, out, db, zpath, roster = canvas
    read = first["graded"] + first["invalid"]  # every student with a notebook (the class grows with the catalogue)
    assert read >= 60
    r = grade("batch", str(zpath), "--assignment", "backprop", "--db", db, "--out", str(out), "--roster", str(roster),
              *limit_args())
    assert r.returncode == 0, r.stderr
    assert f"Nothing to do: {read} submission(s) unchanged" in r.stdout
    r = grade("batch", str(zpath), "--assignment", "backprop", "--db", db, "--out", str(out), "--json",
              *limit_args())
    summary = json.loads(r.stdout)
    assert summary["graded"] == 0 and summary["skipped"] == read and summary["nothing_to_do"]
    assert r.stderr == ""  # --json: nothing but the summary
    st = grade("status", "backprop", "--db", db)
    assert st.returncode == 0, st.stderr
    assert (f"backprop: {read + 2} students: {first['graded']} graded, {first['invalid']} invalid, 0 error, "
            "2 missing") in st.stdout, st.stdout
    assert first["invalid"] == 7
    assert "missing: 9001, 9002" in st.stdout and "no change since the last export" in st.stdout


def test_class_report_and_similarity_read_this_class(klass, canvas, tmp_path):  # noqa: ANN001
    """grade report and grade similarity on the generated class's gradebook (docs/reports.md)."""
    _summary, export, _out, db, _zpath, _roster = canvas
    r = grade("report", "backprop", "--db", db, "--format", "json", "-o", str(tmp_path / "r.json"), cwd=tmp_path,
              timeout=600)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    statuses = [s["status"] for s in export["students"]]
    assert report["status_counts"] == {k: statuses.count(k) for k in ("graded", "invalid", "error", "missing")}
    assert report["tests"] and report["tests"][0]["pass_rate"] < 1
    r = grade("report", "backprop", "--db", db, "-o", str(tmp_path / "r.html"), cwd=tmp_path, timeout=600)
    assert r.returncode == 0 and (tmp_path / "r.html").read_text().count("data:image/svg+xml") >= 4
    r = grade("similarity", "backprop", "--db", db, "--format", "json", "-o", str(tmp_path / "s.json"), cwd=tmp_path,
              timeout=600)
    assert r.returncode == 0, r.stderr
    pairs = json.loads((tmp_path / "s.json").read_text())["pairs"]
    assert pairs and all(0 < p["similarity"] <= 1 for p in pairs)
