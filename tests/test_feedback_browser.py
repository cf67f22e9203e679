"""The feedback page in a real browser: headless Chromium renders it, and nothing in it runs.

Skipped when no Chromium is installed, unless REQUIRE_BROWSER=1 (CI), which makes that a
failure. Every Chromium run has a 60 s time limit and its own throwaway profile.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_feedback import FAIL_MSG, JS, NOW, TEMPLATES, hostile_notebook, make_result

from grader import feedback as fb
from grader.feedback import sanitise

pytestmark = pytest.mark.browser

TIMEOUT = 60
SCORE_TEXT = "27.5 / 40"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
]


def find_chromium() -> str | None:
    for name in (os.environ.get("DLGRADE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                 "google-chrome-stable"):
        if name and (path := shutil.which(name)):
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        reason = ("headless Chromium not found (apt-get install chromium, or set DLGRADE_CHROMIUM); "
                  "REQUIRE_BROWSER=1 turns this skip into a failure")
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


def run_chromium(exe: str, page: Path, profile: Path, *args: str) -> str:
    """Run Chromium on `page` and return its stdout; kill its whole process group on timeout."""
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT} s: {' '.join(cmd)}")
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {err[-2000:]}"
    return out


def dump_dom(exe: str, page: Path, profile: Path) -> str:
    # the virtual time budget lets timers, image error handlers and the like fire first
    return run_chromium(exe, page, profile, "--dump-dom", "--virtual-time-budget=3000")


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.title = ""
        self._where: list[str] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self._where.append(tag)
        if (ident := dict(attrs).get("id")) is not None:
            self.ids.append(ident)

    def handle_endtag(self, tag):
        if self._where and self._where[-1] == tag:
            self._where.pop()

    def handle_data(self, data):
        if self._where and self._where[-1] == "title":
            self.title += data
        elif not self._where or self._where[-1] not in ("style", "script"):
            self.chunks.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("feedback") / "feedback.html"
    return fb.render_feedback(make_result(score=27.5), hostile_notebook(), out, templates=TEMPLATES, now=NOW)


def png_info(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, decompressed image data) of a PNG; checks the signature and chunks' CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_screenshot(chromium, page, tmp_path):
    png = tmp_path / "feedback.png"
    run_chromium(chromium, page, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,2000")
    data = png.read_bytes()
    width, height, pixels = png_info(data)
    assert (width, height) == (1280, 2000)
    # a flat colour compresses to a few kB and its filtered rows are nearly all one byte value
    assert len(data) > 40_000, f"screenshot is suspiciously small ({len(data)} bytes)"
    assert len(set(pixels[::7])) > 64, "screenshot looks like a single flat colour"
    keep = os.environ.get("DLGRADE_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(png, keep)


def test_dump_dom_has_score_and_message(chromium, page, tmp_path):
    html = dump_dom(chromium, page, tmp_path / "profile")
    dom = Dom(html)
    assert SCORE_TEXT in dom.text
    assert FAIL_MSG in dom.text
    assert "<mfrac>" in html and "Math becomes MathML:" in dom.text  # MathML, kept by the browser's parser
    assert "test_affine_forward_dw" in dom.text and "hidden test" in dom.text
    assert "cell-2" in dom.ids


def test_hostile_content_never_ran(chromium, page, tmp_path):
    html = dump_dom(chromium, page, tmp_path / "profile")
    dom = Dom(html)
    assert dom.title == f"backprop: {SCORE_TEXT}", dom.title
    assert "pwned" not in dom.ids
    assert "PWNED" not in html
    assert "PW'+'NED" in dom.text  # the payload is on the page, as text


def test_hostile_content_inert_even_without_csp(chromium, page, tmp_path):
    """The sanitiser alone keeps the payloads dead: the same page with its CSP removed."""
    html, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text(encoding="utf-8"))
    assert n == 1
    bare = tmp_path / "no-csp.html"
    bare.write_text(html, encoding="utf-8")
    out = dump_dom(chromium, bare, tmp_path / "profile")
    dom = Dom(out)
    assert dom.title == f"backprop: {SCORE_TEXT}", dom.title
    assert "pwned" not in dom.ids and "PWNED" not in out
    assert FAIL_MSG in dom.text


def test_control_payloads_are_live(chromium, tmp_path, monkeypatch):
    """Control: with the sanitiser, the final check and the CSP all switched off, the same
    notebook does run its payload in this browser, so the two tests above are meaningful."""
    monkeypatch.setattr(sanitise, "clean_html", lambda html: str(html))
    monkeypatch.setattr(sanitise, "unsafe_html", lambda html: [])
    out = fb.render_feedback(make_result(score=27.5), hostile_notebook(), tmp_path / "unsafe.html",
                             templates=TEMPLATES, now=NOW)
    html, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", out.read_text(encoding="utf-8"))
    assert n == 1
    out.write_text(html, encoding="utf-8")
    dom = Dom(dump_dom(chromium, out, tmp_path / "profile"))
    assert dom.title == "PWNED" or "pwned" in dom.ids


def test_control_scripts_do_run_here(chromium, tmp_path):
    """Control: in this browser setup a script does run and is seen by --dump-dom, so the
    test above would notice if the page's payload ran."""
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body><p>x</p><script>{JS}</script>"
                       "</body></html>", encoding="utf-8")
    dom = Dom(dump_dom(chromium, control, tmp_path / "profile"))
    assert dom.title == "PWNED" and "pwned" in dom.ids


def test_control_csp_blocks_inline_script(chromium, tmp_path):
    """Control: the page's CSP alone stops an inline script and an inline event handler."""
    control = tmp_path / "csp.html"
    control.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{fb.CSP}">'
                       f'<title>t</title></head><body><p>x</p><script>{JS}</script>'
                       f'<img src="x" onerror="{JS}"></body></html>', encoding="utf-8")
    dom = Dom(dump_dom(chromium, control, tmp_path / "profile"))
    assert dom.title == "t" and "pwned" not in dom.ids


def test_misconception_hint_shown_escaped(chromium, tmp_path):
    """A diagnosis is shown under its failed test, as text: markup in a course's hint is escaped.
    A hidden test's diagnosis is not shown (its message is not either)."""
    import dataclasses

    hint = "Sum over the batch <b id=bold>here</b> <script>document.title='HI'+'NT'</script>"
    diagnosis = {"name": "dw_averaged", "title": "averaged dw over the batch", "hint": hint}
    secret = {"name": "secret_one", "title": "did the hidden thing", "hint": "hidden-hint-text"}
    result = make_result(score=27.5)
    tests = (dataclasses.replace(result.tests[0], diagnoses=(diagnosis,)), result.tests[1],
             dataclasses.replace(result.tests[2], diagnoses=(secret,)), *result.tests[3:])
    out = fb.render_feedback(dataclasses.replace(result, tests=tests), hostile_notebook(), tmp_path / "hint.html",
                             templates=TEMPLATES, now=NOW)
    dom = Dom(dump_dom(chromium, out, tmp_path / "profile"))
    assert "It looks like you averaged dw over the batch." in dom.text
    assert "<b id=bold>here</b>" in dom.text and "<script>document.title='HI'+'NT'</script>" in dom.text
    assert "bold" not in dom.ids and dom.title == f"backprop: {SCORE_TEXT}"
    assert "hidden-hint-text" not in dom.text and "did the hidden thing" not in dom.text
    # next to the failed test: after its message, before the next test's row
    assert dom.text.index(FAIL_MSG) < dom.text.index("It looks like you") < dom.text.index("test_relu_forward")
