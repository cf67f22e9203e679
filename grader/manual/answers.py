"""A student's answers to the manually graded questions, read from their notebook (judge side).

The notebook is the submitted one, already size-capped and parsed by
grader.course.notebook.read/check_notebook. For each question of the solution, the student's
cell is the one carrying the same `metadata.dlgrade.question.id` (Jupyter keeps cell metadata),
else the cell at the solution's index if it has the same type. A written answer is the text
between the answer markers (the whole cell if the student removed them), neutralised by
grader.textsafe.clean_text and capped; a figure is the cell's first image output, re-encoded
by grader.manual.images. Total: any notebook gives one `Answer` per question, with a note
saying what was missing or refused.

Callers: grader.batch.answers (grade batch: notebook bytes to answers), grader.gradebook.manual.
Calls grader.manual.questions/images and grader.textsafe only (no grader.course: the gradebook
imports this package, and grader.course imports the gradebook's scoring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.manual.images import ImageRefused, decode_base64, reencode_png
from grader.manual.questions import ANSWER_STUB, Question, declared, split_written
from grader.textsafe import clean_text

#: The most characters of a written answer kept (a few pages).
MAX_ANSWER_CHARS = 20_000
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")


@dataclass(frozen=True)
class Answer:
    """One student's answer to one question: sanitised text, a re-encoded PNG, and a note."""

    question: str
    text: str = ""  # written answers: the answer; figures: ""
    png: bytes | None = None  # figures: the re-encoded image
    note: str = ""  # what was missing or refused, for the grader


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _find(nb: dict[str, Any], q: Question) -> dict[str, Any] | None:
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    for cell in cells:
        raw = declared(cell)
        if isinstance(raw, dict) and raw.get("id") == q.id:
            return cell
    want = "markdown" if q.kind == "written" else "code"
    all_cells = nb.get("cells", [])
    if q.cell < len(all_cells) and isinstance(all_cells[q.cell], dict) \
            and all_cells[q.cell].get("cell_type") == want:
        return all_cells[q.cell]
    return None


def read_answer(nb: dict[str, Any], q: Question) -> Answer:
    """The student's answer to `q` in notebook `nb` (see the module docstring)."""
    cell = _find(nb, q)
    if cell is None:
        return Answer(q.id, note="the question's cell is not in the notebook")
    if q.kind == "written":
        source = _source(cell)
        parts = split_written(source)
        text = parts[1] if parts is not None else source
        note = "" if parts is not None else "the answer markers were removed; the whole cell is shown"
        text = clean_text(text, MAX_ANSWER_CHARS).strip()
        if text == ANSWER_STUB or not text:
            return Answer(q.id, note="no answer")
        return Answer(q.id, text=text, note=note)
    outputs = cell.get("outputs")
    for out in outputs if isinstance(outputs, list) else []:
        data = out.get("data") if isinstance(out, dict) else None
        if not isinstance(data, dict):
            continue
        for mime in IMAGE_MIMES:
            if mime in data:
                try:
                    return Answer(q.id, png=reencode_png(decode_base64(data[mime])))
                except ImageRefused as e:
                    return Answer(q.id, note=f"figure refused: {e}")
    return Answer(q.id, note="no figure: run the cell so that the notebook keeps its plot")


def read_answers(nb: dict[str, Any], questions: list[Question]) -> list[Answer]:
    """One Answer per question, in the questions' order."""
    return [read_answer(nb, q) for q in questions]
