"""The result of grading one notebook, and its JSON form (`result.json`).

The schema is documented in docs/result-schema.md. Every field is plain data so that
the same object feeds the JSON file, the HTML feedback and the LMS exports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.version import __version__

SCHEMA_VERSION = 1

#: Test statuses. "error" means the student's code could not be run to a verdict
#: (it raised, timed out or crashed the worker); "failed" means it ran and was wrong.
STATUSES = ("passed", "partial", "failed", "error", "skipped")

#: Who may read a test's message. The test's source is never shown, whatever this says.
#: visible: name, points and message are shown to the student.
#: after_due_date: name and points are shown; the message only once the due date has passed.
#: hidden: name and points are shown; the message only to instructors.
VISIBILITIES = ("visible", "after_due_date", "hidden")


@dataclass(frozen=True)
class TestResult:
    """One pytest test, scored by the judge."""

    __test__ = False  # not a pytest test class

    name: str
    suite: str  # "public" or "hidden"
    score: float
    max_score: float
    status: str
    message: str = ""
    visibility: str = "visible"
    duration: float = 0.0
    description: str = ""
    cell: int | None = None  # index of the notebook cell the failure points at, if known
    #: misconceptions a judge-side probe found behind this failure (grader.course.misconceptions):
    #: {"name", "title", "hint"} each
    diagnoses: tuple[dict[str, str], ...] = ()
    accuracy: float | None = None  # held-out accuracy the test measured (Credit.measured)
    accuracy_needed: float | None = None  # the accuracy full marks need, where the test says


@dataclass(frozen=True)
class CellRun:
    """How one code cell of the notebook ran in the worker.

    `index` is the cell's position in the notebook's cell list (markdown cells included),
    so the feedback page can point at it. `outputs` are nbformat v4 output dicts.
    """

    index: int
    status: str  # ok | error | timeout | crashed | skipped
    duration: float = 0.0
    outputs: tuple[dict[str, Any], ...] = ()
    message: str = ""  # one line for people, e.g. "ValueError: shapes do not match"


@dataclass(frozen=True)
class GradingResult:
    """Everything the grader concluded about one notebook."""

    assignment: str
    notebook: str
    mode: str  # "submit" (public + hidden) or "check" (public only)
    score: float
    max_score: float
    tests: tuple[TestResult, ...]
    cells: tuple[CellRun, ...] = ()
    errors: tuple[str, ...] = ()  # grading errors: worker restarts, limits hit, isolation warnings
    sandbox: str = "process"
    duration: float = 0.0
    grader_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = round(self.score, 6)
        data["max_score"] = round(self.max_score, 6)
        return data

    def write(self, path: Path) -> Path:
        """Write result.json at `path` atomically, never through a link (grader/outputs.py)."""
        from grader.outputs import write_text

        path = Path(path)
        return write_text(path.parent, path.name, json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")

    @staticmethod
    def from_json(data: dict[str, Any]) -> "GradingResult":
        tests = tuple(TestResult(**{**t, "diagnoses": tuple(t.get("diagnoses", ()))}) for t in data.get("tests", ()))
        cells = tuple(
            CellRun(**{**c, "outputs": tuple(c.get("outputs", ()))}) for c in data.get("cells", ())
        )
        fields = {k: v for k, v in data.items() if k not in ("tests", "cells", "errors")}
        return GradingResult(tests=tests, cells=cells, errors=tuple(data.get("errors", ())), **fields)


def total(tests: tuple[TestResult, ...] | list[TestResult]) -> tuple[float, float]:
    """(score, max_score) summed over tests."""
    return sum(t.score for t in tests), sum(t.max_score for t in tests)
