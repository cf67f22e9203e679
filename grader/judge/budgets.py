"""The judge's byte budgets on student text: what one string, one notebook and one result may keep.

The worker caps its own output, but nothing in the student's process is a control: these caps
are applied again on the judge's side to everything the worker sends that ends up in a result
(cell outputs, messages, reprs). Pure functions and one small accounting class; callers are
grader/judge/session.py (per string and per notebook) and grader/judge/pipeline.py (the whole result).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from grader.judge.results import GradingResult

#: One stream output keeps at most this much of its start and of its end (above the worker's own
#: 48 + 16 KiB, so that an honest worker's capped text passes whole).
STREAM_HEAD, STREAM_TAIL = 64 * 1024, 16 * 1024
#: One execute_result repr, one error value, one traceback (all its lines together).
REPR_CHARS, EVALUE_CHARS, TRACEBACK_CHARS = 20_000, 2_000, 16_000
MESSAGE_CHARS = 500  # a cell's one-line message


def cap_text(text: str, head: int = STREAM_HEAD, tail: int = STREAM_TAIL) -> str:
    """`text` with its middle cut out when longer than head + tail characters, the cut marked."""
    if len(text) <= head + tail:
        return text
    skipped = len(text) - head - tail
    return f"{text[:head]}\n... [{skipped} characters of output not kept by the grader] ...\n{text[-tail:] if tail else ''}"


def output_chars(output: dict[str, Any]) -> int:
    """The characters of student text one checked nbformat output holds."""
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "execute_result":
        return len(output.get("data", {}).get("text/plain", ""))
    return len(output.get("evalue", "")) + sum(len(t) for t in output.get("traceback", ()))


class TextBudget:
    """Student text kept over a whole notebook; past the budget, outputs become one short note."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.left = max_chars
        self.dropped = 0  # outputs not kept

    def keep(self, outputs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        kept: list[dict[str, Any]] = []
        for o in outputs:
            n = output_chars(o)
            if n <= self.left:
                self.left -= n
                kept.append(o)
            else:
                self.left = 0
                self.dropped += 1
        if len(kept) < len(outputs):
            kept.append({"output_type": "stream", "name": "stdout", "text": (
                f"[output not kept: the notebook used up the grader's budget of {self.max_chars // 1024} KiB "
                "of kept output (limits.text_kb)]\n")})
        return tuple(kept)


def result_bytes(result: GradingResult) -> int:
    return len(json.dumps(result.to_json(), indent=2).encode("utf-8"))


def fit_result(result: GradingResult, max_bytes: int) -> GradingResult:
    """`result`, cut to serialize within `max_bytes`: first cell outputs (from the last cell back),
    then test and cell messages. The score is never touched; a cut is said in the errors."""
    if result_bytes(result) <= max_bytes:
        return result
    note = (f"result.json was cut to fit the grader's {max_bytes // 1024} KiB limit (limits.result_kb): "
            "cell outputs, then messages, were left out",)
    cells = list(result.cells)
    for i in range(len(cells) - 1, -1, -1):
        if cells[i].outputs:
            cells[i] = dataclasses.replace(cells[i], outputs=())
            if i % 64 == 0:  # measuring is linear in the result: measure every few cells
                cut = dataclasses.replace(result, cells=tuple(cells), errors=result.errors + note)
                if result_bytes(cut) <= max_bytes:
                    return cut
    cut = dataclasses.replace(result, cells=tuple(cells), errors=result.errors + note)
    for limit in (500, 100, 0):
        cut = dataclasses.replace(
            cut,
            tests=tuple(dataclasses.replace(t, message=t.message[:limit]) for t in result.tests),
            cells=tuple(dataclasses.replace(c, message=c.message[:limit]) for c in cut.cells),
            errors=tuple(e[:max(limit, 200)] for e in result.errors[:50]) + note)
        if result_bytes(cut) <= max_bytes:
            break
    return cut
