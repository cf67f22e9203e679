"""Manual grading in the gradebook, on SQLite and on a real PostgreSQL server: answers at intake,
rubric grades, the final score everywhere, stale saves refused, rubric edits re-score, regrades
keep manual grades, hostile figures refused within bounds."""

from __future__ import annotations

import base64
import io
import json
import zlib

import pytest
from manual_class import ASSIGNMENT, HOSTILE, build_class, png
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.batch.answers import answers_from_bytes
from grader.batch.export import export_csv, export_json
from grader.gradebook.accounts import check_password, hash_password
from grader.gradebook.api import NewGrading, NewSubmission
from grader.gradebook.manual import Manual, ManualError, StaleGrade, seeded_order
from grader.manual.images import MAX_PIXELS, ImageRefused, reencode_png
from grader.manual.questions import questions_of


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("pg_database")


def test_manual_grades_join_the_final_score_and_survive_regrades(url):  # noqa: ANN001
    gb = build_class(url, n=4)
    mb = Manual(gb.sessions)
    info = gb.assignment(ASSIGNMENT)
    assert info[1] == 13.0  # 10 autograde + 2 + 1 manual
    rows = {r.student: r for r in gb.students(ASSIGNMENT)}
    assert rows["s01"].incomplete and rows["s01"].final_score == 5.0
    g = mb.save(ASSIGNMENT, "why", "s01", {"core", "detail"}, "nice", "ta1", 0)
    assert (g.score, g.version) == (2.0, 1)
    mb.toggle(ASSIGNMENT, "plot", "s01", "ok", "ta1", 0)
    rows = {r.student: r for r in gb.students(ASSIGNMENT)}
    assert not rows["s01"].incomplete and rows["s01"].final_score == 8.0 and rows["s01"].max_score == 13.0
    assert rows["s01"].manual == {"why": 2.0, "plot": 1.0}
    # the total override still has the last word; the export carries the manual columns
    assert "manual:why" in export_csv(list(rows.values())).splitlines()[0]
    student = next(s for s in export_json(ASSIGNMENT, "Essay", 13.0, list(rows.values()))["students"]
                   if s["student"] == "s01")
    assert student["manual"] == {"why": 2.0, "plot": 1.0} and student["incomplete"] is False
    # a regrade (grade batch --force) of the same submission keeps the human's grade
    gb.record_grading(NewSubmission("s01", ASSIGNMENT, "s01.ipynb", "hash0001", b"{}"),
                      NewGrading("graded", 7.0, 10.0, answers=()))
    rows = {r.student: r for r in gb.students(ASSIGNMENT)}
    assert rows["s01"].manual == {"why": 2.0, "plot": 1.0} and rows["s01"].final_score == 10.0
    # a resubmission keeps it too, and the view says the answer changed
    from grader.manual.answers import Answer

    gb.record_grading(NewSubmission("s01", ASSIGNMENT, "s01b.ipynb", "hash9999", b"{}"),
                      NewGrading("graded", 7.0, 10.0, answers=(Answer("why", text="new answer"),)))
    view = mb.answer(ASSIGNMENT, "why", "s01")
    assert view.text == "new answer" and view.grade.answer_changed and view.grade.score == 2.0
    feedback = mb.feedback(ASSIGNMENT, "s01")
    assert [f.score for f in feedback] == [2.0, 1.0]
    assert feedback[0].items[0].comment == "Good core idea." and feedback[0].comment == "nice"
    gb.dispose()


def test_second_save_from_the_same_version_is_refused(url):  # noqa: ANN001
    gb = build_class(url, n=2, graders=False)
    mb = Manual(gb.sessions)
    mb.save(ASSIGNMENT, "why", "s02", {"core"}, "", "ta1", 0)
    with pytest.raises(StaleGrade, match="ta1 saved this answer"):
        mb.save(ASSIGNMENT, "why", "s02", {"detail"}, "mine", "ta2", 0)
    with pytest.raises(StaleGrade):
        mb.toggle(ASSIGNMENT, "why", "s02", "detail", "ta2", 0)
    view = mb.answer(ASSIGNMENT, "why", "s02")
    assert view.grade.items == {"core"} and view.grade.grader == "ta1"
    with pytest.raises(ManualError, match="no rubric item"):
        mb.save(ASSIGNMENT, "why", "s02", {"nope"}, "", "ta1", 1)
    with pytest.raises(ManualError, match="no question"):
        mb.queue(ASSIGNMENT, "nope")
    gb.dispose()


def test_rubric_edit_rescores_everyone_with_the_item_and_is_audited(url):  # noqa: ANN001
    gb = build_class(url, n=3, graders=False)
    mb = Manual(gb.sessions)
    mb.save(ASSIGNMENT, "why", "s01", {"core"}, "", "ta1", 0)
    mb.save(ASSIGNMENT, "why", "s02", {"core", "detail"}, "", "ta1", 0)
    mb.save(ASSIGNMENT, "why", "s03", {"detail"}, "", "ta1", 0)
    assert mb.edit_item(ASSIGNMENT, "why", "core", 0.5, "states the core idea", "", "prof") == 2
    _, scores = mb.scores(ASSIGNMENT)
    assert (scores["s01"]["why"], scores["s02"]["why"], scores["s03"]["why"]) == (0.5, 1.5, 1.0)
    entry = mb.audit(ASSIGNMENT)[-1]
    assert entry["actor"] == "prof" and entry["detail"]["before"]["points"] == 1 and entry["detail"]["rescored"] == 2
    usage = {i.key: c for i, c in mb.item_usage(ASSIGNMENT)["why"]}
    assert usage == {"core": 2, "detail": 2, "wrong": 0}
    gb.dispose()


def test_answers_are_sanitised_and_the_order_is_seeded(tmp_path):  # noqa: ANN001
    gb = build_class(f"sqlite:///{tmp_path / 'g.db'}", n=20, graders=False)
    mb = Manual(gb.sessions)
    view = mb.answer(ASSIGNMENT, "why", "s03")
    assert "\u202e" not in view.text and "<script>" in view.text  # stored as text; escaped when shown
    assert view.evidence == (("test_a", "partial (5/10): sweep of s03: lr 0.1 best"),)
    order = [e.student for e in mb.queue(ASSIGNMENT, "why", seed=7)]
    assert order == [e.student for e in mb.queue(ASSIGNMENT, "why", seed=7)]
    assert order != sorted(order) and sorted(order) == [f"s{i:02d}" for i in range(1, 21)]
    assert order != [e.student for e in mb.queue(ASSIGNMENT, "why", seed=8)]
    assert seeded_order(["a"], 1) == ["a"]
    assert mb.figure(ASSIGNMENT, "plot", "s01").startswith(b"\x89PNG")
    gb.dispose()


def test_passwords_are_salted_scrypt():
    h = hash_password("pw-12345678")
    assert h.startswith("scrypt$") and "pw-12345678" not in h and h != hash_password("pw-12345678")
    assert check_password("pw-12345678", h) and not check_password("pw-12345679", h)
    assert not check_password("x", "garbage")


def _nb_with(output: dict, text: str = "Mine.") -> bytes:
    from manual_class import SOLUTION

    nb = json.loads(json.dumps(SOLUTION))
    nb["cells"][0]["source"] = f"Why?\n<!-- BEGIN ANSWER -->\n{text}\n<!-- END ANSWER -->"
    nb["cells"][1]["outputs"] = [output]
    return json.dumps(nb).encode()


def test_figures_are_reencoded_and_hostile_images_refused_before_decoding():
    from manual_class import SOLUTION

    questions = questions_of(SOLUTION)
    good = {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png()).decode()}}
    why, plot = answers_from_bytes(_nb_with(good, "It \x1b[31mworks\u202e."), questions)
    assert why.text == "It works." and plot.png.startswith(b"\x89PNG") and plot.png != png()
    # a PNG header declaring 100000 x 100000 pixels: refused from the header, no pixel decoded
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    raw[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width and height, with a valid CRC
    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
    with pytest.raises(ImageRefused, match="too many pixels|at most"):
        reencode_png(bytes(raw))
    raw[16:24] = (5000).to_bytes(4, "big") * 2  # 25 M pixels: under Pillow's own limit, over ours
    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
    with pytest.raises(ImageRefused, match=f"at most {MAX_PIXELS:,}"):
        reencode_png(bytes(raw))
    bomb = {"output_type": "display_data", "metadata": {}, "data": {"image/png": base64.b64encode(raw).decode()}}
    assert "figure refused" in answers_from_bytes(_nb_with(bomb), questions)[1].note
    for data in ("not base64!", "aGVsbG8=", ["x"] * 3, 12):
        out = {"output_type": "display_data", "metadata": {}, "data": {"image/png": data}}
        assert answers_from_bytes(_nb_with(out), questions)[1].png is None
    assert [a.note for a in answers_from_bytes(b"\x00garbage", questions)] == ["the notebook could not be read"] * 2
    blank = answers_from_bytes(_nb_with(good, "_YOUR ANSWER HERE_"), questions)[0]
    assert blank.text == "" and blank.note == "no answer"
    assert HOSTILE  # the browser test renders it


def test_one_final_score_in_status_exports_lms_and_feedback(tmp_path):  # noqa: ANN001
    """SQLite only: the commands and renderers read the gradebook API the tests above cover on both."""
    import dataclasses
    import zipfile

    from click.testing import CliRunner

    from grader.batch.refresh import feedback_page
    from grader.cli import main
    from grader.lms import canvas, feedback_zip, moodle

    pages = tmp_path / "pages"
    pages.mkdir()
    url = f"sqlite:///{tmp_path / 'g.db'}"
    gb = build_class(url, n=3, graders=False, feedback_dir=pages)
    mb = Manual(gb.sessions)
    mb.save(ASSIGNMENT, "why", "s01", {"core", "wrong"}, "see <b>me</b>", "ta1", 0)
    mb.save(ASSIGNMENT, "plot", "s01", {"ok"}, "", "ta1", 0)
    mb.save(ASSIGNMENT, "why", "s02", {"detail"}, "", "ta1", 0)

    status = CliRunner().invoke(main, ["status", ASSIGNMENT, "--db", url])
    assert status.exit_code == 0, status.output
    assert "manual grading: why 2/3, plot 1/3; 2 incomplete (grade serve)" in status.output
    as_json = json.loads(CliRunner().invoke(main, ["status", ASSIGNMENT, "--db", url, "--json"]).output)
    assert as_json["incomplete"] == ["s02", "s03"] and as_json["manual"] == {"why": 2, "plot": 1}
    exported = CliRunner().invoke(main, ["export", ASSIGNMENT, "--db", url, "--format", "csv",
                                         "-o", str(tmp_path / "g.csv")])
    assert exported.exit_code == 0, exported.output
    assert "warning: 2 student(s) have written or figure answers not graded yet" in exported.stderr
    assert "s02, s03" in exported.stderr

    rows = {r.student: r for r in gb.students(ASSIGNMENT)}
    assert rows["s01"].final_score == 6.0 and rows["s01"].max_score == 13.0  # 5 + (1 - 1) + 1
    assert canvas.plan(rows.values(), {}, 13.0) == []  # no Canvas identity in this class
    (push,) = canvas.plan([dataclasses.replace(rows["s02"], sis_user_id="S2")], {}, 13.0)
    assert "Written and figure questions: 1." in push.comment and "not graded yet" in push.comment
    assert "Written and figure questions: 1." in moodle.comment_for(rows["s02"], 13.0)
    assert "not graded yet" not in moodle.comment_for(rows["s01"], 13.0)

    _, html = feedback_page(gb, ASSIGNMENT, "s01")
    assert "Written and figure questions" in html and "Why it works: 0 / 2" in html
    assert "Good core idea." in html and "This claim is wrong." in html
    assert "see &lt;b&gt;me&lt;/b&gt;" in html and "<b>me</b>" not in html
    assert "final score: 6 / 13 (autograde 5, written and figure questions 1)" in html
    _, html = feedback_page(gb, ASSIGNMENT, "s03")
    assert "Why it works: not graded yet" in html

    from grader.report.classdata import build_report
    from grader.report.page import render_html

    report = build_report(gb, ASSIGNMENT)
    why, plot = report.manual
    assert (why.graded, why.waiting, why.mean_score) == (2, 1, 0.5) and (plot.graded, plot.mean_score) == (1, 1.0)
    assert why.items == (("states the core idea", 1.0, 1), ("explains why", 1.0, 1), ("a wrong claim", -1.0, 1))
    assert report.to_json()["manual"][1]["items"][0] == ("readable plot", 1.0, 1)
    from grader.course.assignment import templates_dir

    page = render_html(report, tmp_path / "report.html", templates_dir(None))
    assert "Written and figure questions" in page and "0.5 / 2" in page and "a wrong claim" in page

    path, count, notes = feedback_zip.build(gb, ASSIGNMENT, tmp_path / "plain.zip", "plain")
    with zipfile.ZipFile(path) as zf:
        page = zf.read("s01/feedback.html").decode()
    assert count == 3 and notes == [] and "This claim is wrong." in page
    gb.dispose()
