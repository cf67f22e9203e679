"""Regrade requests without a browser: the signed links, `[regrades]` in assignment.toml, the queue
in the gradebook on SQLite and on a real PostgreSQL server, and `grade regrades list|show|resolve`,
`grade status`, the exports and the class report on a 3-student class built in the gradebook
(tests/manual_class.py). The browser walk is tests/test_regrades_browser.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from manual_class import ASSIGNMENT, build_class
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.cli import main
from grader.course.assignment import AssignmentError, load_assignment
from grader.gradebook import models as m
from grader.gradebook.manual import Manual
from grader.gradebook.regrades import MAX_REASON_CHARS, RegradeError, Regrades
from grader.gradebook.scoring import LatePolicy
from grader.regrades.links import (
    Claim,
    LinkError,
    RegradeSettings,
    feedback_links,
    parse_regrades,
    sign,
    verify,
)

SECRET = "course-secret-for-regrades"
UNTIL = "2099-01-01T00:00:00+00:00"


def _token(link: str) -> str:
    return link.rsplit("/r/", 1)[1]


def test_links_are_signed_bound_to_their_item_and_expire(monkeypatch):  # noqa: ANN001
    from types import SimpleNamespace

    from grader.batch.job import _regrade_links

    settings = RegradeSettings(UNTIL, "https://grader.example.edu")
    # a batch job signs with the judge's own secret, for the student the driver names
    monkeypatch.setenv("GRADER_SECRET", SECRET)
    monkeypatch.delenv("GRADER_SECRET_FILE", raising=False)
    spec, result = SimpleNamespace(id="essay", regrades=settings), SimpleNamespace(tests=[SimpleNamespace(name="t")])
    made = _regrade_links(spec, result, {"student": "s01", "adjust": {"manual": [{"key": "why"}]}})
    assert set(made) == {"test:t", "question:why"} and verify(_token(made["test:t"]), SECRET).student == "s01"
    assert _regrade_links(spec, result, {}) == {}
    assert _regrade_links(SimpleNamespace(id="essay", regrades=RegradeSettings()), result, {"student": "s01"}) == {}
    links = feedback_links(settings, "s01", "essay", ["test_a"], ["why"], secret=SECRET)
    assert set(links) == {"test:test_a", "question:why"}
    assert all(v.startswith("https://grader.example.edu/r/") for v in links.values())
    claim = verify(_token(links["test:test_a"]), SECRET)
    assert (claim.student, claim.assignment, claim.item, claim.name) == ("s01", "essay", "test:test_a", "test_a")
    # no links without [regrades] or without a course secret
    assert feedback_links(RegradeSettings(), "s01", "essay", ["test_a"], [], secret=SECRET) == {}
    assert feedback_links(settings, "s01", "essay", ["test_a"], [], secret="") == {}
    token = _token(links["test:test_a"])
    body, sig = token.split(".")
    other = _token(links["question:why"]).split(".")[0]
    for forged in (body + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"),  # altered signature
                   other + "." + sig,  # another item's claim under this signature
                   body + "x." + sig, token + ".x", "", "a" * 5000,
                   sign(Claim("s01", "essay", "test:test_a", 4_070_908_800), "another course's secret")):
        with pytest.raises(LinkError) as e:
            verify(forged, SECRET)
        assert e.value.kind == "forged"
    past = sign(Claim("s01", "essay", "test:test_a", 1_000_000_000), SECRET)
    with pytest.raises(LinkError) as e:
        verify(past, SECRET)
    assert e.value.kind == "expired" and e.value.claim.student == "s01" and "closed on 2001-09-09" in str(e.value)
    with pytest.raises(LinkError) as e:
        verify(token, "")
    assert e.value.kind == "off"
    with pytest.raises(LinkError):  # a well-signed claim of a shape we never write
        verify(sign(Claim("s01", "essay", "cell:3", 4_070_908_800), SECRET), SECRET)


def test_regrades_table_in_assignment_toml_is_checked(tmp_path):
    assert parse_regrades({}) == RegradeSettings() and not RegradeSettings().enabled
    ok = parse_regrades({"until": "2026-12-20T23:59:00+01:00", "url": "https://grader.example.edu/"})
    assert ok.enabled and ok.url == "https://grader.example.edu" and ok.expires == int(dt.datetime(2026, 12, 20, 22, 59, tzinfo=dt.timezone.utc).timestamp())
    for table, key in (({"untill": UNTIL}, "regrades.untill"), ({"until": "2026-12-20"}, "regrades.until"),
                       ({"until": 5}, "regrades.until"), ({"until": UNTIL}, "regrades.url"),
                       ({"until": UNTIL, "url": "javascript:alert(1)"}, "regrades.url"),
                       ({"until": UNTIL, "url": "https://a.edu/?q=<x>"}, "regrades.url")):
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            parse_regrades(table)
    folder = tmp_path / "assignments" / "hw"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text('[regrades]\nuntil = "next friday"\nurl = "https://a.edu"\n')
    with pytest.raises(AssignmentError) as e:
        load_assignment("hw", tmp_path)
    assert "regrades.until" in str(e.value) and "\n" not in str(e.value)
    (folder / "assignment.toml").write_text(f'[regrades]\nuntil = "{UNTIL}"\nurl = "https://a.edu"\n')
    assert load_assignment("hw", tmp_path).regrades == RegradeSettings(UNTIL, "https://a.edu")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gradebook.db'}"
    return request.getfixturevalue("pg_database")


def _cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_queue_resolutions_and_cli(url, tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("GRADER_SECRET", SECRET)
    gb = build_class(url, n=3, graders=False, feedback_dir=tmp_path)
    gb.ensure_assignment(ASSIGNMENT, "Essay", 10.0, LatePolicy(), RegradeSettings(UNTIL, "https://g.example.edu"))
    rq = Regrades(gb.sessions)
    # bad input changes nothing
    for reason, seen, item, status in (("x" * (MAX_REASON_CHARS + 1), 0, "test:test_a", 400),
                                       (" \u202e\n", 0, "test:test_a", 400),
                                       ("why", 0, "test:nope", 404), ("why", 0, "question:nope", 404),
                                       ("why", 3, "test:test_a", 409)):
        with pytest.raises(RegradeError) as e:
            rq.file(ASSIGNMENT, "s01", item, reason, seen)
        assert e.value.status == status
    assert rq.requests(status=None) == []
    first = rq.file(ASSIGNMENT, "s01", "test:test_a", "<b>markup</b>\u202e kept as text, bidi gone", 0)
    assert rq.get(first).reason == "<b>markup</b> kept as text, bidi gone"
    for seen in (0, 1):  # the same form again, or a fresh page while the first is open
        with pytest.raises(RegradeError) as e:
            rq.file(ASSIGNMENT, "s01", "test:test_a", "again", seen)
        assert e.value.status == 409
    with pytest.raises(sa.exc.IntegrityError), gb.sessions.begin() as s:  # the index holds even past the check
        s.add(m.RegradeRow(student_id="s01", assignment_id=ASSIGNMENT, item="test:test_a", reason="", status="open",
                           resolver="", reply=""))
    second = rq.file(ASSIGNMENT, "s02", "question:why", "I named the core idea", 0)
    third = rq.file(ASSIGNMENT, "s03", "test:test_a", "the test is wrong", 0)
    assert [r.id for r in rq.requests(ASSIGNMENT)] == [second, first, third]  # per item, oldest first

    code, out, _ = _cli("status", ASSIGNMENT, "--db", url)
    assert code == 0 and "regrade requests: 3 open" in out
    code, out, _ = _cli("regrades", "list", ASSIGNMENT, "--db", url)
    assert code == 0 and len(out.splitlines()) == 3 and "s02" in out.splitlines()[0]
    code, out, _ = _cli("regrades", "show", str(second), "--db", url)
    assert code == 0 and "Answer of student 2" in out and "I named the core idea" in out
    # bad input: one error line, exit 2, nothing changed
    for args in (("show", "999"), ("resolve", str(first)), ("resolve", str(first), "--accept", "11"),
                 ("resolve", str(first), "--accept", "3", "--reject"), ("resolve", str(third), "--reject"),
                 ("resolve", str(third), "--adjusted")):
        code, out, err = _cli("regrades", *args, "--db", url)
        assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, (args, err)
    assert rq.open_count(ASSIGNMENT) == 3

    code, out, _ = _cli("regrades", "resolve", str(first), "--accept", "9", "--reply", "Fair: tolerance too tight",
                        "--by", "prof", "--db", url)
    assert code == 0 and "accepted: 5.0 -> 9.0" in out and "Feedback:" in out
    code, _, err = _cli("regrades", "resolve", str(first), "--reject", "--reply", "no", "--db", url)
    assert code == 2 and "already resolved" in err
    rq.resolve(third, "reject", "ta1", reply="The test checks the spec.")
    Manual(gb.sessions).save(ASSIGNMENT, "why", "s02", {"core"}, "", "ta1", 0)
    rq.resolve(second, "accept", "ta1", 1.5, "Half a point for the detail.")
    # a rubric change later does not undo the accepted score; the next save by a grader does
    Manual(gb.sessions).edit_item(ASSIGNMENT, "why", "core", 0.5, "states the core idea", "", "prof")
    assert {r.student: r.manual["why"] for r in gb.students(ASSIGNMENT)}["s02"] == 1.5

    rows = {r.student: r for r in gb.students(ASSIGNMENT)}
    assert (rows["s01"].final_score, rows["s02"].final_score, rows["s03"].final_score) == (9.0, 6.5, 5.0)
    code, out, _ = _cli("export", ASSIGNMENT, "--format", "json", "--db", url)
    exported = {s["student"]: s for s in json.loads(out)["students"]}
    assert exported["s01"]["final_score"] == 9.0 and exported["s02"]["manual"]["why"] == 1.5
    code, out, _ = _cli("export", ASSIGNMENT, "--format", "canvas", "--canvas-id", "7", "--db", url,
                        "-o", str(tmp_path / "canvas.csv"))
    assert code == 0 and "Student Name 1,s01,,,,9" in (tmp_path / "canvas.csv").read_text().splitlines()
    page = (tmp_path / "s01.html").read_text()  # the student's feedback page, written again
    assert "test test_a set to 9 by the instructor: regrade request" in page and "/r/" in page
    audit = [a for a in Manual(gb.sessions).audit(ASSIGNMENT) if a["action"].startswith("regrade_")]
    assert [(a["actor"], a["action"], a["detail"]["request"], a["detail"]["before"], a["detail"]["after"])
            for a in audit] == [("prof", "regrade_accept", first, 5.0, 9.0), ("ta1", "regrade_reject", third, 5.0, 5.0),
                                ("ta1", "regrade_accept", second, 1.0, 1.5)]
    code, out, _ = _cli("status", ASSIGNMENT, "--db", url, "--json")
    assert json.loads(out)["regrades_open"] == 0
    assert rq.most_disputed(ASSIGNMENT) == [("test:test_a", 2, 1), ("question:why", 1, 1)]
    from grader.report.classdata import build_report

    assert build_report(gb, ASSIGNMENT).disputed == (("test:test_a", 2, 1), ("question:why", 1, 1))
    # a hidden test's message reaches graders, never the student's page
    with gb.sessions.begin() as s:
        s.execute(sa.update(m.TestRow).values(visibility="hidden"))
    assert "sweep" not in " ".join(rq.item(ASSIGNMENT, "s03", "test:test_a").lines)
    assert "sweep of s03" in " ".join(rq.item(ASSIGNMENT, "s03", "test:test_a", staff=True).lines)
    # answered: a second request on the item may be filed now
    assert rq.file(ASSIGNMENT, "s01", "test:test_a", "one more thing", 1) > third
    gb.dispose()
