"""The HTML feedback page (grader/feedback/): safety, content, visibility, size caps.

Results are built by hand (GradingResult is plain data); the notebook is hostile on
purpose. Safety checks parse the page and look at live tags and attributes: escaped
text such as `&lt;script&gt;` is fine (and expected), a <script> element is not.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import zlib
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from grader import feedback as fb
from grader.feedback import page as fb_page
from grader.feedback import sanitise
from grader.judge.results import CellRun, GradingResult, TestResult

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

FAIL_MSG = "dw: max relative error 3.1e-01 at [2, 4] (tolerance 1e-07); expected 0.1532, got 0.0000"
HIDDEN_MSG = "hidden-secret: expected 17 got 4"
LATE_MSG = "late-secret: loss 2.3 > 0.5"

# Each payload would set the title to PWNED or add an element with id "pwned" if it ran.
JS = "document.title='PW'+'NED';document.body.insertAdjacentHTML('beforeend','<b id=pw'+'ned>x</b>')"
HOSTILE_MARKDOWN = f"""# Part 1 <script>{JS}</script>

Math becomes MathML: $\\frac{{\\partial L}}{{\\partial w}} = x^T \\cdot dout$ and $\\text{{<script>{JS}</script>}}$

<img src=x onerror="{JS}">
<svg onload="{JS}"><circle r=3></circle></svg>
<iframe srcdoc="<script>parent.{JS}</script>"></iframe>
<a href="javascript:{JS}">click me</a> and [md link](javascript:alert(1))
<a href="JaVaScRiPt&#58;alert(1)">entity link</a> <a href="data:text/html,<script>alert(1)</script>">data link</a>
<img src="http://tracker.example/pixel.png"> <object data="x.swf"></object> <embed src="x.swf">
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">
<style>body {{ background: url(http://tracker.example/bg.png) }}</style>
<form action="http://evil.example"><input name=q></form>
<a id="cell-1">clobber</a>

# cell-2
"""
HOSTILE_HTML = (
    f"<b>bold ok</b><script>{JS}</script>"
    f'<a href="javascript:{JS}">js link</a>'
    f'<iframe src="http://evil.example"></iframe>'
    f'<div onclick="{JS}" onmouseover="{JS}">div</div>'
    f'<img src=x onerror="{JS}">'
    f'<p style="background:url(http://tracker.example/x.png)">styled</p>'
)
# Known sanitiser bypasses and mutation-XSS shapes; each would run JS if it got through.
XSS_VECTORS = [
    f"<svg><script>{JS}</script></svg>",
    f"<math><mtext><table><mglyph><style><img src=x onerror=\"{JS}\">",
    f"<noscript><p title=\"</noscript><img src=x onerror=\"{JS}\">\">",
    f"<a href=\"&#106;avascript:{JS}\">entity js</a>",
    f"<a href=\"java&#x0A;script:{JS}\">newline js</a>",
    f"<a href=\" javascript:{JS}\">space js</a>",
    f"<div style=\"background:url(javascript:{JS})\">css js</div>",
    f"<body onload=\"{JS}\">",
    f"<details open ontoggle=\"{JS}\"><summary>s</summary></details>",
    f"<object data=\"javascript:{JS}\"></object>",
    f"<embed src=\"javascript:{JS}\">",
    f"<form><button formaction=\"javascript:{JS}\">b</button></form>",
    f"<input autofocus onfocus=\"{JS}\">",
    f"<video><source onerror=\"{JS}\"></video>",
    f"<audio src=x onerror=\"{JS}\"></audio>",
    f"<xmp><img src=x onerror=\"{JS}\"></xmp>",
    f"<!--<img src=\"--><img src=x onerror=\"{JS}\"//\">",
    f"<![CDATA[><img src=x onerror=\"{JS}\">]]>",
    f"<style><img src=x onerror=\"{JS}\"></style>",
    f"<title><img src=x onerror=\"{JS}\"></title>",
    f"<template><img src=x onerror=\"{JS}\"></template>",
    f"<textarea></textarea><img src=x onerror=\"{JS}\">",
    "<base href=\"javascript:/\">",
    f"<meta http-equiv=refresh content=\"0;url=javascript:{JS}\">",
    f"<img srcset=\"x 1x\" onerror=\"{JS}\">",
    f"<svg><a xlink:href=\"javascript:{JS}\"><text y=10>svg link</text></a></svg>",
    f"\"><img src=x onerror=\"{JS}\">",
    f"<scr<script>ipt>{JS}</scr</script>ipt>",
    f"<img src=\"x\" onerror  =  \"{JS}\" alt=spaced>",
    f"<IMG SRC=x OnErRoR=\"{JS}\">",
    f"<img src=x onerror=\"{JS}\"/>",
    "<p><a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">data b64</a></p>",
    f"[md js](javascript:{JS.replace(' ', '')})",
    f"![md img](x\" onerror=\"{JS})",
    "<javascript:alert(1)>",
    "[ref js][r]\n\n[r]: javascript:alert(1)",
]

# 1x1 PNG
PNG = base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
).decode()


def hostile_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "<script>x</script>", "pygments_lexer": "nonexistent"}
    md = nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN)
    md.metadata["tags"] = ['"><script>alert(1)</script>']
    nb.cells = [
        md,  # 0
        nbformat.v4.new_code_cell("import numpy as np\nx = np.ones(3)\nprint(x)"),  # 1
        nbformat.v4.new_code_cell("def affine_forward(x, w, b):\n    raise ValueError('shapes do not match')"),  # 2
        nbformat.v4.new_code_cell("from IPython.display import HTML, display\ndisplay(HTML(payload))"),  # 3
        nbformat.v4.new_code_cell("while True:\n    pass"),  # 4
        nbformat.v4.new_code_cell("later()"),  # 5
        nbformat.v4.new_markdown_cell("The end."),  # 6
        nbformat.v4.new_raw_cell(f"<script>{JS}</script>"),  # 7
        nbformat.v4.new_markdown_cell("\n\n".join(XSS_VECTORS)),  # 8
    ]
    # outputs the student saved: never shown, the worker's are
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="STALE OUTPUT")]
    return nb


HOSTILE_OUTPUTS = {
    1: (
        {"output_type": "stream", "name": "stdout", "text": "[1. 1. 1.]\n"},
        {"output_type": "stream", "name": "stdout", "text": ["<script>", JS, "</script>\n"]},
        {"output_type": "stream", "name": "stderr", "text": f"\x1b[31mwarning\x1b[0m <img src=x onerror=\"{JS}\">"},
    ),
    2: (
        {
            "output_type": "error",
            "ename": "ValueError",
            "evalue": f"<script>{JS}</script>",
            "traceback": ["\x1b[31mValueError\x1b[0m: shapes do not match", f"<script>{JS}</script>"],
        },
    ),
    3: (
        {
            "output_type": "display_data",
            "data": {"text/html": HOSTILE_HTML, "text/plain": "<IPython.core.display.HTML object>"},
            "metadata": {"text/html": {"isolated": True}},
        },
        {
            "output_type": "display_data",
            "data": {"text/html": "<br>".join(XSS_VECTORS)},
            "metadata": {},
        },
        {
            "output_type": "display_data",
            "data": {"application/javascript": JS, "text/plain": "js fallback"},
            "metadata": {},
        },
        {
            "output_type": "display_data",
            "data": {"text/markdown": f"**md output** <script>{JS}</script> [x](javascript:alert(1))"},
            "metadata": {},
        },
        {
            "output_type": "display_data",
            "data": {"image/png": PNG, "text/plain": "<Figure>"},
            "metadata": {"filenames": {"image/png": "http://tracker.example/img.png"}, "width": '1" onerror="x'},
        },
        {
            "output_type": "execute_result",
            "execution_count": f"<script>{JS}</script>",
            "data": {"text/plain": "42", "text/latex": f"<script>{JS}</script>"},
            "metadata": {},
        },
        {
            "output_type": "display_data",
            "data": {"text/latex": f"$x$ <script>{JS}</script>"},
            "metadata": {},
        },
    ),
}


def make_result(**kw) -> GradingResult:
    tests = (
        TestResult("test_affine_forward_dw", "public", 0.0, 10.0, "failed", FAIL_MSG,
                   description="affine_backward matches the reference", cell=2),
        TestResult("test_relu_forward", "public", 10.0, 10.0, "passed", description="relu forward"),
        TestResult("test_hidden_grad", "hidden", 5.0, 10.0, "partial", HIDDEN_MSG, visibility="hidden",
                   description="hidden-description", cell=4),
        TestResult("test_late_loss", "hidden", 2.5, 10.0, "error", LATE_MSG, visibility="after_due_date",
                   description="late-description"),
    )
    cells = (
        CellRun(1, "ok", 0.01, HOSTILE_OUTPUTS[1]),
        CellRun(2, "error", 0.02, HOSTILE_OUTPUTS[2], "ValueError: shapes do not match"),
        CellRun(3, "ok", 0.1, HOSTILE_OUTPUTS[3]),
        CellRun(4, "timeout", 60.0, (), "cell ran past 60 s"),
        CellRun(5, "skipped", 0.0, (), "skipped after a timeout"),
    )
    fields = dict(
        assignment="backprop", notebook="submission.ipynb", mode="submit", score=17.5, max_score=40.0,
        tests=tests, cells=cells, errors=(f"worker restarted <script>{JS}</script>",),
        extra={"due": "2025-02-01", "title": "Backpropagation by hand"},
    )
    fields.update(kw)
    return GradingResult(**fields)


def render(tmp_path: Path, result: GradingResult | None = None, nb=None, **kw) -> str:
    out = tmp_path / f"feedback-{len(list(tmp_path.iterdir()))}.html"
    kw.setdefault("now", NOW)
    path = fb.render_feedback(result or make_result(), nb if nb is not None else hostile_notebook(), out,
                              templates=TEMPLATES, **kw)
    assert path == out
    return out.read_text(encoding="utf-8")


class Page(HTMLParser):
    """Every element with its attributes, and the page's text, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.chunks.append(data)

    def find(self, tag=None, **attrs) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, ident: str) -> list[tuple[str, dict[str, str | None]]]:
        return [(t, a) for t, a in self.tags if a.get("id") == ident]


def norm_url(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch > " ").lower()


def assert_inert(page: Page) -> None:
    tags = {t for t, _ in page.tags}
    for bad in ("script", "iframe", "frame", "object", "embed", "form", "input", "svg", "base", "link"):
        assert bad not in tags, f"live <{bad}> in the page"
    assert [a for t, a in page.tags if t == "style"] == [{}], "only our own <style> block"
    metas = page.find("meta")
    assert all(m.get("http-equiv") in (None, "Content-Security-Policy") for m in metas), metas
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=...> survived"
            if name in ("href", "src", "action", "formaction", "srcset", "data"):
                url = norm_url(value)
                assert not url.startswith(("javascript:", "vbscript:")), f"<{tag} {name}={value}>"
                if tag == "img":
                    assert url.startswith("data:image/"), f"<img src={value}> loads something"
                else:
                    assert not url.startswith("data:"), f"<{tag} {name}={value}>"
                    assert not url.startswith(("http:", "https:", "//")) or tag == "a", f"<{tag} {name}={value}>"
            if name == "style":
                assert "url(" not in (value or ""), f"<{tag} style={value}>"


# ------------------------------------------------------------------------------ safety

def test_hostile_notebook_renders_inert(tmp_path):
    html = render(tmp_path)
    page = Page(html)
    assert_inert(page)
    # the hostile payloads are still there, as text a grader can read
    assert "<script>" in page.text and "PW'+'NED" in page.text
    assert "onerror=" in page.text
    # and the markdown, the streams, the html output and the traceback all made it
    assert "Part 1" in page.text and "[1. 1. 1.]" in page.text and "bold ok" in page.text
    assert "shapes do not match" in page.text and "md output" in page.text
    assert "$x$ <script>" in page.text  # a LaTeX-only output, as text
    assert "STALE OUTPUT" not in page.text  # the worker's outputs replace what the student saved
    assert page.find("b") and any(t == "strong" for t, _ in page.tags)  # harmless markup stays markup


def test_csp_meta_tag(tmp_path):
    page = Page(render(tmp_path))
    csp = page.find("meta", http_equiv="Content-Security-Policy")
    assert len(csp) == 1
    policy = csp[0]["content"]
    assert policy.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'")
    assert "script-src" not in policy and "'unsafe-eval'" not in policy
    # the CSP must come before any content
    assert page.tags[0][0] == "html" and page.tags[1][0] == "head" and page.tags[3] == ("meta", csp[0])


def test_no_external_references(tmp_path):
    html = render(tmp_path)
    page = Page(html)
    for tag, attrs in page.tags:
        if tag == "a":
            continue  # links are only followed on a click, and the CSP still applies
        for name, value in attrs.items():
            assert "http" not in norm_url(value) or name in ("content", "xmlns"), (tag, name, value)
    assert "@import" not in html and "mathjax" not in html.lower()


def test_images_only_inline(tmp_path):
    page = Page(render(tmp_path))
    imgs = page.find("img")
    assert any(a.get("src", "").startswith("data:image/png;base64," + PNG[:20]) for a in imgs)
    assert all(norm_url(a.get("src")).startswith("data:image/") for a in imgs if a.get("src"))
    assert not any(a.get("width") for a in imgs)  # student metadata is not used


def test_text_html_output_style_block_dropped(tmp_path):
    df = ('<div><style scoped>.dataframe tbody tr th { vertical-align: top; }</style>'
          '<table border="1" class="dataframe"><tr><th>a</th><td>1</td></tr></table></div>')
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("df")])
    res = make_result(cells=(CellRun(0, "ok", 0.0, ({"output_type": "execute_result", "execution_count": 1,
                                                      "data": {"text/html": df, "text/plain": "df"},
                                                      "metadata": {}},)),), tests=())
    page = Page(render(tmp_path, res, nb))
    assert page.find("table", **{"class": "dataframe"})
    assert "vertical-align" not in page.text


def test_tripwire_drops_notebook_when_sanitising_fails(tmp_path, monkeypatch):
    """Defence in depth: if the sanitiser let something through, the notebook is left out."""
    monkeypatch.setattr(sanitise, "clean_html", lambda html: str(html))  # a broken sanitiser
    page = Page(render(tmp_path))
    assert_inert(page)
    assert "could not be shown safely" in page.text
    assert FAIL_MSG in page.text  # the rest of the page is still there


@pytest.mark.parametrize("fragment", [
    "<script>x</script>", "<p onclick=x>a</p>", '<a href="javascript:x">a</a>', '<a href=" java\tscript:x">a</a>',
    '<a href="JAVASCRIPT&#58;x">a</a>', "<iframe src=x></iframe>", '<img src="http://x/y.png">',
    '<a href="data:text/html,x">a</a>', "<svg><circle/></svg>", '<div style="background:url(x)">a</div>',
    "<object data=x></object>", "<meta http-equiv=refresh content=0>", "<form></form>", "<base href=x>",
])
def test_unsafe_html_detects(fragment):
    assert fb.unsafe_html(fragment)


@pytest.mark.parametrize("fragment", [
    "<p>a &lt;script&gt;</p>", '<a href="https://docs.python.org">docs</a>', '<a href="#cell-3">c</a>',
    '<img src="data:image/png;base64,AAAA">', '<div class="highlight"><pre><span class="n">x</span></pre></div>',
])
def test_unsafe_html_accepts(fragment):
    assert fb.unsafe_html(fragment) == []


def test_clean_html_allow_list():
    out = fb.clean_html('<h2 id="intro" class="dlg-score x">T</h2><p class="dlg-badge">p</p><a href="#x">a</a>'
                        '<img src="data:image/gif;base64,R0lGOD" alt="g"><a href="mailto:a@b.c">m</a>')
    page = Page(out)
    assert page.find("h2", id="intro") and page.find("img", alt="g")
    assert not any("dlg" in (a.get("class") or "") for _, a in page.tags)  # our classes are ours
    assert page.find("a", href="#x") and page.find("a", href="mailto:a@b.c")


# ------------------------------------------------------------------------------ content

def test_score_header(tmp_path):
    page = Page(render(tmp_path))
    assert "17.5 / 40" in page.text
    assert ("div", {"class": "dlg-score-num", "id": "dlg-score"}) in page.tags
    assert "Backpropagation by hand" in page.text and "backprop" in page.text
    assert "submission.ipynb" in page.text and "submit" in page.text


@pytest.mark.parametrize("score, max_score, text", [(27.5, 40, "27.5 / 40"), (40, 40, "40 / 40"),
                                                   (1 / 3, 1, "0.33 / 1"), (0, 0, "0 / 0")])
def test_score_format(tmp_path, score, max_score, text):
    page = Page(render(tmp_path, make_result(score=score, max_score=max_score)))
    assert text in page.text


def test_check_mode_shown(tmp_path):
    page = Page(render(tmp_path, make_result(mode="check")))
    assert page.find("span", **{"class": "dlg-badge dlg-b-check"})
    assert "Public tests only" in page.text


def test_test_table(tmp_path):
    page = Page(render(tmp_path))
    rows = [a for t, a in page.tags if t == "tr" and (a.get("class") or "").startswith("dlg-r-")]
    assert [r["class"] for r in rows] == ["dlg-r-failed", "dlg-r-passed", "dlg-r-partial", "dlg-r-error"]
    assert "4 tests:" in page.text and "1 failed" in page.text and "1 partial" in page.text
    for name in ("test_affine_forward_dw", "test_relu_forward", "test_hidden_grad", "test_late_loss"):
        assert name in page.text
    assert "0 / 10" in page.text and "10 / 10" in page.text and "5 / 10" in page.text and "2.5 / 10" in page.text
    assert "affine_backward matches the reference" in page.text
    assert page.find("pre", **{"class": "dlg-msg"})
    html = render(tmp_path)
    assert f'<pre class="dlg-msg">{FAIL_MSG}</pre>' in html  # the message verbatim, in a <pre>


def test_grading_errors_listed(tmp_path):
    page = Page(render(tmp_path))
    assert "Grading errors" in page.text and "worker restarted <script>" in page.text


# ------------------------------------------------------------------------------ visibility

def test_hidden_test_for_students(tmp_path):
    page = Page(render(tmp_path))
    assert "test_hidden_grad" in page.text and "5 / 10" in page.text
    assert "hidden test" in page.text
    assert HIDDEN_MSG not in page.text and "hidden-description" not in page.text
    assert not page.find("a", href="#cell-4", **{"class": "dlg-tolink"})  # no hint where it failed


def test_after_due_date_before_due(tmp_path):
    res = make_result(extra={"due": "2025-03-10"})
    page = Page(render(tmp_path, res))
    assert LATE_MSG not in page.text and "late-description" not in page.text
    assert "details are shown after the due date" in page.text


def test_after_due_date_after_due(tmp_path):
    page = Page(render(tmp_path, make_result(extra={"due": "2025-02-01"})))
    assert LATE_MSG in page.text and "late-description" in page.text
    assert "details are shown after the due date" not in page.text
    assert HIDDEN_MSG not in page.text  # hidden stays hidden


@pytest.mark.parametrize("extra", [{}, {"due": ""}, {"due": None}, {"due": "not a date"}])
def test_after_due_date_without_due_date(tmp_path, extra):
    page = Page(render(tmp_path, make_result(extra=extra)))
    assert LATE_MSG not in page.text
    assert "details are shown after the due date" in page.text


def test_instructor_sees_everything(tmp_path):
    page = Page(render(tmp_path, make_result(extra={"due": "2099-01-01"}), instructor=True))
    for msg in (FAIL_MSG, HIDDEN_MSG, LATE_MSG, "hidden-description", "late-description"):
        assert msg in page.text
    assert "hidden test" not in page.text and "details are shown after" not in page.text
    assert "instructor view" in page.text
    assert page.find("a", href="#cell-4", **{"class": "dlg-tolink"})
    assert_inert(page)


def test_due_passed_semantics():
    utc = timezone.utc
    assert not fb.due_passed("", NOW) and not fb.due_passed(None, NOW) and not fb.due_passed("garbage", NOW)
    # a date is due at the end of that day
    assert not fb.due_passed("2025-03-01", NOW)
    assert fb.due_passed("2025-02-28", NOW)
    assert fb.due_passed("2025-03-01T11:59:00+00:00", NOW)
    assert not fb.due_passed("2025-03-01T12:30:00Z", NOW)
    assert fb.due_passed("2025-03-01T12:00:00", NOW)  # naive: read in now's zone
    assert fb.due_passed(date(2025, 2, 1), NOW)
    assert not fb.due_passed(datetime(2025, 3, 2, tzinfo=utc), NOW)
    naive_now = datetime(2025, 3, 1, 12, 0)
    assert fb.due_passed("2025-02-28", naive_now) and not fb.due_passed("2025-03-01", naive_now)
    assert fb.due_passed((NOW - timedelta(days=400)).isoformat(), naive_now)


# ------------------------------------------------------------------------------ cells

def test_cell_anchors_and_statuses(tmp_path):
    page = Page(render(tmp_path))
    ours = [a["id"] for _, a in page.tags if (a.get("id") or "").startswith(("cell", "dlg"))]
    assert sorted(ours) == sorted(["dlg-score", *(f"cell-{i}" for i in range(9))]), \
        "student content cannot add or clobber the page's anchors"
    for i in range(9):
        assert len(page.by_id(f"cell-{i}")) == 1
    cls = {i: page.by_id(f"cell-{i}")[0][1]["class"] for i in range(8)}
    assert "dlg-st-ok" in cls[1] and "dlg-st-error" in cls[2] and "dlg-st-timeout" in cls[4]
    assert "dlg-st-skipped" in cls[5] and "dlg-markdown" in cls[0]
    assert "cell 2 · In [2] · error" in page.text and "cell 5 · skipped" in page.text
    # problem cells are listed with links
    for i in (2, 4, 5):
        assert page.find("a", href=f"#cell-{i}")
    assert "cell ran past 60 s" in page.text


def test_problem_cells_have_red_border(tmp_path):
    html = render(tmp_path)
    css = html[html.index("<style>"):html.index("</style>")]
    for status in ("error", "timeout", "crashed", "skipped"):
        rule = next(line for line in css.splitlines() if f".dlg-st-{status}" in line and "border" in line)
        assert "var(--bad)" in rule
    assert "--bad: #c62828" in css


def test_test_links_to_its_cell(tmp_path):
    page = Page(render(tmp_path))
    links = page.find("a", href="#cell-2", **{"class": "dlg-tolink"})
    assert len(links) == 1
    assert page.by_id("cell-2")


def test_link_to_missing_cell_dropped(tmp_path):
    res = make_result(tests=(TestResult("t", "public", 0, 1, "failed", "m", cell=99),))
    page = Page(render(tmp_path, res))
    assert not page.find("a", href="#cell-99")


def test_cell_runs_out_of_range_are_noted(tmp_path):
    res = make_result(cells=(CellRun(42, "error", 0.0, (), "boom"),))
    page = Page(render(tmp_path, res))
    assert "does not match a cell" in page.text


def test_not_run_cells_and_plain_dict_notebook(tmp_path):
    nb = dict(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                              nbformat.v4.new_markdown_cell("*hi*")]))
    nb["cells"] = [dict(c) for c in nb["cells"]]
    res = make_result(cells=(), tests=())
    page = Page(render(tmp_path, res, nb))
    assert "cell 0 · not run" in page.text and "No tests were run." in page.text
    assert page.find("em")


def test_malformed_outputs_do_not_crash(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x") for _ in range(4)])
    junk = (
        "not a dict", None, 42,
        {"output_type": "stream", "name": "<b>", "text": None},
        {"output_type": "display_data", "data": "nope"},
        {"output_type": "display_data", "data": {"image/png": "!!!not base64!!!"}},
        {"output_type": "display_data", "data": {"application/x-evil": "x"}},
        {"output_type": "error"},
        {"output_type": "<script>alert(1)</script>"},
        {"output_type": "execute_result", "execution_count": [1], "data": {"text/plain": ["a", 1, None]}},
    )
    res = make_result(cells=(CellRun(0, "ok", 0, junk), CellRun(1, "weird<status>", 0, ()),
                             CellRun(2, "ok", 0, "not a tuple"), CellRun(3, "crashed", 0, ({},))), tests=())
    page = Page(render(tmp_path, res, nb))
    assert_inert(page)
    assert "malformed output not shown" in page.text
    assert "invalid or too large" in page.text
    assert "application/x-evil" in page.text
    assert "dlg-st-unknown" in page.by_id("cell-1")[0][1]["class"]
    assert "dlg-st-crashed" in page.by_id("cell-3")[0][1]["class"]


def test_malformed_notebook(tmp_path):
    for nb in ({}, {"cells": "x"}, {"cells": [None, 3, {"cell_type": "code"}, {"cell_type": "markdown", "source": 5}]}):
        page = Page(render(tmp_path, make_result(cells=()), nb))
        assert "17.5 / 40" in page.text
        assert_inert(page)


# ------------------------------------------------------------------------------ size caps

def test_huge_outputs_are_truncated(tmp_path):
    huge = "A" * 50_000_000 + "TAIL"  # one 50 MB write
    many = tuple({"output_type": "stream", "name": "stdout", "text": f"line {i}\n"} for i in range(200_000))
    big_html = "<p>" + "<b>x</b>" * 1_000_000 + "</p>"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"cell{i}") for i in range(5)])
    nb.cells.append(nbformat.v4.new_code_cell("y = 1\n" * 100_000))  # 600 kB of source
    res = make_result(tests=(TestResult("t", "public", 0, 1, "failed", "M" * 1_000_000),), cells=(
        CellRun(0, "ok", 0, ({"output_type": "stream", "name": "stdout", "text": huge},)),
        CellRun(1, "ok", 0, many),
        CellRun(2, "ok", 0, ({"output_type": "display_data", "data": {"text/html": big_html}, "metadata": {}},)),
        CellRun(3, "error", 0, ({"output_type": "error", "ename": "E" * 10_000, "evalue": "v",
                                 "traceback": ["frame\n" * 1_000_000]},)),
        CellRun(4, "ok", 0, tuple({"output_type": "display_data", "data": {"text/plain": f"d{i}"}, "metadata": {}}
                                  for i in range(10_000))),
        CellRun(5, "ok", 0, ()),
    ))
    t0 = time.process_time()  # CPU time of this process: a bound on the work, not on the machine's load
    html = render(tmp_path, res, nb)
    elapsed = time.process_time() - t0
    page = Page(html)
    assert len(html) < 1_500_000, len(html)
    assert elapsed < 20, elapsed
    assert "TAIL" not in page.text and "A" * 20_000 in page.text and "A" * 20_001 not in page.text
    assert "more characters not shown" in page.text
    assert "line 0" in page.text and "line 199999" not in page.text  # merged, then truncated
    assert "more outputs not shown" in page.text  # cell 4: 10,000 outputs
    assert "M" * 20_000 in page.text and "M" * 20_001 not in page.text  # test message capped too
    assert_inert(page)


def test_page_budget_holds_for_many_cells(tmp_path):
    src = "z = 1  # " + "q" * 15_000
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for _ in range(1_200)])
    out = ({"output_type": "stream", "name": "stdout", "text": "o" * 30_000},)
    res = make_result(cells=tuple(CellRun(i, "ok", 0, out) for i in range(1_200)), tests=())
    html = render(tmp_path, res, nb)
    page = Page(html)
    assert len(html) < 12_000_000, len(html)
    assert "only the first 1000 of 1200 cells are shown" in page.text
    assert "size limit was reached" in page.text
    assert "too large to show in full" in page.text
    assert page.by_id("cell-999") and not page.by_id("cell-1000")


def test_truncate_helper():
    assert fb.truncate("abc", 5) == "abc"
    t = fb.truncate("x" * 30, 10)
    assert t.startswith("x" * 10 + "\n") and "20 more characters" in t
    assert "15 more" in fb.truncate("x" * 10, 5, total=20)


def test_images_budgeted(tmp_path):
    big = base64.b64encode(zlib.compress(b"x") * 1).decode() * 10 + "A" * (fb.MAX_IMAGE_CHARS + 4)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()")])
    res = make_result(cells=(CellRun(0, "ok", 0, ({"output_type": "display_data",
                                                  "data": {"image/png": big, "text/plain": "<Figure>"},
                                                  "metadata": {}},)),), tests=())
    page = Page(render(tmp_path, res, nb))
    assert "<Figure>" in page.text and "invalid or too large" in page.text
    assert not [a for a in page.find("img") if a.get("src")]


# ------------------------------------------------------------------------------ speed

def test_import_is_light():
    code = ("import sys, grader.feedback; heavy = {'nbconvert', 'bleach', 'nh3', 'mistune', 'pygments', 'jinja2'}; "
            "assert not heavy & set(sys.modules), heavy & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


# ------------------------------------------------------------------------------ sanitiser cost

@pytest.mark.parametrize("markup", ["<div>" * 4_000, "<b><i><a>" * 2_000, "<p>x</p>" * 2_500,
                                    "<i>x" * 4_500])
def test_costly_html_shown_as_source(tmp_path, markup):
    """Markup that would take html5lib seconds is shown as escaped source, quickly."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("show()"), nbformat.v4.new_markdown_cell(markup)])
    res = make_result(tests=(), cells=(CellRun(0, "ok", 0, ({"output_type": "display_data",
                                                             "data": {"text/html": markup}, "metadata": {}},)),))
    render(tmp_path, res, nb)  # warm
    t0 = time.process_time()
    page = Page(render(tmp_path, res, nb))
    assert time.process_time() - t0 < 1.5
    assert_inert(page)
    assert "HTML shown as source: too large or too deeply nested to render" in page.text
    assert "shown as source text" in page.text  # noted under grading errors


def test_page_html_budget(tmp_path):
    table = "<table>" + "<tr><td>1</td><td>2</td></tr>" * 200 + "</table>"  # ~1,000 tags: fine alone
    n = 30
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"df{i}") for i in range(n)])
    res = make_result(tests=(), cells=tuple(CellRun(i, "ok", 0, ({"output_type": "execute_result", "execution_count": i,
                                                                  "data": {"text/html": table}, "metadata": {}},))
                                            for i in range(n)))
    page = Page(render(tmp_path, res, nb))
    rendered = len(page.find("table"))
    assert 5 <= rendered < n
    assert page.text.count("the page's budget for rendering HTML is spent") == n - rendered
    assert_inert(page)


def test_html_cost():
    assert fb.html_cost("<p>a</p>") == (2, 1)
    assert fb.html_cost("<br><img src=x><p>a</p>")[1] == 1
    assert fb.html_cost("<div>" * 50)[1] == 50
    assert fb.html_cost("&lt;" * 8)[0] == 2


def test_strip_style_blocks():
    assert fb.strip_style_blocks("a<style scoped>x{}</style>b<STYLE>y</Style >c") == "abc"
    assert fb.strip_style_blocks("<styles>ok</styles>") == "<styles>ok</styles>"
    assert fb.strip_style_blocks("a<style>unclosed") == "a<style>unclosed"
    t0 = time.process_time()  # CPU time of this process: a bound on the work, not on the machine's load
    fb.strip_style_blocks("<style>" * 2_000_000)  # 14 MB, no closing tag: must stay linear
    fb.strip_style_blocks("<style></style" * 1_000_000)
    assert time.process_time() - t0 < 2


def test_render_failure_leaves_the_rest_of_the_page(tmp_path, monkeypatch):
    def boom(prepared):
        raise RecursionError("too deep")

    monkeypatch.setattr(fb_page, "_render_notebook", boom)
    page = Page(render(tmp_path))
    assert "17.5 / 40" in page.text and FAIL_MSG in page.text
    assert "could not be rendered (RecursionError)" in page.text


def test_skipped_and_unknown_test_statuses(tmp_path):
    res = make_result(tests=(TestResult("t_skip", "public", 0, 0, "skipped", "skipped: no data"),
                             TestResult("t_odd", "public", 0, 1, "<odd>", "m")))
    page = Page(render(tmp_path, res))
    assert page.find("span", **{"class": "dlg-badge dlg-b-skipped"})
    assert page.find("span", **{"class": "dlg-badge dlg-b-unknown"})
    assert "<odd>" not in page.text


def test_markdown_math_is_mathml_without_script(tmp_path):
    """$...$ is converted to MathML on the server (no MathJax, the CSP unchanged); TeX that
    smuggles markup is cleaned by MathML's own allow-list, and user HTML never brings MathML."""
    from grader.feedback import mathml

    html = render(tmp_path)
    page = Page(html)
    assert '<math display="inline"><mrow><mfrac><mrow><mo>' in html
    assert [t for t, _ in page.tags if t == "mfrac"] and not [t for t, _ in page.tags if t in ("mglyph", "mtable")]
    assert "Math becomes MathML:" in page.text and "\\frac" not in page.text
    assert not [t for t, _ in page.tags if t == "script"] and "<mtext></mtext>" in html  # \\text{<script>...}
    formulas = mathml.Formulas(budget=1)
    assert formulas.mathml("x^2", display=False).startswith("<math")
    assert formulas.mathml("y^2", display=False) == '<code class="dlg-tex">$y^2$</code>'  # past the budget
    assert mathml.Formulas().mathml("\\frac{", display=True) == '<code class="dlg-tex">$$\\frac{$$</code>'
    assert mathml.Formulas().mathml("x" * (mathml.MAX_TEX_CHARS + 1), display=False).startswith("<code")
