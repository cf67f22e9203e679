"""Intake of a class: folder and LMS layouts, rosters, and hostile archives refused per entry
(zip slip, absolute path, symlink, bomb, 10,000 entries, duplicate names, nested zip) while the
good entries are kept, with nothing written outside the batch's workspace."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from grader.batch.intake import Limits, read_intake
from grader.batch.roster import RosterError, read_roster

ROOT = Path(__file__).resolve().parents[1]
GOOD = (ROOT / "assignments" / "backprop" / "solution.ipynb").read_bytes()
STARTER = (ROOT / "assignments" / "backprop" / "starter.ipynb").read_bytes()


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


# --------------------------------------------------------------------------- layouts


def test_plain_folder_and_student_folders(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "alice.ipynb").write_bytes(GOOD)
    (flat / "bob.ipynb").write_bytes(STARTER)
    (flat / "notes.txt").write_text("hi")
    (flat / "link.ipynb").symlink_to(flat / "alice.ipynb")
    got = read_intake(flat, "backprop")
    assert got.kind == "folder" and set(got.picked) == {"alice", "bob", "notes"}
    assert got.picked["notes"].reason.startswith("no notebook (.ipynb)")
    assert any("link.ipynb: refused: symbolic link" in r for r in got.refused)

    nested = tmp_path / "nested"
    for who, files in {"carol": {"backprop.ipynb": GOOD, "plot.png": b"png", "scratch.ipynb": STARTER},
                       "dan": {"a.ipynb": GOOD, "b.ipynb": STARTER}}.items():
        (nested / who).mkdir(parents=True)
        for name, data in files.items():
            (nested / who / name).write_bytes(data)
    got = read_intake(nested, "backprop")
    assert got.kind == "students"
    assert got.picked["carol"].data == GOOD and not got.picked["carol"].reason
    assert got.picked["dan"].reason.startswith("ambiguous: 2 notebooks")
    assert any("carol/plot.png: skipped: not a notebook" in s for s in got.skipped)


def test_canvas_names_late_flag_and_anonymous_ids(tmp_path):
    z = _zip(tmp_path / "canvas.zip", [
        ("doejane_LATE_4242_901_backprop.ipynb", GOOD),
        ("smithbob_4243_902_backprop-1.ipynb", STARTER),
        ("smithbob_4243_903_notes.txt", b"x"),
        ("LATE_anon_x7Yq2_904_backprop.ipynb", GOOD),
        ("readme.txt", b"not a submission"),
    ])
    got = read_intake(z, "backprop")
    assert got.kind == "canvas"
    assert set(got.picked) == {"4242", "4243", "anon_x7Yq2"}
    assert got.picked["4242"].late_flag and not got.picked["4243"].late_flag and got.picked["anon_x7Yq2"].late_flag
    assert got.picked["4242"].person == "doejane" and got.picked["4243"].data == STARTER
    assert any(s.startswith("readme.txt: skipped") for s in got.skipped)


def test_moodle_both_layouts(tmp_path):
    folders = _zip(tmp_path / "m1.zip", [
        ("Jane Doe_12345_assignsubmission_file/backprop.ipynb", GOOD),
        ("Jane Doe_12345_assignsubmission_file/extra/data.csv", b"1,2"),
        ("Bob Smith_12346_assignsubmission_onlinetext/onlinetext.html", b"<p>hi</p>"),
    ])
    got = read_intake(folders, "backprop")
    assert got.kind == "moodle" and got.picked["12345"].person == "Jane Doe"
    assert got.picked["12346"].reason.startswith("no notebook")
    flat = _zip(tmp_path / "m2.zip", [("Jane Doe_12345_assignsubmission_file_backprop.ipynb", GOOD)])
    got = read_intake(flat, "backprop")
    assert got.kind == "moodle" and got.picked["12345"].data == GOOD and got.picked["12345"].name == "backprop.ipynb"


def test_gradescope_export_with_metadata(tmp_path):
    meta = (":submission_101:\n  :submitters:\n  - :name: Jane Doe\n    :sid: '31337'\n    :email: jane@x.edu\n"
            "  :created_at: 2026-12-02 10:00:00.000000000 +00:00\n  :score: 3.0\n"
            "submission_102:\n  :submitters:\n  - :name: Bob\n    :sid: ''\n    :email: bob@x.edu\n")
    z = _zip(tmp_path / "gs.zip", [
        ("assignment_9_export/submission_metadata.yml", meta.encode()),
        ("assignment_9_export/submission_101/backprop.ipynb", GOOD),
        ("assignment_9_export/submission_102/backprop.ipynb", STARTER),
    ])
    got = read_intake(z, "backprop")
    assert got.kind == "gradescope"
    assert set(got.picked) == {"31337", "bob@x.edu"}
    assert got.picked["31337"].submitted_at.isoformat() == "2026-12-02T10:00:00+00:00"
    assert got.picked["31337"].person == "Jane Doe"


def test_rosters_plain_and_canvas(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("ID,Name,Email,Section\n1,Ann,a@x,S1\n2,=HYPERLINK(\"x\"),b@x,S2\n")
    rows = read_roster(plain)
    assert [r["id"] for r in rows] == ["1", "2"] and rows[0]["section"] == "S1"
    canvas = tmp_path / "canvas.csv"
    canvas.write_text("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,HW (1)\n"
                      "    Points Possible,,,,,10\n\"Doe\u202e, Jane\",77,s77,jdoe,A,\n,,,,,\n")
    rows = read_roster(canvas)
    assert rows == [{"id": "77", "name": "Doe, Jane", "email": "", "sis_user_id": "s77", "sis_login_id": "jdoe",
                     "section": "A"}]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nx,y\n")
    with pytest.raises(RosterError, match="no 'id' column"):
        read_roster(bad)


# --------------------------------------------------------------------------- hostile archives

CANVAS_GOOD = [("goodann_5001_1_backprop.ipynb", GOOD)]


def _bomb() -> bytes:
    return b"\0" * (64 * 2**20)


HOSTILE = {
    "zip_slip": ([("../../escaped_5002_2_backprop.ipynb", GOOD), ("a/../../../x_5003_3_backprop.ipynb", GOOD)],
                 "path leaves the archive"),
    "absolute_path": ([("/tmp/dlgrade_abs_5004_4_backprop.ipynb", GOOD)], "absolute path"),
    "symlink": ([(_symlink("link_5005_5_backprop.ipynb", "/etc/shadow"), b"/etc/shadow")], "symbolic link"),
    "bomb": ([("bomb_5006_6_backprop.ipynb", None)], "compression ratio"),
    "duplicate_names": ([("dup_5008_8_backprop.ipynb", GOOD), ("dup_5008_8_backprop.ipynb", STARTER)],
                        "entries have this name and they differ"),
    "nested_zip": ([("nest_5009_9_inner.zip", None), ("nest_5010_10_backprop.ipynb", None)], "nested archive"),
}


def _hostile_entries(kind: str) -> list:
    entries, _ = HOSTILE[kind]
    out = []
    for name, data in entries:
        if data is None and kind == "bomb":
            data = _bomb()
        elif data is None:  # a zip inside, by name or disguised as a notebook
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as inner:
                inner.writestr("inner_5011_11_backprop.ipynb", GOOD)
            data = buf.getvalue()
        out.append((name, data))
    return out


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused_per_entry(kind, tmp_path):
    z = _zip(tmp_path / f"{kind}.zip", CANVAS_GOOD + _hostile_entries(kind))
    got = read_intake(z, "backprop", kind="canvas")
    assert set(got.picked) == {"5001"} and got.picked["5001"].data == GOOD  # the good entry is kept
    reason = HOSTILE[kind][1]
    hits = [r for r in got.refused if reason in r]
    assert len(hits) == len(HOSTILE[kind][0]), got.refused  # one line per refused entry, naming it
    assert all(": refused: " in r and "\n" not in r for r in got.refused)


def test_one_students_flood_spends_only_their_own_budget(tmp_path):
    """A 5,000-file upload (a repository) costs its owner the extra files, never anyone else."""
    flood = [(f"mallory_5002_{i}_f{i:05d}.txt", b"x") for i in range(5000)]
    entries = CANVAS_GOOD + flood + [("mallory_5002_9_backprop.ipynb", STARTER), ("goodbob_5003_2_backprop.ipynb",
                                                                                 STARTER)]
    got = read_intake(_zip(tmp_path / "flood.zip", entries), "backprop", kind="canvas")
    assert set(got.picked) == {"5001", "5002", "5003"}
    assert got.picked["5001"].data == GOOD and got.picked["5003"].data == STARTER
    assert got.picked["5002"].data == STARTER  # the notebook is kept first: the flood costs only extra files
    assert len(got.refused) == 1 and "'5002' has 5001 files, more than the limit of 1000 per student" in got.refused[0]
    assert len(got.skipped) <= 1001
    small = Limits(max_entries=3, max_student_entries=2)
    many = [(f"s{k}_{5100 + k}_{k}_backprop.ipynb", GOOD) for k in range(3)] + [("z_5200_1_backprop.ipynb", GOOD)]
    got = read_intake(_zip(tmp_path / "cap.zip", many), "backprop", kind="canvas", limits=small)
    assert set(got.picked) == {"5100", "5101", "5102"}
    assert len(got.refused) == 1 and "intake's limit of 3 entries was reached (student '5100'" in got.refused[0]


def test_folder_walk_budget_is_per_student(tmp_path):
    root = tmp_path / "class"
    for who in ("ann", "mallory", "zed"):
        (root / who).mkdir(parents=True)
        (root / who / "backprop.ipynb").write_bytes(GOOD)
    for i in range(30):
        (root / "mallory" / f"junk{i:02d}.txt").write_bytes(b"x")
    got = read_intake(root, "backprop", limits=Limits(max_student_entries=10))
    assert got.kind == "students" and set(got.picked) == {"ann", "mallory", "zed"}
    assert all(not p.reason and p.data == GOOD for p in got.picked.values())
    assert len(got.refused) == 1 and "'mallory' holds more than 10 files" in got.refused[0]


def test_hostile_archive_graded_by_the_cli_writes_nothing_outside_the_workspace(tmp_path):
    everything = CANVAS_GOOD + [("goodbob_5012_12_backprop.ipynb", STARTER)]
    for kind in sorted(HOSTILE):
        everything += _hostile_entries(kind)
    ws = tmp_path / "ws"
    ws.mkdir()
    z = _zip(ws / "class.zip", everything)
    before = {p for p in tmp_path.rglob("*")}
    r = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(z), "--assignment", "backprop", "-j", "2",
                        "--db", f"sqlite:///{ws / 'gb.db'}", "--out", str(ws / "out"), "--layout", "canvas"],
                       capture_output=True, text=True, timeout=900, cwd=ws)
    assert r.returncode == 0, r.stderr[-2000:]
    refusals = [line for line in r.stderr.splitlines() if ": refused: " in line]
    assert len(refusals) == sum(len(v[0]) for v in HOSTILE.values()) == 9, refusals
    assert "This run: 2 graded, 0 invalid, 0 error" in r.stdout
    after = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(ws / "out") or p.name.startswith("gb.db") for p in after), sorted(after)
    assert not Path("/tmp/dlgrade_abs_5004_4_backprop.ipynb").exists()
    assert not (tmp_path.parent / "escaped_5002_2_backprop.ipynb").exists()
    out = json.loads(subprocess.run([sys.executable, "-m", "grader.cli", "export", "backprop", "--db",
                                     f"sqlite:///{ws / 'gb.db'}"], capture_output=True, text=True).stdout)
    assert {s["student"]: s["score"] for s in out["students"]} == {"5001": 45.0, "5012": 0.0}
