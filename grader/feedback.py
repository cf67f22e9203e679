"""The HTML feedback page for one graded notebook.

`render_feedback` turns a `GradingResult` and the submitted notebook into one standalone
HTML file: the score, a table of tests, the cells that did not run cleanly, the grading
errors and the executed notebook (code, markdown and the outputs the worker produced).

Everything that comes from the notebook or from the worker is hostile: markdown may
carry `<script>`, outputs may carry any HTML, any size and any shape. The page is built
so that none of it can run or load anything:

* the notebook is rebuilt from scratch (cell type, source, outputs, a few attachments),
  so no student metadata (tags, `isolated`, `filenames`, ids, widget state) reaches the
  nbconvert template;
* outputs are reduced to a short list of mimetypes, every string is truncated and the
  whole notebook shares one size budget;
* nbconvert's `basic` template renders it with `sanitize_html` on, and its `clean_html`
  filter is replaced by a stricter bleach allow-list (no scripts, no event handlers,
  no `javascript:`/`data:` links, images only from `data:image/...`);
* the rendered fragment is checked once more (`unsafe_html`) and dropped if anything
  executable is left;
* our own page is rendered by jinja2 with autoescape on; the checked fragment is the
  only markup marked safe; a Content-Security-Policy meta tag forbids scripts, frames,
  fonts and any network access.

nbconvert is imported inside `render_feedback` so that importing this module is cheap.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from grader.results import VISIBILITIES, CellRun, GradingResult, TestResult

#: The Content-Security-Policy of the page. No scripts, frames, fonts or connections;
#: images only inline (plots are base64 `data:` URLs); inline CSS only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

#: Largest text shown for one output, one test message or one grading error.
MAX_OUTPUT_CHARS = 20_000
#: Largest source shown for one cell.
MAX_SOURCE_CHARS = 20_000
#: Largest image (base64 characters) shown for one output.
MAX_IMAGE_CHARS = 1_500_000
#: Outputs shown per cell, after consecutive streams are merged.
MAX_OUTPUTS_PER_CELL = 50
#: Cells shown.
MAX_CELLS = 1_000
#: Budget shared by all sources and outputs of the notebook (characters, images included).
MAX_NOTEBOOK_CHARS = 4_000_000
#: Budget for code that is syntax highlighted (highlighting is slow and inflates HTML).
MAX_HIGHLIGHT_CHARS = 300_000
#: Grading errors shown.
MAX_ERRORS = 100
#: User HTML (a markdown cell, a text/html or text/markdown output) costing more than this
#: to sanitise, or nested deeper, is shown as source text. The sanitiser (html5lib) takes
#: ~0.1 ms a tag and ~25 us an entity, and much longer on deep or misnested markup; the
#: cost is counted as tags + entities / 4 (see `html_cost`).
MAX_HTML_COST = 4_000
MAX_HTML_DEPTH = 100
#: Sanitiser cost allowed for one page (about a second and a half); later user HTML is
#: shown as source text.
MAX_PAGE_HTML_COST = 12_000
#: If the rendered notebook is still larger than this, it is left out of the page.
MAX_FRAGMENT_CHARS = 25_000_000

CELL_STATUSES = ("ok", "error", "timeout", "crashed", "skipped")
PROBLEM_CELL_STATUSES = ("error", "timeout", "crashed", "skipped", "unknown")
#: Test statuses the page knows (grader.results.STATUSES, and "skipped" from the pytest plugin);
#: anything else is shown as "unknown".
TEST_STATUSES = ("passed", "partial", "failed", "error", "skipped")

#: Text forms, best first. LaTeX comes after plain text: math is not typeset (no MathJax),
#: and sympy's "x**2" reads better than "$\\displaystyle x^{2}$".
_TEXT_MIMETYPES = ("text/html", "text/markdown", "text/plain", "text/latex")
_IMAGE_MIMETYPES = ("image/png", "image/jpeg")
_SVG_MIMETYPE = "image/svg+xml"
_BASE64_RE = re.compile(r"[A-Za-z0-9+/=\s]*\Z")

_log = logging.getLogger("dlgrade.feedback")


# --------------------------------------------------------------------------- sanitising

#: Tags that user HTML (markdown cells, text/html and text/markdown outputs) may keep.
#: Anything else is escaped and shown as text.
ALLOWED_TAGS = frozenset(
    """a abbr b blockquote br caption code col colgroup dd del details div dl dt em
    figcaption figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small
    span strong sub summary sup table tbody td tfoot th thead tr u ul var""".split()
)
_COMMON_ATTRS = frozenset({"class", "id", "title"})
_TAG_ATTRS = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "align"}),
    "th": frozenset({"colspan", "rowspan", "align", "scope"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start", "type"}),
    "details": frozenset({"open"}),
}
_URL_JUNK_RE = re.compile(r"[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_DATA_IMAGE_RE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp|svg\+xml)[;,]")
_SAFE_HREF_RE = re.compile(r"(https?:|mailto:|#)")
_URL_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:")


def _normalise_url(value: str) -> str:
    return _URL_JUNK_RE.sub("", html.unescape(value)).lower()


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    """bleach attribute filter for user HTML."""
    if name not in _COMMON_ATTRS and name not in _TAG_ATTRS.get(tag, ()):
        return False
    if name == "class":
        # our own page's classes start with "dlg": user content may not borrow them
        return not any(c.lower().startswith("dlg") for c in value.split())
    if name == "id":
        # "cell-<n>" anchors belong to the page
        v = value.strip().lower()
        return not (v.startswith("cell") or v.startswith("dlg"))
    if name == "href":
        url = _normalise_url(value)
        if _SAFE_HREF_RE.match(url):
            return True
        return not _URL_SCHEME_RE.match(url)  # relative links; no other scheme
    if name == "src":
        return bool(_DATA_IMAGE_RE.match(_normalise_url(value)))
    return True


_cleaner = None


def clean_html(fragment: Any) -> str:
    """Sanitise user HTML with a strict allow-list (replaces nbconvert's `clean_html`).

    Disallowed tags are escaped (shown as text, never live), comments are dropped,
    attributes go through `_allow_attribute`, URLs must use http(s)/mailto or be
    relative, and images must be inline `data:image/...`.
    """
    global _cleaner
    if _cleaner is None:
        import bleach

        _cleaner = bleach.Cleaner(
            tags=ALLOWED_TAGS,
            attributes=_allow_attribute,
            protocols=frozenset({"http", "https", "mailto", "data"}),
            strip=False,
            strip_comments=True,
        )
    text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
    return _cleaner.clean(text)


_TAG_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
_VOID_TAGS = frozenset("area base br col embed hr img input link meta source track wbr".split())


def html_cost(fragment: str) -> tuple[int, int]:
    """(cost to sanitise, deepest nesting) of `fragment`, roughly, without parsing it."""
    cost = fragment.count("<") + fragment.count("&") // 4
    depth = deepest = 0
    if cost <= MAX_HTML_COST:
        for m in _TAG_RE.finditer(fragment):
            if m.group(1):
                depth = max(depth - 1, 0)
            elif m.group(2).lower() not in _VOID_TAGS:
                depth += 1
                deepest = max(deepest, depth)
    return cost, deepest


class Sanitiser:
    """nbconvert's `clean_html` filter for one page: `clean_html` within a budget.

    User HTML that is too large or too deeply nested for the sanitiser, or that comes
    after the page's budget is spent, is shown as escaped source text instead."""

    def __init__(self, page_cost: int = MAX_PAGE_HTML_COST) -> None:
        self.cost_left = page_cost
        self.as_text = 0

    def __call__(self, fragment: Any) -> str:
        text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
        cost, depth = html_cost(text)
        if cost > MAX_HTML_COST or depth > MAX_HTML_DEPTH or cost > self.cost_left:
            self.as_text += 1
            if cost > MAX_HTML_COST or depth > MAX_HTML_DEPTH:
                why = "too large or too deeply nested to render"
            else:
                why = "the page's budget for rendering HTML is spent"
            return (f'<div class="dlg-note">HTML shown as source: {why}</div>'
                    f'<pre class="dlg-html-source">{html.escape(text)}</pre>')
        self.cost_left -= cost
        return clean_html(text)


_DANGEROUS_TAGS = frozenset(
    """script iframe frame frameset object embed applet form input button textarea select
    option link meta base style svg math template noscript portal audio video source track
    canvas dialog""".split()
)
_URL_ATTRS = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "srcset", "data", "poster", "background", "lowsrc", "dynsrc", "ping"}
)


class _Tripwire(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in _URL_ATTRS and value is not None:
                url = _normalise_url(value)
                if name == "src" and tag == "img":
                    if not _DATA_IMAGE_RE.match(url):
                        self.problems.append(f"<img src={url[:40]!r}>")
                elif name != "href" or not (_SAFE_HREF_RE.match(url) or not _URL_SCHEME_RE.match(url)):
                    self.problems.append(f"<{tag} {name}={url[:40]!r}>")
            elif name == "style" and value and ("url(" in value.lower() or "expression" in value.lower()):
                self.problems.append(f"<{tag} style=url(...)>")

    handle_startendtag = handle_starttag


def unsafe_html(fragment: str) -> list[str]:
    """What in `fragment` could run or load something: live scripts, frames, event
    handlers, non-data images, non-http links. Empty when the fragment is inert."""
    parser = _Tripwire()
    parser.feed(fragment)
    parser.close()
    return parser.problems


# --------------------------------------------------------------------------- notebook

class _Budget:
    """Characters of notebook content the page may still show."""

    def __init__(self, chars: int, highlight: int) -> None:
        self.chars = chars
        self.highlight = highlight
        self.exhausted = False

    def text(self, value: str, limit: int = MAX_OUTPUT_CHARS, what: str = "output") -> str:
        cap = min(limit, max(self.chars, 0))
        if len(value) > cap:
            if cap < limit:
                self.exhausted = True
            value = truncate(value, cap, what, page_limit=cap < limit)
        self.chars -= len(value)
        return value


def truncate(text: str, limit: int, what: str = "output", *, page_limit: bool = False, total: int | None = None) -> str:
    """`text` cut to `limit` characters, with a note saying how much was left out.
    `total` is the full length when `text` is already a prefix of something longer."""
    total = len(text) if total is None else total
    if total <= limit:
        return text
    why = "the page's size limit was reached" if page_limit else f"limit {limit:,} characters"
    return f"{text[:limit]}\n\n[... {what} truncated: {total - limit:,} more characters not shown ({why})]"


def _as_text(value: Any) -> str:
    """nbformat multiline strings are a str or a list of str; anything else is coerced."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "".join(v if isinstance(v, str) else str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _note(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stderr", "text": text}


def _clean_image(value: Any, budget: _Budget) -> str | None:
    data = _as_text(value)
    if len(data) > MAX_IMAGE_CHARS or len(data) > budget.chars or not _BASE64_RE.match(data):
        return None
    data = re.sub(r"\s+", "", data)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    budget.chars -= len(data)
    return data


def strip_style_blocks(text: str) -> str:
    """`text` without its <style>...</style> blocks (pandas writes one before each table,
    and the sanitiser would show it as text). Linear time, whatever the input."""
    low = text.lower()
    pos, parts = 0, []
    while (start := low.find("<style", pos)) >= 0:
        if low[start + 6:start + 7].isalnum():  # <styles> or the like: not a style tag
            parts.append(text[pos:start + 6])
            pos = start + 6
            continue
        end = low.find("</style", start)
        close = low.find(">", end) if end >= 0 else -1
        if close < 0:
            break
        parts.append(text[pos:start])
        pos = close + 1
    parts.append(text[pos:])
    return "".join(parts)


def _clean_data(data: Any, budget: _Budget) -> dict[str, str]:
    """A mime bundle reduced to the types we render (one image or one text form), capped."""
    if not isinstance(data, dict):
        return {"text/plain": "[output with malformed data not shown]"}
    out: dict[str, str] = {}
    dropped: list[str] = []
    for mime in _IMAGE_MIMETYPES:
        if mime in data and not out:
            img = _clean_image(data[mime], budget)
            if img is None:
                dropped.append(f"{mime} image (invalid or too large)")
            else:
                out[mime] = img
    if _SVG_MIMETYPE in data and not out:
        svg = _as_text(data[_SVG_MIMETYPE])
        if len(svg) <= MAX_IMAGE_CHARS and len(svg) <= budget.chars:
            out[_SVG_MIMETYPE] = svg  # shown as <img src="data:image/svg+xml;base64,...">: inert
            budget.chars -= len(svg)
        else:
            dropped.append("SVG image (too large)")
    if not out:
        for mime in _TEXT_MIMETYPES:  # the richest text form we render, and only that one
            if mime in data:
                text = _as_text(data[mime])
                if mime == "text/html":
                    text = strip_style_blocks(text)
                out[mime] = budget.text(text)
                break
    if dropped and set(out) <= {"text/plain"}:
        note = "[" + "; ".join(dropped) + " not shown]"
        out["text/plain"] = (out.get("text/plain", "") + "\n" + note).lstrip("\n")
    if not out:
        kinds = ", ".join(sorted(str(k)[:50] for k in list(data)[:10])) or "nothing"
        out["text/plain"] = f"[output of type {kinds} not shown]"
    return out


def _clean_outputs(raw: Any, budget: _Budget) -> list[dict[str, Any]]:
    """Worker outputs as a short list of well-formed nbformat v4 output dicts."""
    if not isinstance(raw, (list, tuple)):
        return [_note("[outputs malformed: not shown]")] if raw else []
    # merge consecutive streams first, so that a loop of prints counts as one output
    merged: list[Any] = []  # output dicts (or junk), and [name, parts, kept, skipped] for streams
    rest = 0  # outputs past what can be shown, only counted
    for i, out in enumerate(raw):
        if isinstance(out, dict) and out.get("output_type") == "stream":
            name = "stderr" if out.get("name") == "stderr" else "stdout"
            last = merged[-1] if merged else None
            if isinstance(last, list) and last[0] == name:
                text = _as_text(out.get("text"))
                if last[2] <= MAX_OUTPUT_CHARS:
                    last[1].append(text)
                    last[2] += len(text)
                else:
                    last[3] += len(text)
                continue
        if len(merged) > MAX_OUTPUTS_PER_CELL:
            rest = len(raw) - i
            break
        if isinstance(out, dict) and out.get("output_type") == "stream":
            text = _as_text(out.get("text"))
            merged.append([name, [text], len(text), 0])
        else:
            merged.append(out)

    outputs: list[dict[str, Any]] = []
    for i, out in enumerate(merged):
        if budget.chars <= 0:
            budget.exhausted = True
            outputs.append(_note("[remaining outputs not shown: the page's size limit was reached]"))
            break
        if len(outputs) >= MAX_OUTPUTS_PER_CELL:
            more = len(merged) - i + rest
            outputs.append(_note(f"[{more:,} more outputs not shown (limit {MAX_OUTPUTS_PER_CELL} per cell)]"))
            break
        if isinstance(out, list):  # merged stream
            name, parts, kept, skipped = out
            text = truncate("".join(parts), MAX_OUTPUT_CHARS, name, total=kept + skipped)
            outputs.append({"output_type": "stream", "name": name, "text": budget.text(text, len(text))})
            continue
        if not isinstance(out, dict):
            outputs.append(_note("[malformed output not shown]"))
            continue
        kind = out.get("output_type")
        if kind == "error":
            ename = truncate(_as_text(out.get("ename")), 200, "name")
            evalue = truncate(_as_text(out.get("evalue")), 2_000, "message")
            tb = out.get("traceback")
            lines = [_as_text(x) for x in tb] if isinstance(tb, (list, tuple)) else [_as_text(tb)]
            text = budget.text("\n".join(lines) or f"{ename}: {evalue}", what="traceback")
            outputs.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [text]})
        elif kind in ("execute_result", "display_data"):
            item: dict[str, Any] = {
                "output_type": kind,
                "data": _clean_data(out.get("data"), budget),
                "metadata": {"alt": "output image"},
            }
            if kind == "execute_result":
                count = out.get("execution_count")
                item["execution_count"] = count if type(count) is int else None
            outputs.append(item)
        else:
            outputs.append(_note(f"[output of type {truncate(_as_text(kind), 50)!s} not shown]"))
    return outputs


def _clean_attachments(raw: Any, budget: _Budget) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, bundle in list(raw.items())[:20]:
        if not isinstance(name, str) or not isinstance(bundle, dict):
            continue
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in bundle:
                img = _clean_image(bundle[mime], budget)
                if img is not None:
                    out[name[:200]] = {mime: img}
                break
    return out


@dataclass
class _CellInfo:
    index: int
    cell_type: str
    status: str  # a CELL_STATUSES value, "unknown", or "" (not a code cell / not run)
    label: str
    message: str
    problem: bool


def _cell_label(index: int, run: CellRun | None, count: int | None) -> tuple[str, str]:
    if run is None:
        return "", f"cell {index} · not run"
    parts = [f"cell {index}"]
    if count is not None:
        parts.append(f"In [{count}]")
    status = run.status if run.status in CELL_STATUSES else "unknown"
    parts.append(status)
    if isinstance(run.duration, (int, float)) and run.duration > 0:
        parts.append(f"{run.duration:.2f} s" if run.duration >= 0.01 else "<0.01 s")
    return status, " · ".join(parts)


def _prepare_notebook(notebook: Any, result: GradingResult) -> tuple[dict[str, Any], list[_CellInfo], list[str]]:
    """A fresh nbformat v4.4 notebook dict built from the submission and the cell runs."""
    cells_in = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells_in, list):
        cells_in = []
    runs: dict[int, CellRun] = {}
    notes: list[str] = []
    for run in result.cells:
        if isinstance(run.index, int) and 0 <= run.index < len(cells_in):
            runs[run.index] = run
        else:
            notes.append(f"cell run for cell {run.index!r} does not match a cell of the notebook")

    budget = _Budget(MAX_NOTEBOOK_CHARS, MAX_HIGHLIGHT_CHARS)
    cells: list[dict[str, Any]] = []
    infos: list[_CellInfo] = []
    count = 0
    for index, cell in enumerate(cells_in[:MAX_CELLS]):
        if not isinstance(cell, dict):
            cell = {"cell_type": "raw", "source": "[malformed cell]"}
        cell_type = cell.get("cell_type")
        source = _as_text(cell.get("source"))
        run = runs.get(index)
        meta: dict[str, Any] = {"index": index, "type": "markdown", "status": "", "label": "", "message": ""}
        if cell_type == "code":
            if budget.highlight > 0:
                source = truncate(source, min(MAX_SOURCE_CHARS, budget.highlight), "source")
                budget.highlight -= len(source)
                source = budget.text(source, MAX_SOURCE_CHARS, "source")
            else:
                source = "# [source not shown: the page's size limit was reached]"
                budget.exhausted = True
            exec_count = None
            outputs: list[dict[str, Any]] = []
            if run is not None:
                if run.status != "skipped":
                    count += 1
                    exec_count = count
                outputs = _clean_outputs(run.outputs, budget)
            status, label = _cell_label(index, run, exec_count)
            message = truncate(_as_text(run.message), 2_000, "message") if run is not None else ""
            meta.update(type="code", status=status or "none", label=label, message=message)
            cells.append(
                {
                    "cell_type": "code",
                    "source": source,
                    "metadata": {"dlgrade": meta},
                    "execution_count": exec_count,
                    "outputs": outputs,
                }
            )
            problem = status in PROBLEM_CELL_STATUSES
            infos.append(_CellInfo(index, "code", status, label, message, problem))
        else:
            if cell_type == "markdown":
                attachments = _clean_attachments(cell.get("attachments"), budget)
                source = budget.text(source, MAX_SOURCE_CHARS, "markdown")
            else:  # raw (or unknown): shown as an indented code block, never as markup
                attachments = {}
                source = budget.text(source, MAX_SOURCE_CHARS, "raw cell")
                source = "\n".join("    " + line for line in source.splitlines()) or "    "
            md_cell: dict[str, Any] = {"cell_type": "markdown", "source": source, "metadata": {"dlgrade": meta}}
            if attachments:
                md_cell["attachments"] = attachments
            cells.append(md_cell)
            infos.append(_CellInfo(index, "markdown", "", "", "", False))
    if len(cells_in) > MAX_CELLS:
        notes.append(f"only the first {MAX_CELLS} of {len(cells_in)} cells are shown")
    if budget.exhausted:
        notes.append("the notebook is too large to show in full: some sources or outputs were left out")
    nb = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {"language_info": {"name": "python"}},
        "cells": cells,
    }
    return nb, infos, notes


_exporters: dict[str, Any] = {}
_page_envs: dict[str, Any] = {}


def _exporter(templates: Path) -> Any:
    """nbconvert's HTMLExporter ("basic" template, sanitising), one per templates folder:
    building one compiles nbconvert's templates, which costs more than a render."""
    key = str(templates.resolve())
    if key not in _exporters:
        from nbconvert import HTMLExporter
        from nbconvert.exporters.templateexporter import TemplateExporter
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        lexer = PythonLexer()
        formatter = HtmlFormatter(cssclass="highlight hl-python")

        def highlight_code(source: str, language: str = "python", metadata: Any = None) -> str:
            # pygments escapes all text and writes only <div>, <pre> and <span class>; our
            # cell template does not run clean_html over it (slow on token-dense markup),
            # the whole fragment is checked by unsafe_html afterwards
            return highlight(source, lexer, formatter)

        class FeedbackExporter(HTMLExporter):
            """HTMLExporter without its final BeautifulSoup pass, which only adds alt
            texts and the lab template's tabindex attributes, and whose CSS selectors
            take ~0.3 s to compile on first use (this runs in `grade check`). Code is
            highlighted as Python with one cached lexer and formatter (nbconvert builds a
            formatter per cell, ~3 ms each). The `clean_html` filter is set per render
            (a `Sanitiser` with that page's budget)."""

            def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
                self.register_filter("highlight_code", highlight_code)
                return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

        quiet = logging.getLogger("dlgrade.feedback.nbconvert")
        quiet.setLevel(logging.ERROR)  # e.g. "Alternative text is missing on 1 image(s)"
        exporter = FeedbackExporter(
            template_name="basic",
            template_file=str(templates / "feedback_cells.html.j2"),
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            # none of nbconvert's preprocessors is wanted (the notebook is rebuilt above),
            # and validating once rather than after each of them saves ~10 validations
            default_preprocessors=[],
            optimistic_validation=True,
            log=quiet,
        )
        exporter.sanitize_html = True
        _exporters[key] = exporter
    return _exporters[key]


def _render_notebook(nb: dict[str, Any], templates: Path) -> tuple[str, Sanitiser]:
    import nbformat

    exporter = _exporter(templates)
    sanitiser = Sanitiser()
    exporter.register_filter("clean_html", sanitiser)  # used by the template when sanitize_html is on
    body, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    return body, sanitiser


# --------------------------------------------------------------------------- page

def fmt_points(x: Any) -> str:
    """27.5 -> "27.5", 40.0 -> "40", 1/3 -> "0.33"."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return "?"
    if value != value:  # NaN
        return "?"
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_due(due: Any) -> datetime | date | None:
    """An ISO date ("2025-03-01") or date-time; None when absent, empty or unreadable."""
    if isinstance(due, datetime):
        return due
    if isinstance(due, date):
        return due
    if not isinstance(due, str) or not due.strip():
        return None
    text = due.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def due_passed(due: Any, now: datetime) -> bool:
    """Whether `due` has passed at `now`. A date is due at the end of that day (in the
    zone of `now`); a naive date-time is read in the zone of `now`. No due date: False."""
    when = parse_due(due)
    if when is None:
        return False
    if not isinstance(when, datetime):
        return now.date() > when
    if (when.tzinfo is None) != (now.tzinfo is None):
        if when.tzinfo is None:
            when = when.replace(tzinfo=now.tzinfo)
        else:
            now = now.astimezone()  # naive now is local time
    return now >= when


def _test_row(test: TestResult, *, show_details: bool, hidden_reason: str, cells: set[int]) -> dict[str, Any]:
    status = test.status if test.status in TEST_STATUSES else "unknown"
    row: dict[str, Any] = {
        "name": str(test.name),
        "points": f"{fmt_points(test.score)} / {fmt_points(test.max_score)}",
        "status": status,
        "visibility": test.visibility if test.visibility in VISIBILITIES else "hidden",
        "suite": str(test.suite),
        "description": "",
        "message": "",
        "note": "",
        "cell": None,
    }
    if show_details:
        row["description"] = truncate(str(test.description or ""), 2_000, "description")
        row["message"] = truncate(str(test.message or ""), MAX_OUTPUT_CHARS, "message")
        if isinstance(test.cell, int) and test.cell in cells:
            row["cell"] = test.cell
    else:
        row["note"] = hidden_reason
    return row


def _details(test: TestResult, *, instructor: bool, due_over: bool) -> tuple[bool, str]:
    if instructor or test.visibility == "visible":
        return True, ""
    if test.visibility == "after_due_date":
        if due_over:
            return True, ""
        return False, "details are shown after the due date"
    return False, "hidden test"  # "hidden" and anything unknown


def _bar_pct(score: Any, max_score: Any) -> str:
    try:
        frac = float(score) / float(max_score)
    except (TypeError, ValueError, ZeroDivisionError):
        frac = 0.0
    frac = 0.0 if frac != frac else min(max(frac, 0.0), 1.0)
    return f"{frac * 100:.1f}"


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def render_feedback(
    result: GradingResult,
    notebook: Any,
    out_path: Path,
    *,
    templates: Path,
    instructor: bool = False,
    now: datetime | None = None,
) -> Path:
    """Write the feedback page for `result` and the submitted `notebook` to `out_path`.

    `notebook` is the submitted nbformat v4 notebook as read (dict or NotebookNode);
    `templates` is the folder holding feedback.html.j2 and feedback_cells.html.j2;
    `instructor` shows every test message whatever its visibility; `now` (default: the
    current time, UTC) decides whether an "after_due_date" message is shown yet.
    """
    import jinja2
    from markupsafe import Markup

    templates = Path(templates)
    out_path = Path(out_path)
    now = now or datetime.now(timezone.utc)
    due = result.extra.get("due") if isinstance(result.extra, dict) else None
    due_over = due_passed(due, now)

    nb, infos, notes = _prepare_notebook(notebook, result)
    try:
        fragment, sanitiser = _render_notebook(nb, templates)
    except Exception as e:  # the page must not fail grading: show the rest without the notebook
        _log.exception("feedback: the notebook could not be rendered")
        notes.append(f"the notebook could not be rendered ({type(e).__name__}) and was left out of this page")
        fragment, sanitiser = "", Sanitiser()
    if sanitiser.as_text:
        notes.append(f"{sanitiser.as_text} HTML output(s) or markdown cell(s) shown as source text: too large, "
                     "too deeply nested, or past the page's budget for HTML")
    problems = unsafe_html(fragment)
    if problems:
        _log.error("feedback: notebook HTML left out, it was not inert: %s", problems[:5])
        notes.append("the notebook could not be shown safely and was left out of this page")
        fragment = ""
    elif len(fragment) > MAX_FRAGMENT_CHARS:
        notes.append("the notebook is too large to show and was left out of this page")
        fragment = ""

    cell_ids = {info.index for info in infos}
    rows = []
    for test in result.tests:
        show, reason = _details(test, instructor=instructor, due_over=due_over)
        rows.append(_test_row(test, show_details=show, hidden_reason=reason, cells=cell_ids))

    code = [i for i in infos if i.cell_type == "code"]
    counts: dict[str, int] = {}
    for info in code:
        key = info.status or "not run"
        counts[key] = counts.get(key, 0) + 1
    errors = [truncate(str(e), MAX_OUTPUT_CHARS, "error") for e in result.errors[:MAX_ERRORS]]
    if len(result.errors) > MAX_ERRORS:
        errors.append(f"... and {len(result.errors) - MAX_ERRORS} more grading errors")

    title = result.extra.get("title") if isinstance(result.extra, dict) else None
    key = str(templates.resolve())
    if key not in _page_envs:
        _page_envs[key] = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=True,  # everything is escaped but notebook_html and pygments_css
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    page = _page_envs[key].get_template("feedback.html.j2").render(
        csp=CSP,
        result=result,
        title=str(title) if title else "",
        score=fmt_points(result.score),
        max_score=fmt_points(result.max_score),
        bar_pct=_bar_pct(result.score, result.max_score),
        mode=str(result.mode),
        instructor=instructor,
        due=str(due) if due else "",
        due_over=due_over,
        tests=rows,
        test_counts=[(s, n) for s in (*TEST_STATUSES, "unknown") if (n := sum(r["status"] == s for r in rows))],
        problem_cells=[i for i in code if i.problem],
        cell_counts=sorted(counts.items()),
        code_cells=len(code),
        errors=errors,
        notes=notes,
        notebook_html=Markup(fragment),  # the only markup trusted: sanitised and checked above
        pygments_css=Markup(_pygments_css()),
        generated=now.strftime("%Y-%m-%d %H:%M %Z").strip(),
        graded_in=f"{result.duration:.1f} s" if isinstance(result.duration, (int, float)) else "?",
    )
    from grader.outputs import write_text  # no link following, atomic

    return write_text(out_path.parent, out_path.name, page)
