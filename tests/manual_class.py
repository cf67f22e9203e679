"""A class with a written and a figure question, built directly in the gradebook (no grading runs).

`build_class(url, n)` writes an assignment 'essay' (autograde max 10), n students with an
autograde score of 5 each, their answers to two questions (written 'why', figure 'plot'), and
two graders (instructor 'prof', TA 'ta1', password PASSWORD). Student s03's written answer
carries script and markup (HOSTILE). Used by the gradebook, app, browser and bench tests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from grader.gradebook.accounts import Accounts
from grader.gradebook.api import Gradebook, NewGrading, NewSubmission, TestOutcome
from grader.gradebook.manual import Manual
from grader.gradebook.scoring import LatePolicy
from grader.judge.results import GradingResult, TestResult
from grader.manual.answers import Answer
from grader.manual.questions import questions_of

PASSWORD = "correct horse battery"
HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
           '<b id="bold">bold?</b> {{ 7*7 }} \u202eevil')
ASSIGNMENT = "essay"

RUBRIC = [{"id": "core", "points": 1, "description": "states the core idea", "comment": "Good core idea."},
          {"id": "detail", "points": 1, "description": "explains why"},
          {"id": "wrong", "points": -1, "description": "a wrong claim", "comment": "This claim is wrong."}]
SOLUTION = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"dlgrade": {"assignment": ASSIGNMENT}}, "cells": [
    {"cell_type": "markdown", "metadata": {"dlgrade": {"question": {
        "id": "why", "kind": "written", "points": 2, "title": "Why it works", "rubric": RUBRIC,
        "evidence": [{"test": "test_a"}]}}},
     "source": "Why does it work?\n<!-- BEGIN ANSWER -->\nBecause.\n<!-- END ANSWER -->"},
    {"cell_type": "code", "metadata": {"dlgrade": {"question": {
        "id": "plot", "kind": "figure", "points": 1, "title": "The plot",
        "rubric": [{"id": "ok", "points": 1, "description": "readable plot"},
                   {"id": "axes", "points": -0.5, "description": "unlabelled axes"}]}}},
     "source": "# Plot it.\nplot()", "outputs": [], "execution_count": None},
]}


def png(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, format="PNG")
    return buf.getvalue()


def build_class(url: str, n: int = 20, graders: bool = True, feedback_dir: Path | None = None) -> Gradebook:
    """`feedback_dir`: also store a real notebook, a full result.json and a feedback page per
    student there, so that the feedback page can be rendered again from the gradebook."""
    gb = Gradebook.open(url)
    manual = Manual(gb.sessions)
    gb.ensure_assignment(ASSIGNMENT, "Essay", 10.0, LatePolicy())
    manual.sync_questions(ASSIGNMENT, questions_of(SOLUTION))
    figure = png()
    for i in range(1, n + 1):
        sid = f"s{i:02d}"
        text = HOSTILE if i == 3 else f"Answer of student {i}: the gradient flows."
        gb.ensure_students([{"id": sid, "name": f"Student Name {i}"}])
        test = TestOutcome("test_a", "hidden", 5.0, 10.0, "partial", f"sweep of {sid}: lr 0.1 best", "visible")
        result = {"tests": [{"name": test.name, "status": test.status, "score": test.score,
                             "max_score": test.max_score, "message": test.message}]}
        content, files = b"{}", ()
        if feedback_dir is not None:
            result = GradingResult(ASSIGNMENT, f"{sid}.ipynb", "submit", 5.0, 10.0, (TestResult(
                test.name, test.suite, test.score, test.max_score, test.status, test.message),)).to_json()
            content = json.dumps(SOLUTION).encode()
            page = feedback_dir / f"{sid}.html"
            page.write_text(f"<html><body>autograde page of {sid}</body></html>")
            files = (("feedback", str(page)),)
        gb.record_grading(
            NewSubmission(sid, ASSIGNMENT, f"{sid}.ipynb", f"hash{i:04d}", content),
            NewGrading("graded", 5.0, 10.0, result_json=json.dumps(result), tests=(test,), files=files,
                       answers=(Answer("why", text=text), Answer("plot", png=figure))))
    if graders:
        accounts = Accounts(gb.sessions)
        accounts.add_grader("prof", "instructor", PASSWORD)
        accounts.add_grader("ta1", "ta", PASSWORD)
        accounts.add_grader("ta2", "ta", PASSWORD)
    return gb
