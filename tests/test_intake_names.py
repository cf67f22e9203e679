"""Property (hypothesis) over intake names: whatever the students' folder or file names (Unicode
categories, NFC and NFD spellings, trailing spaces and letter case of another's id, bytes that are
not UTF-8, control and bidi characters, names up to the file system's 255-byte limit, names shaped
like another layout's), a class read by `grade batch` ends, on SQLite and PostgreSQL, with one row
per student id, each with that student's own notebook or a reason, never anyone else's, and no
crash; a rerun finishes and changes nothing. A second, intake-only property does the same for
the full names in a Moodle zip and the feedback folders made from them.

No sandbox here: the driver runs with a Runner that returns a fixed result (the judge is not what
is under test; tests/test_intake_isolation.py grades hostile classes for real), whose test message
carries the student's name, a NUL and a lone surrogate into the gradebook, and whose feedback
page holds a lone surrogate too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_class import CORRECT, notebook, tiny_course
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.batch import layouts
from grader.batch.driver import Batch, BatchConfig
from grader.batch.intake import IntakeError, _bad_id, canonical_id, read_intake
from grader.gradebook import models as m
from grader.gradebook.api import Gradebook

LOOKALIKES = ["1001_7_notes", "submission_5", "Jane Doe_12_assignsubmission_file", "LATE_anon_ab1_2_f",
              "doe_1001_3_tiny", "submission_metadata.yml"]
_chars = st.characters(categories=["Lu", "Ll", "Lo", "Lm", "Mn", "Mc", "Nd", "No", "Zs", "Cc", "Cf", "So", "Pd",
                                   "Po"], exclude_characters="/\x00")
_base = st.one_of(st.text(_chars, min_size=1, max_size=24), st.sampled_from(LOOKALIKES),
                  st.from_regex(r"[a-z]{1,8}", fullmatch=True))


def _encode(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


@st.composite
def classes(draw) -> list[bytes]:  # noqa: ANN001
    """2-6 distinct on-disk names (bytes), some of them spellings of another's."""
    names = [_encode(n) for n in draw(st.lists(_base, min_size=1, max_size=4))]
    for _ in range(draw(st.integers(0, 3))):
        victim = draw(st.sampled_from(names)).decode("utf-8", "surrogateescape")
        twist = draw(st.sampled_from(["nfd", "nfc", "space", "upper", "bidi", "bytes", "long"]))
        if twist == "nfd":
            names.append(_encode(unicodedata.normalize("NFD", victim + "\u00e9")))
            names.append(_encode(victim + "\u00e9"))
        elif twist == "nfc":
            names.append(_encode(unicodedata.normalize("NFC", victim)))
        elif twist == "space":
            names.append(_encode(victim + " "))
        elif twist == "upper":
            names.append(_encode(victim.upper()))
        elif twist == "bidi":
            names.append(_encode("\u202e" + victim))
        elif twist == "bytes":  # not UTF-8: os.listdir gives lone surrogates for these
            names.append(_encode(victim) + draw(st.binary(min_size=1, max_size=3)).translate(bytes(range(128, 256)) * 2))
        else:  # up to the 255-byte limit (less the .ipynb of the folder layout)
            names.append((_encode(victim) * 255)[:draw(st.integers(200, 249))])
    out: list[bytes] = []
    for raw in names:
        raw = raw.replace(b"/", b"_").replace(b"\x00", b"_")[:249]
        if raw and not raw.startswith(b".") and raw not in out:  # hidden entries are skipped by design
            out.append(raw)
    return out


def _shaped_like(kind: str, name: str) -> bool:
    return bool({"canvas": layouts.CANVAS, "moodle": layouts.MOODLE_DIR, "gradescope": layouts.GS_DIR}
                .get(kind, layouts.CANVAS).match(name) or layouts.MOODLE_FILE.match(name))


def _runner(jobs, n, assignment, options, timeout):  # noqa: ANN001, ANN202
    for job in jobs:
        name = str(job.options.get("source_name", ""))
        test = {"name": "test_square", "suite": "hidden", "score": 2.0, "max_score": 2.0, "status": "passed",
                "message": f"ran {name} \ud800\x00"}
        yield job, {"status": "graded", "score": 2.0, "max_score": 2.0, "reason": "", "traceback": "", "duration": 0,
                    "result": {"score": 2.0, "max_score": 2.0, "tests": [test]}, "feedback_html": "<p>ok \ud800</p>"}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:  # noqa: ANN001
    return tiny_course(tmp_path_factory.mktemp("tiny") / "course")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("pg_database")


def _empty(url: str) -> None:
    gb = Gradebook.open(url)
    try:
        with gb.sessions.begin() as s:
            for table in reversed(m.Base.metadata.sorted_tables):
                s.execute(table.delete())
    finally:
        gb.dispose()


@settings(max_examples=12, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=classes(), layout=st.sampled_from(["students", "folder"]))
def test_any_names_give_one_row_per_student_and_no_crash(names, layout, course, db_url):
    _empty(db_url)
    work = Path(tempfile.mkdtemp(prefix="dlgrade-names-"))
    try:
        root = work / "class"
        root.mkdir()
        mine: dict[bytes, bytes] = {}
        for i, raw in enumerate(names):
            data = mine[raw] = notebook(CORRECT, f"student {i}")
            if layout == "students":
                os.mkdir(os.fsencode(root) + b"/" + raw)
                Path(os.fsdecode(os.fsencode(root) + b"/" + raw + b"/tiny.ipynb")).write_bytes(data)
            else:
                Path(os.fsdecode(os.fsencode(root) + b"/" + raw + b".ipynb")).write_bytes(data)
        try:
            auto = read_intake(root, "tiny").kind
        except IntakeError as e:  # a mixed class is refused in one line, naming --layout
            assert "\n" not in str(e) and "--layout" in str(e)
            auto = layout
        assert auto == layout or all(_shaped_like(auto, os.fsdecode(n)) for n in names)

        cfg = BatchConfig(submissions=root, assignment="tiny", db=db_url, out=work / "out", course=course,
                          intake=layout)
        Batch(cfg, runner=_runner).run()
        rows = {r.student: r for r in _stored_rows(db_url)}
        claims: dict[str, list[bytes]] = {}
        for raw in names:
            text = os.fsdecode(raw)
            sid = canonical_id(text if layout == "students" else Path(text).name)
            if not _bad_id(sid):
                claims.setdefault(sid, []).append(raw)
        assert set(rows) == set(claims), (sorted(rows), sorted(claims))  # one row per id, no other
        for sid, who in claims.items():
            row = rows[sid]
            if len(who) == 1:
                assert row.status == "graded" and row.content_hash == hashlib.sha256(mine[who[0]]).hexdigest()
            else:
                assert row.status == "invalid" and "claim the id" in row.reason
        again = Batch(cfg, runner=_runner).run()  # a rerun finishes and changes nothing
        assert again["nothing_to_do"] and again["class"]["students"] == len(claims)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stored_rows(url: str) -> list:
    gb = Gradebook.open(url)
    try:
        rows = gb.students("tiny")
        with gb.sessions() as s:  # every stored text is encodable: no lone surrogate, no NUL
            for (message,) in s.execute(sa.text("select message from test_results")):
                assert "\x00" not in message
                message.encode()
        return rows
    finally:
        gb.dispose()


_person = st.text(st.characters(categories=["Lu", "Ll", "Lo", "Mn", "Nd", "No", "Zs", "Cf", "So", "Pd", "Po"],
                                exclude_characters="_/\\"), min_size=1, max_size=40)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(people=st.lists(st.tuples(_person, st.sampled_from([None, *LOOKALIKES[:2], "LATE_anon_ab1_2_f"])),
                       min_size=1, max_size=5))
def test_moodle_names_give_each_participant_their_own_notebook_and_a_neutral_feedback_folder(people):
    """A Moodle zip whose full names hold any letters, marks, bidi and format characters, with a
    file inside some folders named like another layout's entry: each participant number gets its
    own notebook, and the feedback zip's folder for it is one neutral path segment."""
    import io
    import zipfile

    from grader.lms.moodle import feedback_folder

    buf, mine = io.BytesIO(), {}
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (person, planted) in enumerate(people):
            uid = str(1001 + i)
            folder = f"{person}_{uid}_assignsubmission_file"
            zf.writestr(f"{folder}/tiny.ipynb", mine.setdefault(uid, notebook(CORRECT, f"{person} {i}")))
            if planted:
                zf.writestr(f"{folder}/{planted}.ipynb", notebook(CORRECT, "planted"))
    work = Path(tempfile.mkdtemp(prefix="dlgrade-moodle-"))
    try:
        archive = work / "moodle.zip"
        archive.write_bytes(buf.getvalue())
        got = read_intake(archive, "tiny")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert got.kind == "moodle" and set(got.picked) == set(mine), (got.picked.keys(), got.refused)
    for uid, p in got.picked.items():
        assert p.data == mine[uid] and not p.reason
        folder = feedback_folder(uid, p.source, p.person)
        assert folder.endswith(f"_{uid}_assignsubmission_file") and len(folder) <= 100 + 40
        assert not any(c in "/\\" or unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in folder), ascii(folder)
