"""The feedback page when cells are built to break or slow down its renderers.

A markdown cell that cannot be rendered (a missing attachment, nesting too deep) costs only
that cell: it is shown as escaped source, the other cells still render, and the page's
errors (which the CLI adds to result.json) say so. Syntax highlighting is bounded: hostile
code is shown as plain escaped text, and the page's wall time stays within stated bounds.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from test_feedback import NOW, PNG, TEMPLATES, Page, assert_inert

from grader.feedback import build_feedback, render
from grader.judge.results import CellRun, GradingResult

#: Bounds for hostile input (generous: a loaded 2-core CI machine; the unbounded renderer
#: took about two minutes for the fifteen cells below).
HOSTILE_PAGE_SECONDS = 20.0


def result_for(nb, runs=()) -> GradingResult:
    return GradingResult("backprop", "submission.ipynb", "check", 1.0, 2.0, (), cells=tuple(runs),
                         errors=("worker restarted once",))


def build(nb, runs=()):
    res = result_for(nb, runs)
    return res, build_feedback(res, nb, templates=TEMPLATES, now=NOW)


def section(html: str, index: int) -> str:
    start = html.index(f'id="cell-{index}"')
    end = html.find("<section", start)
    return html[start:end if end >= 0 else len(html)]


# ------------------------------------------------------------------------------ markdown fallback

def test_missing_attachment_costs_only_its_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Before\n\n![plot](attachment:missing.png) <b>bold</b>"),
        nbformat.v4.new_markdown_cell("*second cell*"),
        nbformat.v4.new_code_cell("import numpy as np"),
    ])
    res, page = build(nb, [CellRun(2, "ok", 0.0, ())])
    html = page.html
    parsed = Page(html)
    assert_inert(parsed)
    first = section(html, 0)
    assert "markdown shown as source" in first and "missing attachment" in first
    assert "![plot](attachment:missing.png) &lt;b&gt;bold&lt;/b&gt;" in first  # escaped source, not markup
    assert "<em>second cell</em>" in section(html, 1)  # the rest still renders
    assert 'class="kn"' in section(html, 2)  # and code is still highlighted
    assert page.errors == ("cell 0: markdown shown as source text: it refers to a missing attachment "
                           "'missing.png'",)
    assert "it refers to a missing attachment" in parsed.text  # listed under grading errors
    updated = page.result_with_errors(res)
    assert updated.errors == ("worker restarted once", f"feedback page: {page.errors[0]}")
    assert updated.score == res.score and updated.tests == res.tests


def test_present_attachment_is_inlined():
    cell = nbformat.v4.new_markdown_cell("![plot](attachment:plot.png)")
    cell.attachments = {"plot.png": {"image/png": PNG}}
    _, page = build(nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell("x = 1")]))
    assert page.errors == ()
    assert f'src="data:image/png;base64,{PNG}"' in section(page.html, 0)


def test_renderer_recursion_costs_only_its_cell(monkeypatch):
    """mistune 3 caps its own nesting, so no input reaches Python's recursion limit today;
    the renderer is made to raise RecursionError for one cell, as a deeper one would."""
    real = render.markdown_to_html

    def deep(source, attachments):
        if "NEST" in source:
            raise RecursionError("maximum recursion depth exceeded")
        return real(source, attachments)

    monkeypatch.setattr(render, "markdown_to_html", deep)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("> > > NEST <i>x</i>"),
                                         nbformat.v4.new_markdown_cell("**fine**"),
                                         nbformat.v4.new_code_cell("x = 1")])
    _, page = build(nb)
    assert "&gt; &gt; &gt; NEST &lt;i&gt;x&lt;/i&gt;" in section(page.html, 0)
    assert "<strong>fine</strong>" in section(page.html, 1)
    assert page.errors == ("cell 0: markdown shown as source text: it is nested too deeply for the markdown "
                           "renderer",)


def test_markdown_output_fallback_is_recorded():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("display(Markdown(s))")])
    out = {"output_type": "display_data", "data": {"text/markdown": "![x](attachment:none.png)"}, "metadata": {}}
    _, page = build(nb, [CellRun(0, "ok", 0.0, (out,))])
    assert page.errors == ("cell 0 (an output): markdown shown as source text: it refers to a missing "
                           "attachment 'none.png'",)
    assert "![x](attachment:none.png)" in section(page.html, 0)


@pytest.mark.parametrize("source", [
    ">" * 5_000 + " deep quote",
    "".join("  " * i + "- item\n" for i in range(150)),
    "[" * 5_000 + "x" + "](y)" * 5_000,
    "*_" * 5_000 + "x" + "_*" * 5_000,
    "".join(">" * i + " a\n" for i in range(200)),
])
def test_deeply_nested_markdown_renders_or_falls_back_quickly(source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source),
                                         nbformat.v4.new_markdown_cell("*after*"),
                                         nbformat.v4.new_code_cell("x = 1")])
    t0 = time.perf_counter()
    _, page = build(nb)
    assert time.perf_counter() - t0 < HOSTILE_PAGE_SECONDS
    assert_inert(Page(page.html))
    assert "<em>after</em>" in section(page.html, 1)


def test_markdown_budget_bounds_many_costly_cells():
    costly = ("*_" * 10_000)[:20_000]  # ~0.3 s in mistune each (quadratic in the cell's length)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(costly) for _ in range(30)]
                                  + [nbformat.v4.new_code_cell("x = 1")])
    t0 = time.perf_counter()
    _, page = build(nb)
    assert time.perf_counter() - t0 < HOSTILE_PAGE_SECONDS
    text = Page(page.html).text
    assert "past the page's budget for rendering markdown" in text
    assert "shown as source: the page's budget for rendering markdown is spent" in text


# ------------------------------------------------------------------------------ highlighting bounds

def test_whitespace_heavy_code_cells_cost_linear_time():
    hostile = " \n" * 10_000  # pygments' Python lexer: ~13 s for one such cell
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import numpy as np")]
                                  + [nbformat.v4.new_code_cell(hostile) for _ in range(15)])
    runs = [CellRun(i, "ok", 0.0, ()) for i in range(16)]
    t0 = time.perf_counter()
    _, page = build(nb, runs)
    elapsed = time.perf_counter() - t0
    assert elapsed < HOSTILE_PAGE_SECONDS, elapsed
    html = page.html
    assert 'class="kn"' in section(html, 0)  # ordinary code is still highlighted
    for i in range(1, 16):
        cell = section(html, i)
        assert "<span" not in cell and "<pre>" in cell  # plain escaped text
    assert "15 code cell(s) shown without syntax highlighting" in Page(html).text
    assert page.errors == ()  # a display choice, not a grading error


def test_highlight_work_estimate():
    ordinary = "def f(x):\n    if x:\n\n        return x\n    return 0\n" * 200
    assert render.highlight_work(ordinary) < 2 * len(ordinary)
    assert render.highlight_work("\n" * 20_000) == 20_000  # blank lines alone are cheap for the lexer
    assert render.highlight_work(" \n" * 10_000) > render.MAX_CELL_HIGHLIGHT_WORK
    assert render.highlight_work("\t\n" * 2_000) > 4_000_000


def test_highlighting_stops_when_the_page_time_is_spent():
    spent = render.Highlighter(seconds=0.0)
    assert spent("import numpy as np") == render.plain_code("import numpy as np")
    assert spent.reasons == {"the page's time for highlighting ran out"}
    fresh = render.Highlighter()
    assert '<span class="kn">import</span>' in fresh("import numpy as np")
    small = render.Highlighter(chars=10)
    assert "<span" not in small("import numpy as np") and small.plain == 1


# ------------------------------------------------------------------------------ what the page shows

def test_controls_and_bidi_shown_as_marks():
    src = "access = 'user\u202e \u2066# admin\u2069\u2066'\n"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src), nbformat.v4.new_markdown_cell("a\u202eb")])
    out = {"output_type": "stream", "name": "stdout",
           "text": "\x1b[31mred\x1b[0m \x1b]0;title\x07\x1b]52;c;aGk=\x07\x1b]8;;http://evil.example\x07link\x1b]8;;\x07"
                   " \x1b[2J\x1b[10;10H\u202eevil\x08"}
    res, page = build(nb, [CellRun(0, "error", 0.0, (out,), "ValueError: \u202ebad\x1b[2J")])
    html = page.html
    for bad in ("\u202e", "\u2066", "\u2069", "\x1b", "\x07", "\x08"):
        assert bad not in html, repr(bad)
    assert "\u2039U+202E\u203a" in html and "\u2039U+2066\u203a" in html and "\u2039U+0008\u203a" in html
    assert '<span class="ansi-red-fg">red</span>' in html
    assert "evil.example" not in html and "link" in html  # the OSC 8 target is dropped, its text kept
    assert "]52;" not in html and "aGk=" not in html


def test_rendering_errors_are_bounded():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"![x](attachment:{'n' * 500}{i}.png)")
                                         for i in range(200)] + [nbformat.v4.new_code_cell("x = 1")])
    _, page = build(nb)
    assert len(page.errors) == render.MAX_ERRORS + 1
    assert all(len(e) <= render.MAX_ERROR_CHARS + 100 for e in page.errors)  # + the truncation note
    assert page.errors[-1] == "... and 180 more cells or outputs not shown as they are"


def test_cli_keeps_the_result_when_the_page_cannot_be_made(monkeypatch):
    import grader.feedback
    from grader import cli

    def broken(*args, **kwargs):
        raise MemoryError("no page today")

    monkeypatch.setattr(grader.feedback, "build_feedback", broken)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    res = result_for(nb)
    page, updated = cli._feedback_page(res, nb, None, instructor=False)
    assert "the feedback page could not be made (MemoryError)" in page
    assert updated.errors == (*res.errors, "the feedback page could not be made (MemoryError)")
    assert updated.score == res.score


def test_rerendering_a_stored_result_does_not_repeat_its_errors():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("![x](attachment:gone.png)"),
                                         nbformat.v4.new_code_cell("x = 1")])
    res, page = build(nb)
    stored = page.result_with_errors(res)
    again = build_feedback(stored, nb, templates=TEMPLATES, now=NOW)
    assert again.result_with_errors(stored) == stored
    assert Page(again.html).text.count("it refers to a missing attachment 'gone.png'") == 2  # the list, the cell
