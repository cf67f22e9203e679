"""The grading app (`grade serve`) in a real browser: Playwright from PyPI driving Debian's Chromium
against the real app, started with the CLI on a loopback port, on a 20-student class built in the
gradebook (tests/manual_class.py).

Skipped without Playwright or Chromium, unless REQUIRE_BROWSER=1 (CI), which makes that a failure.
With DLGRADE_SCREENSHOTS=FOLDER, the pages are also saved there as PNG (the screenshots of
docs/manual-grading.md: `DLGRADE_SCREENSHOTS=docs/img pytest tests/test_manual_browser.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from manual_class import ASSIGNMENT, PASSWORD, build_class
from serve_env import chromium, start_serve, stop_serve

from grader.gradebook.manual import Manual

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
SEED = 5
N = 20


@pytest.fixture(scope="module")
def app(tmp_path_factory):  # noqa: ANN001, ANN201
    """(base URL, gradebook) of `grade serve` on a fresh 20-student class."""
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'gradebook.db'}"
    gb = build_class(url, n=N)
    proc, base = start_serve(url, "--seed", str(SEED))
    yield base, gb
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
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.keyboard.type(name)  # the name field has autofocus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/", page.content()
    return context, page


def _shot(page, name: str) -> None:  # noqa: ANN001
    folder = os.environ.get("DLGRADE_SCREENSHOTS")
    if folder:
        page.set_viewport_size({"width": 1100, "height": 760})
        page.screenshot(path=str(Path(folder) / f"manual-{name}.png"))


def _position(gb, question: str, student: str) -> int:  # noqa: ANN001
    order = [e.student for e in Manual(gb.sessions).queue(ASSIGNMENT, question, SEED)]
    return order.index(student) + 1


def test_grade_twenty_answers_with_the_keyboard_only(app, browser):  # noqa: ANN001
    base, gb = app
    context, page = _sign_in(browser, base, "ta1")
    page.keyboard.press("Tab")  # header: home link
    page.goto(base + f"/a/{ASSIGNMENT}/q/why")
    assert page.url.endswith("/a/essay/q/why/1") and "Student 1 (names hidden)" in page.inner_text("#student")
    assert "Student Name" not in page.content()
    for pos in range(1, N + 1):
        assert page.inner_text("#position") == f"Answer {pos} of {N}"
        with page.expect_navigation():
            page.keyboard.press("1")  # rubric item 1: +1
        if pos % 5 == 0:
            with page.expect_navigation():
                page.keyboard.press("2")  # item 2: +1 more
        assert page.inner_text("#score").startswith(f"score {1 + (pos % 5 == 0)} / 2")
        if pos < N:
            with page.expect_navigation():
                page.keyboard.press("n")
    assert "20 / 20 graded" in page.inner_text("#progress")
    _shot(page, "answer")
    with page.expect_navigation():
        page.keyboard.press("p")
    assert page.inner_text("#position") == f"Answer {N - 1} of {N}"
    page.keyboard.press("c")
    page.keyboard.type("Well argued.")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    _, scores = Manual(gb.sessions).scores(ASSIGNMENT)
    assert sorted(s["why"] for s in scores.values()) == [1.0] * 16 + [2.0] * 4
    order = [e.student for e in Manual(gb.sessions).queue(ASSIGNMENT, "why", SEED)]
    assert Manual(gb.sessions).answer(ASSIGNMENT, "why", order[N - 2]).grade.comment == "Well argued."
    context.close()


def test_rubric_change_moves_the_scores_in_the_export(app, browser, tmp_path):  # noqa: ANN001
    base, gb = app
    mb = Manual(gb.sessions)
    for sid in ("s05", "s06"):
        mb.save(ASSIGNMENT, "plot", sid, {"ok"}, "", "ta2", 0)

    def export() -> dict[str, float]:  # what `grade export --format csv` writes
        import csv
        import io

        from grader.batch.export import export_csv

        return {r["student"]: float(r["final_score"])
                for r in csv.DictReader(io.StringIO(export_csv(gb.students(ASSIGNMENT))))}

    before = export()
    context, page = _sign_in(browser, base, "prof")
    page.goto(base + f"/a/{ASSIGNMENT}/q/plot/rubric")
    page.fill('input[aria-label="points of ok"]', "0.25")
    with page.expect_navigation():
        page.click("#save-ok")
    assert "2 grade(s) re-scored" in page.inner_text("#message")
    assert "prof: rubric_item_edit ok" in page.inner_text("ul.audit")
    _shot(page, "rubric")
    after = export()
    assert after["s05"] == before["s05"] - 0.75 and after["s06"] == before["s06"] - 0.75
    assert after["s07"] == before["s07"]
    context.close()


def test_two_graders_on_one_answer_the_second_save_is_refused(app, browser):  # noqa: ANN001
    base, gb = app
    pos = _position(gb, "plot", "s09")
    one, page1 = _sign_in(browser, base, "ta1")
    two, page2 = _sign_in(browser, base, "ta2")
    for page in (page1, page2):
        page.goto(base + f"/a/{ASSIGNMENT}/q/plot/{pos}")
    with page1.expect_navigation():
        page1.keyboard.press("1")
    with page2.expect_navigation():
        page2.keyboard.press("2")
    assert "someone else graded this answer" in page2.inner_text("h1")
    assert "ta1 saved this answer" in page2.inner_text(".error")
    view = Manual(gb.sessions).answer(ASSIGNMENT, "plot", "s09")
    assert view.grade.items == {"ok"} and view.grade.grader == "ta1"
    with page2.expect_navigation():
        page2.click("#reload")
    assert page2.get_attribute('button.item[data-key="1"]', "aria-pressed") == "true"
    one.close()
    two.close()


def test_an_answer_with_script_and_markup_is_inert(app, browser):  # noqa: ANN001
    base, gb = app
    context, page = _sign_in(browser, base, "ta2")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text))
    page.goto(base + f"/a/{ASSIGNMENT}/q/why/{_position(gb, 'why', 's03')}")
    text = page.inner_text("#answer-text")
    assert "<script>window.__pwned = 1</script>" in text and "{{ 7*7 }}" in text and "\u202e" not in text
    assert page.evaluate("window.__pwned") is None
    assert page.query_selector("#bold") is None and page.query_selector("main img") is None
    context.close()


def test_a_form_without_its_csrf_token_and_an_unauthenticated_request_are_refused(app, browser):  # noqa: ANN001
    base, gb = app
    pos = _position(gb, "plot", "s11")
    context, page = _sign_in(browser, base, "ta1")
    page.goto(base + f"/a/{ASSIGNMENT}/q/plot/{pos}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_navigation():
        page.keyboard.press("1")
    assert "Refused: missing or stale security token" in page.inner_text("h1")
    # a forged token, sent from the signed-in context
    resp = context.request.post(base + f"/a/{ASSIGNMENT}/q/plot/{pos}/toggle", form={
        "csrf_token": "forged", "student": "s11", "version": "0", "item": "ok"})
    assert resp.status == 400
    assert Manual(gb.sessions).answer(ASSIGNMENT, "plot", "s11").grade is None
    # no session at all
    stranger = browser.new_context()
    resp = stranger.request.post(base + f"/a/{ASSIGNMENT}/q/plot/{pos}/toggle", form={
        "student": "s11", "version": "0", "item": "ok"})
    assert resp.status == 401 and "Sign in first" in resp.text()
    resp = stranger.request.get(base + f"/a/{ASSIGNMENT}/q/plot/{pos}/figure.png")
    assert resp.url.startswith(base + "/login") and not resp.body().startswith(b"\x89PNG")
    assert Manual(gb.sessions).answer(ASSIGNMENT, "plot", "s11").grade is None
    # the headers every page carries
    headers = context.request.get(base + "/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    stranger.close()
    context.close()
