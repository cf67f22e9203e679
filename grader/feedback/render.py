"""HTML for the notebook part of the feedback page, one cell at a time, every cost bounded.

Input is a `PreparedNotebook` (grader.feedback.cells); output is an inert HTML fragment:

* code is highlighted by pygments within budgets (`Highlighter`): characters per page, an
  estimate of the lexer's work per cell and per page (its docstring rule rescans runs of
  indented blank lines, so such a cell costs time quadratic in its length), and a wall-clock
  backstop per page for any other slow shape; above a bound the code is plain escaped text;
* markdown (cells and text/markdown outputs) is rendered by mistune within a page budget
  (characters, and a wall-clock backstop), raw HTML included, then sanitised
  (grader.feedback.sanitise); a cell the renderer cannot render (nesting too
  deep, a missing attachment, anything else it raises) is shown as escaped source and
  reported in `RenderedNotebook.errors`, and the other cells still render;
* streams and tracebacks are escaped text; their ANSI colours become classes, every other
  escape sequence is dropped, and invisible or reordering characters (bidi overrides, C0/C1
  controls) are shown as visible marks such as "\u2039U+202E\u203a", so the page shows the code and
  text as they are rather than as a bidi trick makes them look;
* the fragment is checked by `unsafe_html`; a cell that fails it is left out (reported), and
  if the joined cells still fail, the whole notebook is.

mistune and pygments are imported on first use. Callers: grader.feedback.page.
"""

from __future__ import annotations

import base64
import html
import io
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from grader.feedback import mathml, sanitise
from grader.feedback.cells import PreparedCell, PreparedNotebook, truncate

#: Code characters highlighted per page; later code is plain text.
MAX_HIGHLIGHT_CHARS = 300_000
#: Estimated lexer work (see `highlight_work`) allowed for one cell and for one page. One
#: unit is ~70 ns of pygments' Python lexer: a cell is at most ~0.15 s, a page ~0.7 s.
MAX_CELL_HIGHLIGHT_WORK = 2_000_000
MAX_PAGE_HIGHLIGHT_WORK = 10_000_000
#: Wall-clock backstop for highlighting one page, for slow shapes the estimate misses.
MAX_HIGHLIGHT_SECONDS = 2.0
#: Markdown characters rendered per page, and mistune's wall time per page (a hostile
#: 20,000-character cell takes it up to ~0.5 s; course notebooks have ~10,000 characters of
#: markdown in all); later markdown is shown as source.
MAX_MARKDOWN_CHARS = 200_000
MAX_MARKDOWN_SECONDS = 2.0

#: Rendering errors reported per page (they go into result.json), and the length of each.
MAX_ERRORS = 20
MAX_ERROR_CHARS = 300

# The same characters grader.textsafe strips: C0 controls but tab, newline and carriage
# return; DEL and C1; bidi marks, embeddings, overrides and isolates; line/paragraph
# separators; the byte-order mark.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)
_SGR_RE = re.compile(r"\x1b\[([0-9;]*)m")
# other CSI sequences, OSC strings (to BEL or ST, or unterminated), and two-byte escapes
_OTHER_ESCAPE_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
_LINE_START_BLANK_RE = re.compile(r"\n[^\S\n]")
_WHITESPACE_RUN_RE = re.compile(r"\s{2,}")


def mark_invisible(text: str) -> str:
    """`text` with invisible and reordering characters replaced by visible marks ("\u2039U+202E\u203a")."""
    return _INVISIBLE_RE.sub(lambda m: f"\u2039U+{ord(m.group()):04X}\u203a", text)


def ansi_to_html(text: str) -> str:
    """Escaped `text` with ANSI colours (SGR 30-37, 90-97, bold) as spans; other escapes dropped."""
    out: list[str] = []
    fg: str | None = None
    bold = False
    pos = 0
    for m in _SGR_RE.finditer(text):
        out.append(_ansi_chunk(text[pos:m.start()], fg, bold))
        pos = m.end()
        codes = [int(c) if c.isdigit() and len(c) < 4 else 0 for c in m.group(1).split(";")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:  # "ESC[m" and "ESC[0m" reset
                fg, bold = None, False
            elif c == 1:
                bold = True
            elif c == 22:
                bold = False
            elif 30 <= c <= 37:
                fg = _COLOURS[c - 30]
            elif 90 <= c <= 97:
                fg = _COLOURS[c - 90]
            elif c == 39:
                fg = None
            elif c in (38, 48):  # 256-colour or RGB: skip its arguments
                i += 2 if i + 1 < len(codes) and codes[i + 1] == 5 else 4
            i += 1
    out.append(_ansi_chunk(text[pos:], fg, bold))
    return "".join(out)


def _ansi_chunk(text: str, fg: str | None, bold: bool) -> str:
    text = html.escape(mark_invisible(_OTHER_ESCAPE_RE.sub("", text)), quote=False)
    if not text or (fg is None and not bold):
        return text
    classes = " ".join(c for c in (f"ansi-{fg}-fg" if fg else "", "ansi-bold" if bold else "") if c)
    return f'<span class="{classes}">{text}</span>'


def highlight_work(source: str) -> int:
    """Estimated work of pygments' Python lexer on `source`, in units of one character
    rescanned: each line start inside a whitespace run that begins with a space or tab
    makes the docstring rule scan the rest of the run."""
    work = len(source)
    for m in _WHITESPACE_RUN_RE.finditer(source):
        run = m.group()
        if "\n" in run:
            work += len(_LINE_START_BLANK_RE.findall(run)) * len(run)
    return work


def plain_code(source: str) -> str:
    return f'<div class="highlight hl-python"><pre>{html.escape(mark_invisible(source), quote=False)}</pre></div>'


class Highlighter:
    """Python syntax highlighting for one page within its budgets; `plain` counts the cells
    shown without it, `why` says why the last one was."""

    def __init__(self, chars: int = MAX_HIGHLIGHT_CHARS, work: int = MAX_PAGE_HIGHLIGHT_WORK,
                 seconds: float = MAX_HIGHLIGHT_SECONDS) -> None:
        self.chars_left = chars
        self.work_left = work
        self.seconds_left = seconds
        self.plain = 0
        self.reasons: set[str] = set()

    def __call__(self, source: str) -> str:
        why = self._refuse(source)
        if why is None:
            html_out = self._highlight(source)
            if html_out is not None:
                return html_out
            why = "the page's time for highlighting ran out"
        self.plain += 1
        self.reasons.add(why)
        return plain_code(source)

    def _refuse(self, source: str) -> str | None:
        if self.seconds_left <= 0:
            return "the page's time for highlighting ran out"
        if len(source) > self.chars_left:
            self.chars_left = 0
            return "the page's budget for highlighting is spent"
        work = highlight_work(source)
        if work > MAX_CELL_HIGHLIGHT_WORK:
            return "too costly to highlight (long runs of indented blank lines)"
        if work > self.work_left:
            self.work_left = 0
            return "the page's budget for highlighting is spent"
        self.chars_left -= len(source)
        self.work_left -= work
        return None

    def _highlight(self, source: str) -> str | None:
        lexer, formatter = _pygments()
        start = time.perf_counter()
        deadline = start + self.seconds_left
        tokens = []
        try:
            for n, token in enumerate(lexer.get_tokens(mark_invisible(source))):
                tokens.append(token)
                if n % 64 == 0 and time.perf_counter() > deadline:
                    self.seconds_left = 0
                    return None
            buf = io.StringIO()
            formatter.format(iter(tokens), buf)
            return buf.getvalue()
        finally:
            self.seconds_left -= time.perf_counter() - start


_pygments_objects: tuple[Any, Any] | None = None


def _pygments() -> tuple[Any, Any]:
    global _pygments_objects
    if _pygments_objects is None:
        from pygments.formatters.html import HtmlFormatter
        from pygments.lexers.python import PythonLexer

        _pygments_objects = (PythonLexer(), HtmlFormatter(cssclass="highlight hl-python"))
    return _pygments_objects


def pygments_css() -> str:
    """The CSS rules of the highlighting classes."""
    _, formatter = _pygments()
    return formatter.get_style_defs(".highlight")


class MissingAttachment(Exception):
    """A markdown image refers to `attachment:NAME` that the cell does not carry."""


_markdown: Any = None


def markdown_to_html(source: str, attachments: dict[str, dict[str, str]]) -> str:
    """mistune's HTML for `source`, raw HTML kept (sanitise it afterwards); `$math$` and
    `$$math$$` become grader.feedback.mathml tokens (MathML once sanitised; no MathJax); `![](attachment:x)` images become data: URLs or raise
    MissingAttachment; fenced code is plain escaped text."""
    global _markdown
    if _markdown is None:
        _markdown = _make_markdown()
    renderer = _markdown.renderer
    renderer.attachments = attachments
    try:
        return str(_markdown(mark_invisible(source)))
    finally:
        renderer.attachments = {}


def _make_markdown() -> Any:
    import mistune
    from mistune.renderers.html import HTMLRenderer

    class Renderer(HTMLRenderer):
        attachments: dict[str, dict[str, str]] = {}

        def image(self, text: str, url: str, title: str | None = None) -> str:
            if url.startswith("attachment:"):
                name = url[len("attachment:"):]
                bundle = self.attachments.get(name)
                if bundle is None:
                    raise MissingAttachment(name)
                mime, data = next(iter(bundle.items()))
                url = f"data:{mime};base64,{data}"
            return super().image(text, url, title)

        def block_code(self, code: str, info: str | None = None) -> str:
            return f"<pre><code>{html.escape(code, quote=False)}</code></pre>\n"

        def block_math(self, text: str) -> str:
            return f"<p>{mathml.token(text, display=True)}</p>\n"

        def inline_math(self, text: str) -> str:
            return mathml.token(text, display=False)

    return mistune.create_markdown(
        renderer=Renderer(escape=False),
        plugins=["strikethrough", "table", "url", "task_lists", "def_list", "math"],
    )


@dataclass(frozen=True)
class RenderedNotebook:
    """The notebook's HTML fragment; `errors` name cells that could not be shown as they are
    (they go into the result's errors), `notes` say what was simplified (page only)."""

    html: str
    errors: tuple[str, ...]
    notes: tuple[str, ...]


class _Page:
    """Budgets and findings shared by the cells of one page."""

    def __init__(self) -> None:
        self.sanitiser = sanitise.Sanitiser()
        self.highlighter = Highlighter()
        self.markdown_left = MAX_MARKDOWN_CHARS
        self.markdown_seconds = MAX_MARKDOWN_SECONDS
        self.markdown_as_source = 0
        self.formulas = mathml.Formulas()
        self.errors: list[str] = []

    def markdown(self, source: str, attachments: dict[str, dict[str, str]], where: str) -> str:
        """Sanitised HTML of markdown `source`, or its escaped source when it cannot be rendered."""
        if len(source) > self.markdown_left or self.markdown_seconds <= 0:
            self.markdown_left = 0
            self.markdown_as_source += 1
            return sanitise.as_source(source, "the page's budget for rendering markdown is spent", "markdown")
        self.markdown_left -= len(source)
        start = time.perf_counter()
        try:
            rendered = markdown_to_html(source, attachments)
        except MissingAttachment as e:
            why = f"it refers to a missing attachment {str(e)[:100]!r}"
        except RecursionError:
            why = "it is nested too deeply for the markdown renderer"
        except Exception as e:  # a renderer bug must cost one cell, not the page
            why = f"the markdown renderer failed ({type(e).__name__})"
        else:
            shown_as_text = self.sanitiser.as_text
            cleaned = self.sanitiser(rendered)
            if self.sanitiser.as_text != shown_as_text:  # shown as source: the formulas as TeX
                return self.formulas.substitute(cleaned, as_tex=True)
            return self.formulas.substitute(cleaned)
        finally:
            self.markdown_seconds -= time.perf_counter() - start
        self.errors.append(f"{where}: markdown shown as source text: {why}")
        return sanitise.as_source(source, why, "markdown")


def render_notebook(nb: PreparedNotebook) -> RenderedNotebook:
    """The HTML of every cell of `nb` (see the module docstring), checked by `unsafe_html`."""
    page = _Page()
    bodies: list[str] = []
    for cell in nb.cells:
        try:
            body = _cell_body(cell, page, f"cell {cell.index}")
        except RecursionError:
            body = _left_out(cell, "nested too deeply to render", page)
        except Exception as e:  # one cell's bug must not cost the page
            body = _left_out(cell, f"could not be rendered ({type(e).__name__})", page)
        bodies.append(body)
    fragment = _join(nb.cells, bodies)
    if sanitise.unsafe_html(fragment):  # one pass over the page; find the cells only if needed
        for i, (cell, body) in enumerate(zip(nb.cells, bodies)):
            if problems := sanitise.unsafe_html(body):
                bodies[i] = _left_out(cell, f"could not be shown safely ({', '.join(problems[:3])})", page)
        fragment = _join(nb.cells, bodies)
        if sanitise.unsafe_html(fragment):
            page.errors.append("the notebook could not be shown safely and was left out of this page")
            fragment = ""
    notes = []
    if page.sanitiser.as_text:
        notes.append(f"{page.sanitiser.as_text} HTML output(s) or markdown cell(s) shown as source text: too large, "
                     "too deeply nested, or past the page's budget for HTML")
    if page.markdown_as_source:
        notes.append(f"{page.markdown_as_source} markdown cell(s) or output(s) shown as source text: past the "
                     "page's budget for rendering markdown")
    if page.highlighter.plain:
        notes.append(f"{page.highlighter.plain} code cell(s) shown without syntax highlighting: "
                     f"{'; '.join(sorted(page.highlighter.reasons))}")
    errors = [truncate(e, MAX_ERROR_CHARS, "error") for e in page.errors[:MAX_ERRORS]]
    if len(page.errors) > MAX_ERRORS:
        errors.append(f"... and {len(page.errors) - MAX_ERRORS} more cells or outputs not shown as they are")
    return RenderedNotebook(fragment, tuple(errors), tuple(notes))


def _left_out(cell: PreparedCell, problem: str, page: _Page) -> str:
    where = f"cell {cell.index}"
    page.errors.append(f"{where} {problem} and was left out of this page")
    return f'<div class="dlg-note">[{html.escape(where)} {html.escape(problem)}: left out]</div>'


def _join(cells: tuple[PreparedCell, ...], bodies: list[str]) -> str:
    return "\n".join(_section(cell, body) for cell, body in zip(cells, bodies))


def _section(cell: PreparedCell, body: str) -> str:
    e = html.escape
    kind = cell.cell_type
    status = (cell.status or "none") if kind == "code" else ""
    head = ""
    if kind == "code":
        msg = f' <span class="dlg-cell-msg">{e(mark_invisible(cell.message))}</span>' if cell.message else ""
        head = (f'<div class="dlg-cell-head"><a class="dlg-cell-link" href="#cell-{cell.index}">'
                f'{e(cell.label)}</a>{msg}</div>\n')
    return (f'<section class="dlg-cell dlg-{e(kind)} dlg-st-{e(status)}" id="cell-{cell.index}">\n'
            f'{head}{body}\n</section>')


def _cell_body(cell: PreparedCell, page: _Page, where: str) -> str:
    if cell.cell_type == "code":
        code = page.highlighter(cell.source)
        outputs = "".join(_output(out, page, where) for out in cell.outputs)
        body = f'<div class="inner_cell"><div class="input_area">\n{code}</div></div>'
        if outputs:
            body += f'\n<div class="output_wrapper"><div class="output">\n{outputs}</div></div>'
        return body
    if cell.cell_type == "markdown":
        rendered = page.markdown(cell.source, dict(cell.attachments), where)
        return f'<div class="inner_cell"><div class="text_cell_render rendered_html">\n{rendered}</div></div>'
    return f'<div class="inner_cell"><pre class="dlg-raw">{html.escape(mark_invisible(cell.source), quote=False)}</pre></div>'


_DATA_ORDER = ("image/png", "image/jpeg", "image/svg+xml", "text/html", "text/markdown", "text/plain", "text/latex")


def _output(out: dict[str, Any], page: _Page, where: str) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        name = "stderr" if out.get("name") == "stderr" else "stdout"
        inner = (f'<div class="output_subarea output_stream output_{name} output_text">'
                 f'<pre>{ansi_to_html(str(out.get("text", "")))}</pre></div>')
    elif kind == "error":
        text = "\n".join(str(line) for line in out.get("traceback", ()))
        inner = f'<div class="output_subarea output_text output_error"><pre>{ansi_to_html(text)}</pre></div>'
    else:
        data = out.get("data") if isinstance(out.get("data"), dict) else {}
        inner = "".join(_DATA_RENDERERS[mime](str(data[mime]), page, where) for mime in _DATA_ORDER if mime in data)
    return f'<div class="output_area">{inner}</div>\n'


def _image(mime: str) -> Callable[[str, _Page, str], str]:
    def render(value: str, page: _Page, where: str) -> str:
        if mime == "image/svg+xml":  # as an <img>: scripts in an SVG image never run
            value = base64.b64encode(value.encode("utf-8", "replace")).decode("ascii")
        return (f'<div class="output_{mime.split("/")[1].split("+")[0]} output_subarea">'
                f'<img src="data:{mime};base64,{html.escape(value)}" alt="output image"></div>')
    return render


_DATA_RENDERERS: dict[str, Callable[[str, _Page, str], str]] = {
    "image/png": _image("image/png"),
    "image/jpeg": _image("image/jpeg"),
    "image/svg+xml": _image("image/svg+xml"),
    "text/html": lambda v, page, where: (f'<div class="output_html rendered_html output_subarea">'
                                         f'{page.sanitiser(mark_invisible(v))}</div>'),
    "text/markdown": lambda v, page, where: (f'<div class="output_markdown rendered_html output_subarea">'
                                             f'{page.markdown(v, {}, f"{where} (an output)")}</div>'),
    "text/plain": lambda v, page, where: f'<div class="output_text output_subarea"><pre>{ansi_to_html(v)}</pre></div>',
    "text/latex": lambda v, page, where: (f'<div class="output_latex output_subarea">'
                                          f'{html.escape(mark_invisible(v), quote=False)}</div>'),
}
