"""The notebook as the feedback page shows it: rebuilt from the submission, reduced and capped.

Nothing of the submitted notebook is passed on as it is: each cell is rebuilt from its type,
its source and a few attachments (no student metadata, tags, ids or widget state), and the
outputs are the worker's, reduced to a short list of mimetypes (one image or one text form per
output), every string truncated, the whole notebook sharing one size budget. The result is
plain data (`PreparedCell`) for grader.feedback.render; no HTML is made here.

Standard library only. Callers: grader.feedback.page.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from grader.judge.results import CellRun, GradingResult

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

CELL_STATUSES = ("ok", "error", "timeout", "crashed", "skipped")
PROBLEM_CELL_STATUSES = ("error", "timeout", "crashed", "skipped", "unknown")

#: Text forms, best first. LaTeX comes after plain text: math is not typeset (no MathJax),
#: and sympy's "x**2" reads better than "$\\displaystyle x^{2}$".
_TEXT_MIMETYPES = ("text/html", "text/markdown", "text/plain", "text/latex")
_IMAGE_MIMETYPES = ("image/png", "image/jpeg")
_SVG_MIMETYPE = "image/svg+xml"
_BASE64_RE = re.compile(r"[A-Za-z0-9+/=\s]*\Z")


@dataclass(frozen=True)
class PreparedCell:
    """One cell as the page shows it.

    `cell_type` is "code", "markdown" or "raw" (anything unknown is shown as raw);
    `outputs` are well-formed nbformat v4 output dicts (see `_clean_outputs`);
    `attachments` maps a markdown attachment's name to {mimetype: base64};
    `status` is a CELL_STATUSES value, "unknown", or "" (not a code cell / not run);
    `label` is the cell's header line ("cell 2 · In [2] · error · 0.02 s")."""

    index: int
    cell_type: str
    source: str
    outputs: tuple[dict[str, Any], ...] = ()
    attachments: tuple[tuple[str, dict[str, str]], ...] = ()
    status: str = ""
    label: str = ""
    message: str = ""
    problem: bool = False


@dataclass(frozen=True)
class PreparedNotebook:
    """The cells to show and the notes about what was left out."""

    cells: tuple[PreparedCell, ...]
    notes: tuple[str, ...]


class _Budget:
    """Characters of notebook content the page may still show."""

    def __init__(self, chars: int) -> None:
        self.chars = chars
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



def prepare_notebook(notebook: Any, result: GradingResult) -> PreparedNotebook:
    """The cells of the submitted `notebook` (a dict as read), with the worker's outputs from
    `result.cells`, within the page's caps. Total: any JSON shape gives a PreparedNotebook."""
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

    budget = _Budget(MAX_NOTEBOOK_CHARS)
    cells: list[PreparedCell] = []
    count = 0
    for index, cell in enumerate(cells_in[:MAX_CELLS]):
        if not isinstance(cell, dict):
            cell = {"cell_type": "raw", "source": "[malformed cell]"}
        cell_type = cell.get("cell_type")
        source = _as_text(cell.get("source"))
        run = runs.get(index)
        if cell_type == "code":
            source = budget.text(source, MAX_SOURCE_CHARS, "source")
            exec_count = None
            outputs: list[dict[str, Any]] = []
            if run is not None:
                if run.status != "skipped":
                    count += 1
                    exec_count = count
                outputs = _clean_outputs(run.outputs, budget)
            status, label = _cell_label(index, run, exec_count)
            message = truncate(_as_text(run.message), 2_000, "message") if run is not None else ""
            cells.append(PreparedCell(index, "code", source, tuple(outputs), (), status, label, message,
                                      status in PROBLEM_CELL_STATUSES))
        elif cell_type == "markdown":
            attachments = _clean_attachments(cell.get("attachments"), budget)
            source = budget.text(source, MAX_SOURCE_CHARS, "markdown")
            cells.append(PreparedCell(index, "markdown", source, attachments=tuple(attachments.items())))
        else:  # raw (or unknown): shown as text, never as markup
            cells.append(PreparedCell(index, "raw", budget.text(source, MAX_SOURCE_CHARS, "raw cell")))
    if len(cells_in) > MAX_CELLS:
        notes.append(f"only the first {MAX_CELLS} of {len(cells_in)} cells are shown")
    if budget.exhausted:
        notes.append("the notebook is too large to show in full: some sources or outputs were left out")
    return PreparedNotebook(tuple(cells), tuple(notes))
