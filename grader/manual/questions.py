"""Written and figure questions, declared in the solution notebook's cell metadata.

A question lives on the cell that holds the student's answer, as `metadata.dlgrade.question`:

    {"id": "dead_relu", "kind": "written", "points": 2, "title": "Dead ReLUs",
     "evidence": ["figure", {"test": "test_sweep_best_lr"}],
     "rubric": [{"id": "why", "points": 1, "description": "says the unit's input is always negative",
                 "comment": "A dead unit's input is negative for every example."}, ...]}

- `kind = "written"`: a markdown cell. The prompt is the text above the line
  `<!-- BEGIN ANSWER -->`; the answer lies between it and `<!-- END ANSWER -->`. `grade assign`
  replaces the answer with ANSWER_STUB and keeps the prompt and both markers.
- `kind = "figure"`: a code cell whose image output is graded (its code follows the ordinary
  `# BEGIN SOLUTION` markers). The figure is the cell's first image output.
- `evidence`: what the grading app shows beside the answer: "figure" (the question's figure),
  {"test": NAME} (that test's outcome in the student's result.json, e.g. the judge's re-run of
  a sweep). Default: the figure for figure questions, nothing for written ones.
- `rubric`: items with a unique `id`, `points` (positive adds, negative takes off), a
  `description` and an optional default `comment` the student sees when the item is applied.
  A question's score is the sum of its applied items, clipped to [0, points].

Pure functions; callers: grader.authoring, grader.batch, grader.gradebook.manual, grader.serve.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

KINDS = ("written", "figure")
BEGIN_ANSWER = "<!-- BEGIN ANSWER -->"
END_ANSWER = "<!-- END ANSWER -->"
ANSWER_STUB = "_YOUR ANSWER HERE_"
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_KEYS = ("id", "kind", "points", "title", "evidence", "rubric")
_ITEM_KEYS = ("id", "points", "description", "comment")
#: The most rubric items of one question (keys 1-9 reach the first nine).
MAX_ITEMS = 20


class QuestionError(ValueError):
    """A question's declaration is wrong; the message is one line naming the cell."""


@dataclass(frozen=True)
class RubricItem:
    """One rubric line: points (+ adds, - takes off), what it means, the comment the student sees."""

    id: str
    points: float
    description: str
    comment: str = ""


@dataclass(frozen=True)
class Question:
    """A manually graded question of an assignment, as the solution declares it."""

    id: str
    kind: str  # written | figure
    points: float
    title: str
    prompt: str  # the markdown above the answer (written) or the cell's code comment header (figure)
    cell: int  # index of the question's cell in the solution notebook
    rubric: tuple[RubricItem, ...]
    evidence: tuple[Any, ...] = ()  # "figure" | {"test": name}


def question_score(points: float, applied: list[float]) -> float:
    """The score from the applied items' points: their sum, clipped to [0, points]."""
    return round(min(points, max(0.0, sum(applied))), 6)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def declared(cell: Any) -> Any:
    """The raw `metadata.dlgrade.question` of a cell, or None."""
    if not isinstance(cell, dict):
        return None
    meta = cell.get("metadata")
    dl = meta.get("dlgrade") if isinstance(meta, dict) else None
    return dl.get("question") if isinstance(dl, dict) else None


def split_written(source: str) -> tuple[str, str] | None:
    """(prompt, answer) of a written answer cell, or None when its markers are missing or out of order."""
    begin, end = source.find(BEGIN_ANSWER), source.find(END_ANSWER)
    if begin < 0 or end < begin:
        return None
    return source[:begin].rstrip(), source[begin + len(BEGIN_ANSWER):end].strip()


def blank_written(source: str) -> str:
    """The starter's cell: the prompt, then the markers around ANSWER_STUB (idempotent)."""
    parts = split_written(source)
    if parts is None:
        raise QuestionError(f"a written question needs '{BEGIN_ANSWER}' and, after it, '{END_ANSWER}'")
    begin, end = source.find(BEGIN_ANSWER), source.find(END_ANSWER)
    return f"{source[:begin]}{BEGIN_ANSWER}\n{ANSWER_STUB}\n{source[end:]}"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise QuestionError(f"{what} must be a number, not {value!r}")
    return float(value)


def _text(value: Any, what: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise QuestionError(f"{what} must be a string, not {type(value).__name__}")
    return value


def parse_question(raw: Any, cell: dict[str, Any], index: int) -> Question:
    """Check one declaration; QuestionError("cell N: ...") when it is wrong."""
    try:
        return _parse(raw, cell, index)
    except QuestionError as e:
        raise QuestionError(f"cell {index}: {e}") from None


def _parse(raw: Any, cell: dict[str, Any], index: int) -> Question:
    if not isinstance(raw, dict):
        raise QuestionError("metadata.dlgrade.question must be an object")
    for key in raw:
        if key not in _KEYS:
            raise QuestionError(f"unknown question key {key!r} (allowed: {', '.join(_KEYS)})")
    qid = raw.get("id")
    if not isinstance(qid, str) or not _ID_RE.match(qid):
        raise QuestionError(f"question id {qid!r} must be a letter then letters, digits, '_' or '-'")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise QuestionError(f"question {qid}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    want = "markdown" if kind == "written" else "code"
    if cell.get("cell_type") != want:
        raise QuestionError(f"question {qid}: a {kind} question belongs on a {want} cell")
    points = _number(raw.get("points"), f"question {qid}: points")
    if points <= 0:
        raise QuestionError(f"question {qid}: points must be positive")
    source = _source(cell)
    if kind == "written":
        parts = split_written(source)
        if parts is None:
            raise QuestionError(f"question {qid}: a written question needs '{BEGIN_ANSWER}' and, after "
                                f"it, '{END_ANSWER}' in its cell")
        prompt = parts[0]
    else:
        prompt = "\n".join(line for line in source.splitlines() if line.lstrip().startswith("#")
                           and "SOLUTION" not in line)
    title = _text(raw.get("title"), f"question {qid}: title", qid)
    items_raw = raw.get("rubric")
    if not isinstance(items_raw, list) or not items_raw:
        raise QuestionError(f"question {qid}: rubric must be a non-empty list of items")
    if len(items_raw) > MAX_ITEMS:
        raise QuestionError(f"question {qid}: at most {MAX_ITEMS} rubric items")
    items, seen = [], set()
    for n, item in enumerate(items_raw):
        where = f"question {qid}: rubric item {n + 1}"
        if not isinstance(item, dict):
            raise QuestionError(f"{where} must be an object")
        for key in item:
            if key not in _ITEM_KEYS:
                raise QuestionError(f"{where}: unknown key {key!r} (allowed: {', '.join(_ITEM_KEYS)})")
        iid = item.get("id")
        if not isinstance(iid, str) or not _ID_RE.match(iid):
            raise QuestionError(f"{where}: id {iid!r} must be a letter then letters, digits, '_' or '-'")
        if iid in seen:
            raise QuestionError(f"{where}: id {iid!r} used twice")
        seen.add(iid)
        description = _text(item.get("description"), f"{where}: description").strip()
        if not description:
            raise QuestionError(f"{where}: description is empty")
        items.append(RubricItem(iid, _number(item.get("points"), f"{where}: points"), description,
                                _text(item.get("comment"), f"{where}: comment")))
    evidence = raw.get("evidence", ["figure"] if kind == "figure" else [])
    if not isinstance(evidence, list):
        raise QuestionError(f"question {qid}: evidence must be a list")
    for e in evidence:
        ok = e == "figure" and kind == "figure" or (
            isinstance(e, dict) and set(e) == {"test"} and isinstance(e["test"], str) and e["test"])
        if not ok:
            raise QuestionError(f"question {qid}: evidence {e!r} is not \"figure\" (figure questions) "
                                "or {\"test\": NAME}")
    return Question(qid, kind, points, title, prompt, index, tuple(items), tuple(evidence))


def rubric_problems(q: Question) -> list[str]:
    """Why a rubric does not add up: full marks must be reachable and no item may exceed the points."""
    out = []
    positive = sum(i.points for i in q.rubric if i.points > 0)
    if positive + 1e-9 < q.points:
        out.append(f"question {q.id}: its positive rubric items add up to {positive:g}, less than its "
                   f"{q.points:g} points; full marks cannot be reached")
    for i in q.rubric:
        if abs(i.points) > q.points + 1e-9:
            out.append(f"question {q.id}: rubric item {i.id} is worth {i.points:g}, more than the "
                       f"question's {q.points:g} points")
    return out


STARTER_KEYS = ("id", "kind", "points", "title")


def starter_cell(cell: dict[str, Any]) -> None:
    """Make a question's cell the starter's, in place: the answer blanked (written questions) and
    the declaration cut to STARTER_KEYS (the rubric stays with the judge). Idempotent."""
    raw = declared(cell)
    if not isinstance(raw, dict):
        return
    cell["metadata"]["dlgrade"]["question"] = {k: raw[k] for k in STARTER_KEYS if k in raw}
    if raw.get("kind") == "written":
        cell["source"] = blank_written(_source(cell))


def questions_of(nb: dict[str, Any]) -> list[Question]:
    """Every question a notebook declares, in cell order; QuestionError for a bad one or a repeated id.

    A starter's cut declaration (no `rubric` key) is skipped: only solutions hold whole ones."""
    out: list[Question] = []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        raw = declared(cell)
        if raw is None or isinstance(raw, dict) and "rubric" not in raw and set(raw) <= set(STARTER_KEYS):
            continue
        q = parse_question(raw, cell, index)
        if any(o.id == q.id for o in out):
            raise QuestionError(f"cell {index}: question id {q.id!r} is declared twice")
        out.append(q)
    return out


def question_ids(nb: dict[str, Any]) -> dict[str, int]:
    """question id -> cell index, for every cell carrying a declaration with a string id (no checks)."""
    out: dict[str, int] = {}
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        raw = declared(cell)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"] not in out:
            out[raw["id"]] = index
    return out
