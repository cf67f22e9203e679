"""Whatever one student submits cannot change how anyone else's submission is read, graded or
recorded (issue 18: findings 2-6 and 11's intake ones).

Intake alone (no grading): the layout decided on the whole structure, Gradescope metadata only at
the export's root, ids normalised once with collisions refused by name, names that are not UTF-8,
identical and differing copies of one entry. Gradebook alone, on SQLite and PostgreSQL: the
hostile values PostgreSQL used to refuse. Then two hostile classes graded end to end on the
process sandbox, on both backends, and graded again: every honest student gets exactly their
own result, the attackers no more than honest work, with bounded time, memory and output and
no traceback.
"""

from __future__ import annotations

import hashlib
import os
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pytest
from intake_class import CORRECT, NUL_MESSAGE, WRONG, batch, notebook, rows, tiny_course
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.batch.intake import IntakeError, read_intake
from grader.gradebook.api import Gradebook, NewGrading, NewSubmission, TestOutcome
from grader.gradebook.scoring import LatePolicy

GOOD, BAD = notebook(CORRECT, "ann"), notebook(WRONG, "mallory")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:  # noqa: ANN001
    return tiny_course(tmp_path_factory.mktemp("tiny") / "course")


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


# --------------------------------------------------------------------------- finding 2: the layout


def test_a_planted_name_does_not_change_the_layout(tmp_path):
    """A Canvas entry named like a Moodle one; `1001_7_notes.ipynb` and `submission_5/` inside one
    student's folder; a student's own submission_metadata.yml: nobody else's id or notebook moves."""
    canvas = _zip(tmp_path / "canvas.zip", [
        ("ann_1001_11_tiny.ipynb", GOOD),
        ("mallory_1003_13_X_1001_assignsubmission_file_tiny.ipynb", BAD),
        ("bob_1002_12_tiny.ipynb", GOOD),
    ])
    got = read_intake(canvas, "tiny")
    assert got.kind == "canvas" and set(got.picked) == {"1001", "1002", "1003"}
    assert got.picked["1001"].data == GOOD and got.picked["1003"].data == BAD

    folder = tmp_path / "students"
    for who in ("ann", "bob"):
        (folder / who).mkdir(parents=True)
        (folder / who / "tiny.ipynb").write_bytes(GOOD)
    (folder / "mallory" / "submission_5").mkdir(parents=True)
    (folder / "mallory" / "1001_7_notes.ipynb").write_bytes(BAD)
    (folder / "mallory" / "submission_5" / "x.ipynb").write_bytes(BAD)
    got = read_intake(folder, "tiny")
    assert got.kind == "students" and set(got.picked) == {"ann", "bob", "mallory"}
    assert got.picked["ann"].data == GOOD and got.picked["bob"].data == GOOD

    meta = (":submission_101:\n  :submitters:\n  - :name: Ann\n    :sid: 'A1'\n"
            "  :created_at: 2026-12-02 10:00:00.000000000 +00:00\n"
            ":submission_102:\n  :submitters:\n  - :name: Mallory\n    :sid: 'M2'\n")
    forged = ":submission_101:\n  :submitters:\n  - :sid: 'M2'\n:submission_102:\n  :submitters:\n  - :sid: 'A1'\n"
    gs = _zip(tmp_path / "gs.zip", [  # the student's forged copy comes first in the archive
        ("export/submission_102/submission_metadata.yml", forged.encode()),
        ("export/submission_102/tiny.ipynb", BAD),
        ("export/submission_metadata.yml", meta.encode()),
        ("export/submission_101/tiny.ipynb", GOOD),
    ])
    got = read_intake(gs, "tiny")
    assert got.kind == "gradescope" and set(got.picked) == {"A1", "M2"}
    assert got.picked["A1"].data == GOOD and got.picked["M2"].data == BAD
    assert got.picked["A1"].submitted_at is not None and got.picked["M2"].submitted_at is None


def test_a_mixed_intake_is_refused_in_one_line_and_layout_says_which(tmp_path):
    mixed = _zip(tmp_path / "mixed.zip", [("ann_1001_11_tiny.ipynb", GOOD),
                                          ("Mal Lory_1003_assignsubmission_file/tiny.ipynb", BAD)])
    with pytest.raises(IntakeError) as info:
        read_intake(mixed, "tiny")
    line = str(info.value)
    assert "\n" not in line and "mixed" in line and "--layout" in line
    got = read_intake(mixed, "tiny", kind="canvas")
    assert set(got.picked) == {"1001"} and any("not at the top" in s for s in got.skipped)
    flat = tmp_path / "flat"
    (flat / "bob").mkdir(parents=True)
    (flat / "ann.ipynb").write_bytes(GOOD)
    (flat / "bob" / "tiny.ipynb").write_bytes(GOOD)
    with pytest.raises(IntakeError, match="notebooks at the top .* and in folders"):
        read_intake(flat, "tiny")


# --------------------------------------------------------------------------- finding 3: ids


def test_two_spellings_of_one_id_are_a_collision_never_a_merge(tmp_path):
    folder = tmp_path / "class"
    spellings = {"alice": GOOD, "alice ": BAD, "jos\u00e9": notebook(CORRECT, "jose"), "jose\u0301": BAD,
                 "bob": notebook(CORRECT, "bob")}
    for name, data in spellings.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "tiny.ipynb").write_bytes(data)
    got = read_intake(folder, "tiny")
    assert set(got.picked) == {"alice", "jos\u00e9", "bob"}
    assert got.picked["bob"].data == notebook(CORRECT, "bob") and not got.picked["bob"].reason
    for sid, both in (("alice", ("'alice'", "'alice '")), ("jos\u00e9", ("'jos\\xe9'", "'jose\\u0301'"))):
        p = got.picked[sid]
        assert p.data == b"" and "2 different submissions claim the id" in p.reason, p.reason
        assert all(s in p.reason for s in both), p.reason

    cased = tmp_path / "cased"
    for name in ("Alice", "bob"):
        (cased / name).mkdir(parents=True)
        (cased / name / "tiny.ipynb").write_bytes(GOOD)
    got = read_intake(cased, "tiny", roster_ids=["alice", "BOB"])  # the roster spells them: case is folded
    assert set(got.picked) == {"alice", "BOB"}
    assert set(read_intake(cased, "tiny", roster_ids=["alice", "Alice"]).picked) == {"Alice", "bob"}
    (cased / "alice").mkdir()
    (cased / "alice" / "tiny.ipynb").write_bytes(BAD)
    got = read_intake(cased, "tiny", roster_ids=["alice"])
    assert "claim the id 'alice'" in got.picked["alice"].reason and got.picked["alice"].data == b""


# --------------------------------------------------------------------------- findings 4, 11: names


def test_names_that_are_not_utf8_or_look_like_digits(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "\u2460.ipynb").write_bytes(GOOD)  # ①: isdigit() but not int()
    (folder / "7.ipynb").write_bytes(GOOD)
    (folder / os.fsdecode(b"\xff\xfe.ipynb")).write_bytes(BAD)
    got = read_intake(folder, "tiny")
    assert set(got.picked) == {"\u2460", "7"}
    assert any("\ufffd" in r and "cannot be a student id" in r for r in got.refused), got.refused
    inner = tmp_path / "students" / "carol"
    inner.mkdir(parents=True)
    (inner / os.fsdecode(b"\xfftiny.ipynb")).write_bytes(GOOD)
    got = read_intake(tmp_path / "students", "tiny")
    assert got.picked["carol"].data == GOOD and "\ufffd" in got.picked["carol"].source
    got.picked["carol"].source.encode()  # storable: no lone surrogate left


def test_identical_copies_are_read_once_and_differing_ones_refused_by_name(tmp_path):
    z = tmp_path / "dups.zip"
    with zipfile.ZipFile(z, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("carl_1004_4_tiny.ipynb", GOOD)
        zf.writestr("carl_1004_4_tiny.ipynb", GOOD)
        zf.writestr("dina_1005_5_tiny.ipynb", GOOD)
        zf.writestr("dina_1005_5_tiny.ipynb", BAD)
    got = read_intake(z, "tiny")
    assert set(got.picked) == {"1004"} and got.picked["1004"].data == GOOD
    assert any("entry 2 is an identical copy of entry 1; read once" in s for s in got.skipped)
    refusals = [r for r in got.refused if r.startswith("dina_1005_5_tiny.ipynb: refused: 2 entries")]
    assert len(refusals) == 2 and all("entry 3" in r and "entry 4" in r for r in refusals), got.refused

    forged = GOOD[:-1] + b"X"  # same size as GOOD + 4 bytes, and the 4 bytes give it GOOD's CRC-32
    forged += _crc_suffix(forged, zlib.crc32(GOOD + b"    "))
    z = tmp_path / "forged.zip"
    with zipfile.ZipFile(z, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("carl_1004_4_tiny.ipynb", GOOD + b"    ")
        zf.writestr("carl_1004_4_tiny.ipynb", forged)
        zf.writestr("ann_1001_1_tiny.ipynb", GOOD)
    assert zlib.crc32(forged) == zlib.crc32(GOOD + b"    ") and len(forged) == len(GOOD) + 4
    got = read_intake(z, "tiny")
    assert set(got.picked) == {"1001"}, got.picked.keys()
    assert any("same size and checksum but differ (entries 1 and 2)" in r for r in got.refused), got.refused


def _crc_suffix(prefix: bytes, target: int) -> bytes:
    """4 bytes that make `prefix + them` have CRC-32 `target` (CRC-32 is affine over GF(2))."""
    base = zlib.crc32(prefix + bytes(4))
    basis: dict[int, tuple[int, int]] = {}  # pivot bit -> (vector, which suffix bits make it)
    for i in range(32):
        vec, combo = zlib.crc32(prefix + (1 << i).to_bytes(4, "little")) ^ base, 1 << i
        for pivot in sorted(basis, reverse=True):
            if vec >> pivot & 1:
                vec, combo = vec ^ basis[pivot][0], combo ^ basis[pivot][1]
        if vec:
            basis[vec.bit_length() - 1] = (vec, combo)
    want, pick = target ^ base, 0
    for pivot in sorted(basis, reverse=True):
        if want >> pivot & 1:
            want, pick = want ^ basis[pivot][0], pick ^ basis[pivot][1]
    assert want == 0
    return pick.to_bytes(4, "little")


def test_moodle_feedback_names_are_neutralised():
    from grader.lms.feedback_zip import entry_name

    name = entry_name("moodle", "12345", "Eve\u202eexe.lmth_12345_assignsubmission_file/tiny.ipynb", "")
    assert name == "Eve exe.lmth_12345_assignsubmission_file/feedback.html"
    name = entry_name("moodle", "12346", "tiny.ipynb", "a/../\x1b[2Jb_\ud800c\u2066")
    assert name.endswith("_12346_assignsubmission_file/feedback.html") and name.count("/") == 1
    assert all(unicodedata.category(c)[0] != "C" for c in name) and "_" not in name.split("_12346")[0]


# --------------------------------------------------------------------------- finding 5: the gradebook


def test_hostile_values_are_stored_on_both_backends(db_url):
    gb = Gradebook.open(db_url)
    try:
        gb.ensure_assignment("tiny", "T\x00iny", 2.0, LatePolicy())
        gb.ensure_students([{"id": "ann", "name": "N" * 300 + "\ud800", "email": "e\x00@x"}])
        data = b"nb"
        source = "ann/" + "d" * 1100 + "\udcff.ipynb"
        tests = (TestOutcome("test_\ud800" + "t" * 600, "hidden", 0.0, 2.0, "failed", "bad\x00value \udcff" * 50,
                             "visible"),)
        gb.record_grading(NewSubmission("ann", "tiny", source, hashlib.sha256(data).hexdigest(), data, "students"),
                          NewGrading("graded", 0.0, 2.0, "reason\x00\ud800", "tb\x00", "{}", tests=tests,
                                     sandbox="process\x00", files=(("result", "/r\x00.json"),)))
        row = {r.student: r for r in gb.students("tiny")}["ann"]
        assert len(row.name) == 256 and row.name.endswith("\u2026") and "\x00" not in row.name
        assert len(row.source_name) == 1024 and row.source_name.startswith("ann/ddd")
        assert row.reason == "reason\ufffd"
        (t,) = gb.test_results(row.grading_id)
        assert len(t.name) == 512 and t.message.startswith("badvalue \ufffd") and len(t.message) == 50 * 10
    finally:
        gb.dispose()


# --------------------------------------------------------------------------- end to end


def _checked(r, budget_s: float, started: float) -> None:  # noqa: ANN001
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout + r.stderr
    assert "Traceback" not in text, text[-3000:]
    assert len(text) < 20_000 and max(map(len, text.splitlines())) <= 420, "output is bounded"
    assert time.monotonic() - started < budget_s


def _students_class(root: Path) -> Path:
    folder = root / "class"
    deep = "d" * 250
    layout = {
        "ann/tiny.ipynb": notebook(CORRECT, "ann"),
        "bob/tiny.ipynb": notebook(CORRECT, "bob"),
        "bob /tiny.ipynb": BAD,  # a trailing space
        "jos\u00e9/tiny.ipynb": notebook(CORRECT, "jose"),
        "jose\u0301/tiny.ipynb": BAD,  # the decomposed spelling of josé's id
        "\u2460/tiny.ipynb": notebook(CORRECT, "circled"),
        "mallory/1001_7_notes.ipynb": BAD,  # named like a Canvas entry
        "mallory/submission_5/tiny.ipynb": notebook(NUL_MESSAGE),  # named like a Gradescope folder; a NUL
        "frank/tiny.ipynb": notebook(CORRECT, "frank"),
    }
    for rel, data in layout.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    long = folder / ("l" * 120) / deep / deep / deep  # a 1,100-character path, its last name not UTF-8
    long.mkdir(parents=True)
    Path(os.fsdecode(os.fsencode(long) + b"/\xff" + b"f" * 240 + b".ipynb")).write_bytes(notebook(CORRECT, "long"))
    for i in range(1200):  # a repository upload: its owner's budget only
        (folder / "frank" / f"junk{i:04d}.txt").write_bytes(b"x")
    return folder


def _canvas_class(root: Path) -> Path:
    z = root / "canvas.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf, pytest.warns(UserWarning):
        zf.writestr("ann_1001_1_tiny.ipynb", notebook(CORRECT, "ann"))
        zf.writestr("mallory_1003_3_X_1001_assignsubmission_file_tiny.ipynb", BAD)  # named like Moodle's 1001
        zf.writestr("dina_1005_5_tiny.ipynb", notebook(CORRECT, "dina"))
        zf.writestr("dina_1005_5_tiny.ipynb", BAD)  # a differing copy
        for i in range(1200):
            zf.writestr(f"eve_1006_{100 + i}_junk{i}.txt", b"x")
        zf.writestr("eve_1006_9_tiny.ipynb", notebook(CORRECT, "eve"))
        zf.writestr("zoe_1007_7_tiny.ipynb", notebook(CORRECT, "zoe"))
        zf.writestr("zoe_1007_7_tiny.ipynb", notebook(CORRECT, "zoe"))  # an identical copy
        zf.writestr("readme.txt", b"from the instructor")
    return z


#: student -> (status, score) each class must end with; nobody else has a row.
EXPECT = {
    "students": {"ann": ("graded", 2.0), "bob": ("invalid", 0.0), "jos\u00e9": ("invalid", 0.0),
                 "\u2460": ("graded", 2.0), "mallory": ("graded", 0.0),
                 "l" * 120: ("graded", 2.0), "frank": ("graded", 2.0)},
    "canvas": {"1001": ("graded", 2.0), "1003": ("graded", 0.0), "1006": ("graded", 2.0), "1007": ("graded", 2.0)},
}


def _replay(db: str, out: Path):  # noqa: ANN202
    """A Runner that gives each job the result the SQLite run's judges gave it (from its gradebook
    and files), so the PostgreSQL run records the same hostile values without grading again."""
    import json

    from grader.gradebook.api import Gradebook

    gb = Gradebook.open(db)
    try:
        done = {}
        for row in gb.students("tiny"):
            g = gb.grading(row.grading_id)
            page = out / row.student / "feedback.html"
            done[row.student] = {"status": g["status"], "score": g["score"], "max_score": g["max_score"],
                                 "reason": g["reason"], "traceback": g["traceback"], "duration": g["duration"],
                                 "result": json.loads(g["result_json"]) if g["result_json"] else None,
                                 "feedback_html": page.read_text() if page.is_file() else ""}
    finally:
        gb.dispose()

    def run(jobs, n, assignment, options, timeout):  # noqa: ANN001, ANN202
        for job in jobs:
            yield job, done[job.key]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["students", "canvas"])
def test_hostile_classes_grade_everyone_on_their_own_work(layout, course, tmp_path, request):
    """Graded on the process sandbox with SQLite; the students class, which holds the gradebook's
    hostile values (a NUL in a test message, a name that is not UTF-8, a 1,100-character path),
    is then recorded on PostgreSQL from the same judges' results, and both are graded again."""
    intake = _students_class(tmp_path) if layout == "students" else _canvas_class(tmp_path)
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    started = time.monotonic()
    r = batch(intake, course, db, tmp_path / "out")
    _checked(r, 240, started)
    got = rows(db)
    assert {s: (row.status, row.score) for s, row in got.items()} == EXPECT[layout], \
        {s: (row.status, row.score, row.reason) for s, row in got.items()}
    assert r.maxrss_kib < 3 * 2**20, "peak memory under 3 GiB"
    if layout == "students":
        assert "2 different submissions claim the id 'jos\u00e9'" in got["jos\u00e9"].reason
        assert "'bob'" in got["bob"].reason and "'bob '" in got["bob"].reason
        assert "\ufffd" in got["l" * 120].source_name and len(got["l" * 120].source_name) == 1024
        assert "'frank' holds more than 1000 files" in r.stderr
    else:
        assert "entry 3" in r.stderr and "entry 4" in r.stderr  # dina's differing copies, both named
        assert "entry 1207 is an identical copy of entry 1206; read once" in r.stderr
        assert "'1006' has 1201 files, more than the limit of 1000" in r.stderr
    dbs = [db]
    if layout == "students":
        from grader.batch.driver import Batch, BatchConfig

        pg = request.getfixturevalue("pg_database")
        cfg = BatchConfig(submissions=intake, assignment="tiny", db=pg, out=tmp_path / "pg-out", course=course)
        summary = Batch(cfg, runner=_replay(db, tmp_path / "out")).run()
        assert summary["class"]["students"] == len(EXPECT[layout]) and not summary["errors"]
        pg_rows = rows(pg)
        assert {s: (row.status, row.score) for s, row in pg_rows.items()} == EXPECT[layout]
        assert {s: row.source_name for s, row in pg_rows.items()} == {s: row.source_name for s, row in got.items()}
        dbs.append(pg)
    for url in dbs:  # a rerun finishes and changes nothing
        started = time.monotonic()
        again = batch(intake, course, url, tmp_path / ("out" if url == db else "pg-out"))
        _checked(again, 120, started)
        assert "Nothing to do" in again.stdout
        assert {s: (row.status, row.score) for s, row in rows(url).items()} == EXPECT[layout]


def test_the_cli_refuses_a_mixed_intake_and_disagreeing_layouts_in_one_line(course, tmp_path):
    """`grade batch` on a mixed intake, and with `--layout` and its old name `--intake` saying
    different things: one `error: ...` line naming `--layout`, exit 2, nothing graded."""
    from cli_run import grade

    mixed = _zip(tmp_path / "mixed.zip", [("ann_1001_11_tiny.ipynb", GOOD),
                                          ("Mal Lory_1003_assignsubmission_file/tiny.ipynb", BAD)])
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    for extra in ((), ("--layout", "canvas", "--intake", "moodle")):
        r = grade("batch", mixed, "--assignment", "tiny", "--course", course, "--db", db, "--out", tmp_path / "out",
                  *extra, timeout=120)
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "--layout" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
