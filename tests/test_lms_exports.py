"""Canvas gradebook CSV and Moodle grading worksheet exports, read back by importers' rules.

The Canvas parser below follows lib/gradebook_importer.rb as LMS-FORMATS.md describes it:
header (Student, ID, ..., Section), assignment columns `Title (id)` by `^(.*)\\s\\((\\d+)\\)$`,
the Points Possible row, students matched by ID. The Moodle parser follows
importgradeslib.php: Identifier, Grade and Last modified (grade) found by exact header text,
"Participant N" rows.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import lms_gradebook as lg
import pytest

from grader.lms import LmsError, canvas, export, feedback_zip, moodle
from grader.textsafe import csv_cell


def parse_canvas(text: str) -> dict:
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert "Student" in header[0] and "ID" in header[1], "Invalid header row"
    section = max(i for i, h in enumerate(header) if "Section" in h)
    assert header[2:section] in ([], ["SIS Login ID"], ["SIS User ID", "SIS Login ID"])
    columns = {}
    for i, h in enumerate(header[section + 1:], start=section + 1):
        m = re.match(r"^(.*)\s\((\d+)\)$", h)
        columns[i] = (m.group(1), int(m.group(2))) if m else (h, None)
    body = rows[1:]
    points = {}
    if body and "Points Possible" in body[0][0]:
        points = {i: float(body[0][i]) for i in columns}
        body = body[1:]
    students = {}
    for r in body:
        assert r[1] not in students, f"student {r[1]} twice"
        students[r[1]] = {"name": r[0], "sis_user_id": r[2], "sis_login_id": r[3], "section": r[section],
                          "scores": {i: (None if r[i] in ("", "-") else float(r[i])) for i in columns}}
    return {"columns": columns, "points": points, "students": students}


def test_canvas_export_of_a_60_student_class_matches_the_gradebook(tmp_path):
    gb = lg.build_class(tmp_path / "gb.db", 60)
    path = export.export(gb, "backprop", "canvas", tmp_path / "canvas.csv", canvas_id=4242, log=lambda m: None)
    parsed = parse_canvas(path.read_text())
    (col, (title, cid)), = parsed["columns"].items()
    assert (title, cid) == ("Backprop, by hand", 4242) and parsed["points"] == {col: 45.0}
    rows = {r.student: r for r in gb.students("backprop")}
    assert list(parsed["students"]) == [lg.canvas_id(i) for i in range(60)]  # the roster, in order
    for sid, got in parsed["students"].items():
        r = rows[sid]
        assert got["name"] == csv_cell(r.name) and got["sis_user_id"] == r.sis_user_id
        assert got["section"] == r.section
        want = None if r.status in ("missing", "error") else round(r.final_score, 2)
        assert got["scores"][col] == want, (sid, r.status, r.final_score)
    # the overrides and the late penalty are in, not the raw autograde
    assert parsed["students"][lg.canvas_id(2)]["scores"][col] == 44.5
    late = rows[lg.canvas_id(9)]
    assert late.late and late.late_penalty > 0
    assert parsed["students"][lg.canvas_id(9)]["scores"][col] == round(late.score - late.late_penalty, 2)
    assert parsed["students"][lg.canvas_id(19)]["name"].startswith("'=HYPERLINK")  # defused
    gb.dispose()


def test_canvas_export_missing_zero_and_title_without_id(tmp_path):
    gb = lg.build_class(tmp_path / "gb.db", 8)
    path = export.export(gb, "backprop", "canvas", tmp_path / "c.csv", missing="zero",
                         course=tmp_path / "no-course", log=lambda m: None)
    parsed = parse_canvas(path.read_text())
    (col, (title, cid)), = parsed["columns"].items()
    assert cid is None and title == "Backprop, by hand"
    assert parsed["students"][lg.canvas_id(6)]["scores"][col] == 0.0  # missing -> 0
    assert canvas.column_title("HW (2)", None) == "HW [2]"  # never misread as assignment id 2
    gb.dispose()


def moodle_worksheet(ids: list[str], delimiter: str = ",", encoding: str = "utf-8", bom: bool = True) -> bytes:
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
              "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    rows = [header]
    for n, sid in enumerate(ids):
        rows.append([f"Participant {sid}", lg.NAMES[n % 9], f"s{n}@uni.example", "Submitted for grading", "",
                     "100.00", "Yes", "Monday, 30 November 2026, 10:00 PM", "-", ""])
    rows.append(["Participant 999999", "Not In Gradebook", "x@uni.example", "No submission", "", "100.00",
                 "Yes", "-", "-", ""])
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(encoding)


def parse_moodle(raw: bytes, delimiter: str, encoding: str) -> dict[str, tuple[str, str, str]]:
    text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    h = rows[0]
    ident, grade, modified = h.index("Identifier"), h.index("Grade"), h.index("Last modified (grade)")
    fb = h.index("Feedback comments")
    out = {}
    for r in rows[1:]:
        m = re.match(r"^Participant (\d+)$", r[ident])
        assert m, r
        out[m.group(1)] = (r[grade], r[modified], r[fb])
    return out


@pytest.mark.parametrize("delimiter,encoding", [(",", "utf-8"), (";", "cp1252")])
def test_moodle_worksheet_round_trip(tmp_path, delimiter, encoding):
    ids = [str(50_000 + i) for i in range(12)]
    gb = lg.build_class(tmp_path / "gb.db", 12, ids=lambda i: ids[i],
                        source=lambda i, sid: f"{lg.NAMES[i % 9]}_{sid}_assignsubmission_file/hw1.ipynb")
    raw = moodle_worksheet(ids, delimiter, encoding, bom=encoding == "utf-8")
    (tmp_path / "ws.csv").write_bytes(raw)
    path = export.export(gb, "backprop", "moodle", tmp_path / "out.csv", worksheet=tmp_path / "ws.csv",
                         log=lambda m: None)
    out = path.read_bytes()
    assert out.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8")
    before, after = parse_moodle(raw, delimiter, encoding), parse_moodle(out, delimiter, encoding)
    assert list(after) == list(before)  # every row kept, in order
    rows = {r.student: r for r in gb.students("backprop")}
    for sid, (grade, modified, comment) in after.items():
        r = rows.get(sid)
        if r is None or r.status not in ("graded", "invalid"):
            assert (grade, modified, comment) == before[sid]
            continue
        # the worksheet's Maximum Grade is 100, ours 45: scaled, within Moodle's range
        assert float(grade) == pytest.approx(r.final_score * 100 / 45, abs=0.005)
        assert 0 <= float(grade) <= 100
        assert re.match(r"^\w+day, \d{1,2} \w+ 20\d\d, \d{1,2}:\d\d [AP]M$", modified)
        assert comment.startswith("Autograded:")
    # untouched columns stay byte-identical
    text = out.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    assert "Monday, 30 November 2026, 10:00 PM" in text and "Not In Gradebook" in text
    gb.dispose()


def test_moodle_without_worksheet_writes_the_importer_columns(tmp_path):
    gb = lg.build_class(tmp_path / "gb.db", 6, ids=lambda i: str(70 + i))
    path = export.export(gb, "backprop", "moodle", tmp_path / "new.csv", log=lambda m: None)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(rows[0]) == ["Identifier", "Full name", "Grade", "Last modified (grade)", "Feedback comments"]
    graded = {r.student: r for r in gb.students("backprop") if r.status in ("graded", "invalid")}
    assert {r["Identifier"] for r in rows} == {f"Participant {s}" for s in graded}
    for r in rows:
        assert float(r["Grade"]) == pytest.approx(graded[r["Identifier"].split()[1]].final_score, abs=0.005)
    gb.dispose()


def test_moodle_worksheet_without_required_columns_is_refused(tmp_path):
    with pytest.raises(LmsError, match="no 'Last modified \\(grade\\)' column"):
        moodle.fill_worksheet(b"Identifier,Grade\nParticipant 1,\n", [], 10)


def test_feedback_zips_are_named_for_each_lms(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    gb = lg.build_class(tmp_path / "gb.db", 8, feedback_dir=pages,
                        source=lambda i, sid: f"doe{i}_{'LATE_' if i % 4 == 1 else ''}{sid}_77{i}_hw1.ipynb")
    out = {}
    for target in ("canvas", "plain"):
        path, count, notes = feedback_zip.build(gb, "backprop", tmp_path / f"{target}.zip", target)
        with zipfile.ZipFile(path) as zf:
            out[target] = {n: zf.read(n) for n in zf.namelist()}
        assert count == 7 and notes == []  # student #6 is missing: no submission, no page
    assert out["canvas"]["doe1_LATE_1001_771_feedback.html"] == b"<html><body>feedback for 1001</body></html>"
    assert "1000/feedback.html" in out["plain"]
    # Canvas recovers the user id from the name as it does for its own downloads
    for name, page in out["canvas"].items():
        uid = re.search(r"_(\d+)_\d+_feedback\.html$", name).group(1)
        assert page == f"<html><body>feedback for {uid}</body></html>".encode()
    gb.dispose()
    ids = [str(50_000 + i) for i in range(3)]
    gb = lg.build_class(tmp_path / "gb2.db", 3, ids=lambda i: ids[i], feedback_dir=pages,
                        source=lambda i, sid: f"{lg.NAMES[i]}_{sid}_assignsubmission_file/hw1.ipynb")
    path, count, _ = feedback_zip.build(gb, "backprop", tmp_path / "moodle.zip", "moodle")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(f"{lg.NAMES[i]}_{ids[i]}_assignsubmission_file/feedback.html"
                                               for i in range(3))
    gb.dispose()
