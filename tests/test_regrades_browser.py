"""Regrade requests end to end in a real browser: Playwright from PyPI driving Debian's Chromium
against `grade serve` started with the CLI on a loopback port, on a 3-student class built in the
gradebook (tests/manual_class.py) whose feedback pages carry the signed links.

The walk: a student files a request from their feedback page's link (a reason with markup stays
text); a TA accepts it with a new score; the export, the Canvas CSV, the student's request page and
feedback page show it and the audit log names the TA. Another student's request on a question is
rejected with a reply they then read. Forged, expired and replayed links and a form without its
CSRF token are refused and change nothing.

Skipped without Playwright or Chromium, unless REQUIRE_BROWSER=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from manual_class import ASSIGNMENT, PASSWORD, build_class
from serve_env import chromium, start_serve, stop_serve

from grader.batch.refresh import refresh_feedback
from grader.cli import main
from grader.gradebook.regrades import Regrades
from grader.gradebook.scoring import LatePolicy
from grader.regrades.links import Claim, RegradeSettings, sign

pytestmark = [pytest.mark.browser]
ROOT = Path(__file__).resolve().parent.parent
SECRET = "browser-regrade-secret"
UNTIL = "2099-01-01T00:00:00+00:00"
REASON = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
          '<b id="bold">bold?</b> {{ 7*7 }} my loss was within tolerance')


@pytest.fixture(scope="module")
def app(tmp_path_factory):  # noqa: ANN001, ANN201
    """(base URL, gradebook URL, gradebook, feedback folder) of `grade serve` on a 3-student class
    whose feedback pages link to it."""
    folder = tmp_path_factory.mktemp("regrades")
    url = f"sqlite:///{folder / 'gradebook.db'}"
    gb = build_class(url, n=3, feedback_dir=folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADER_SECRET": SECRET}
    env.pop("GRADER_SECRET_FILE", None)
    proc, base = start_serve(url, env=env)
    gb.ensure_assignment(ASSIGNMENT, "Essay", 10.0, LatePolicy(), RegradeSettings(UNTIL, base))
    yield base, url, gb, folder
    stop_serve(proc)
    gb.dispose()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    with chromium() as b:
        yield b


def _sign_in(browser, base: str, name: str):  # noqa: ANN001, ANN202
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/", page.content()
    return context, page


def _cli(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


def _file_from_feedback(student, page_path: Path, selector: str, reason: str) -> str:  # noqa: ANN001
    """Open the feedback page, follow the regrade link at `selector`, file `reason`; the link."""
    page = student.new_page()
    page.set_default_timeout(15_000)
    page.goto(page_path.as_uri())
    with page.expect_navigation():
        page.click(selector)
    link = page.url
    page.fill("#reason", reason)
    with page.expect_navigation():
        page.click("#send")
    assert "Your request was filed" in page.inner_text("#message")
    page.close()
    return link


def test_regrade_walk_file_accept_reject_and_refusals(app, browser, monkeypatch):  # noqa: ANN001
    base, url, gb, folder = app
    monkeypatch.setenv("GRADER_SECRET", SECRET)
    monkeypatch.delenv("GRADER_SECRET_FILE", raising=False)
    for sid in ("s01", "s02"):
        refresh_feedback(gb, ASSIGNMENT, sid)
    rq = Regrades(gb.sessions)

    # -- s01 files a request on test_a from the link on their feedback page -------------------
    s01 = browser.new_context()
    page = s01.new_page()
    page.set_default_timeout(15_000)
    page.goto((folder / "s01.html").as_uri())
    assert page.locator("a.dlg-regrade").count() == 3  # test_a, and the two questions
    with page.expect_navigation():
        page.click("table.dlg-tests a.dlg-regrade")
    link = page.url
    assert link.startswith(base + "/r/") and "test test_a" in page.inner_text("h1")
    assert page.inner_text("#item-score") == "Your score: 5 / 10" and "sweep of s01" in page.inner_text("#item")
    stale = s01.new_page()  # the same form in a second tab: sent after the first, it is a replay
    stale.goto(link)
    page.fill("#reason", REASON)
    with page.expect_navigation():
        page.click("#send")
    assert "Your request was filed" in page.inner_text("#message")
    assert "<script>window.__pwned = 1</script>" in page.inner_text("#history .reason")
    assert page.evaluate("window.__pwned") is None
    assert page.query_selector("#bold") is None and page.query_selector("main img") is None
    assert page.query_selector("#file") is None and page.query_selector("#waiting") is not None
    csrf = stale.get_attribute("input[name=csrf_token]", "value")
    stale.fill("#reason", "sent again")
    with stale.expect_navigation():
        stale.click("#send")
    assert stale.inner_text("h1") == "Already filed"
    assert len(rq.requests(ASSIGNMENT)) == 1
    # a form without its CSRF token; a forged link; an expired link (readable, but nothing can be filed)
    resp = s01.request.post(link, form={"seen": "1", "reason": "no token"})
    assert resp.status == 400 and "security token" in resp.text()
    resp = page.goto(link[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB"))
    assert resp.status == 403 and page.inner_text("h1") == "This link is not valid"
    forged = sign(Claim("s03", ASSIGNMENT, "test:test_a", 4_070_908_800), "not the course secret")
    assert page.goto(f"{base}/r/{forged}").status == 403
    expired = f"{base}/r/{sign(Claim('s01', ASSIGNMENT, 'question:why', 1_000_000_000), SECRET)}"
    assert page.goto(expired).status == 200 and "closed on 2001-09-09" in page.inner_text("#expired")
    assert page.query_selector("#file") is None
    resp = s01.request.post(expired, form={"csrf_token": csrf, "seen": "0", "reason": "late"})
    assert resp.status == 410
    assert len(rq.requests(ASSIGNMENT, status=None)) == 1

    # -- ta1 accepts it with a new score ----------------------------------------------------
    ta, tpage = _sign_in(browser, base, "ta1")
    assert "Regrade requests: 1 open" in tpage.inner_text("#regrade-count")
    tpage.goto(base + "/regrades")
    assert "my loss was within tolerance" in tpage.inner_text("table.queue")
    assert tpage.evaluate("window.__pwned") is None
    with tpage.expect_navigation():
        tpage.click("a.open-request")
    tpage.fill("#reply", "Fair: the tolerance was too tight.")
    tpage.fill("#new-score", "9")
    with tpage.expect_navigation():
        tpage.click("#accept")
    assert tpage.inner_text("#message") == "Request 1 accepted."
    exported = {r["student"]: r for r in csv.DictReader(io.StringIO(_cli("export", ASSIGNMENT, "--format", "csv",
                                                                         "--db", url)))}
    assert float(exported["s01"]["final_score"]) == 9.0 and float(exported["s02"]["final_score"]) == 5.0
    _cli("export", ASSIGNMENT, "--format", "canvas", "--canvas-id", "7", "--db", url, "-o",
         str(folder / "canvas.csv"))
    assert "Student Name 1,s01,,,,9" in (folder / "canvas.csv").read_text().splitlines()
    page.goto(link)
    assert page.inner_text("#item-score").startswith("Your score: 9 / 10")
    assert "accepted" in page.inner_text("#history") and "too tight" in page.inner_text("#history .reply")
    page.goto((folder / "s01.html").as_uri())
    assert "final score: 9 / 13" in page.inner_text(".dlg-adjustments")
    tpage.goto(base + "/audit")
    row = tpage.inner_text("#audit tr:nth-child(2)")
    assert "ta1" in row and "regrade_accept" in row and "5.0 \u2192 9.0" in row

    # -- s02 asks about a written question; prof rejects with a reply s02 reads ---------------
    s02 = browser.new_context()
    link2 = _file_from_feedback(s02, folder / "s02.html", ".dlg-manual a.dlg-regrade", "I named the core idea.")
    prof, ppage = _sign_in(browser, base, "prof")
    ppage.goto(base + "/regrades")
    with ppage.expect_navigation():
        ppage.click("a.open-request")
    assert "Answer of student 2" in ppage.inner_text("pre.evidence >> nth=0")
    ppage.fill("#reply", "<b>No</b>: the answer never says why.")
    with ppage.expect_navigation():
        ppage.click("#reject")
    assert "rejected" in ppage.inner_text("#message")
    page2 = s02.new_page()
    page2.goto(link2)
    assert "rejected" in page2.inner_text("#history") and page2.query_selector("#history b") is None
    assert "<b>No</b>: the answer never says why." in page2.inner_text("#history .reply")
    assert "s01" not in page2.content() and "Student Name" not in page2.content()
    assert page2.query_selector("#file") is not None  # answered: another request may be filed
    headers = s02.request.get(link2).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert rq.open_count(ASSIGNMENT) == 0
    for context in (s01, s02, ta, prof):
        context.close()
