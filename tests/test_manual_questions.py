"""Written and figure questions: declaration checks, `grade assign` blanking, `grade validate` rules."""

from __future__ import annotations

import copy

import pytest

from grader.authoring.assign import AssignError, assign
from grader.authoring.validate import question_problems
from grader.course.assignment import list_assignments
from grader.course.notebook import read_notebook
from grader.manual.questions import (
    ANSWER_STUB,
    QuestionError,
    question_score,
    questions_of,
    rubric_problems,
    split_written,
)

RUBRIC = [{"id": "a", "points": 1, "description": "one", "comment": "secret hint"},
          {"id": "b", "points": 1, "description": "two"},
          {"id": "c", "points": -0.5, "description": "wrong"}]


def _nb(question: dict, source: str = "Why?\n<!-- BEGIN ANSWER -->\nBecause.\n<!-- END ANSWER -->",
        kind: str = "markdown") -> dict:
    cell = {"cell_type": kind, "metadata": {"dlgrade": {"question": question}}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"dlgrade": {"assignment": "x"}},
            "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
                       "execution_count": None}, cell]}


def _q(**kw: object) -> dict:
    return {"id": "why", "kind": "written", "points": 2, "rubric": copy.deepcopy(RUBRIC), **kw}


def test_written_question_blanked_prompt_kept_rubric_stays_with_judge() -> None:
    starter = assign(_nb(_q()))
    cell = starter["cells"][1]
    assert cell["source"].startswith("Why?")
    assert split_written(cell["source"]) == ("Why?", ANSWER_STUB)
    assert "Because" not in cell["source"]
    assert cell["metadata"]["dlgrade"]["question"] == {"id": "why", "kind": "written", "points": 2}
    assert "secret hint" not in str(starter)
    assert assign(starter) == starter  # idempotent


def test_figure_question_code_is_stripped() -> None:
    src = "# Plot it.\n# BEGIN SOLUTION\nplot()\n# END SOLUTION"
    starter = assign(_nb(_q(kind="figure"), src, kind="code"))
    assert "plot()" not in starter["cells"][1]["source"]
    q = questions_of(_nb(_q(kind="figure"), src, kind="code"))[0]
    assert q.evidence == ("figure",) and q.prompt == "# Plot it."


@pytest.mark.parametrize("change, message", [
    ({"kind": "essay"}, "kind must be one of"),
    ({"points": 0}, "points must be positive"),
    ({"rubric": []}, "non-empty list"),
    ({"rubric": [{"id": "a", "points": 1, "description": ""}]}, "description is empty"),
    ({"rubric": [{"id": "a", "points": 1, "description": "x"}, {"id": "a", "points": 1, "description": "y"}]},
     "used twice"),
    ({"evidence": ["figure"]}, "evidence"),
    ({"colour": "red"}, "unknown question key"),
])
def test_bad_declarations_are_refused_with_the_cell(change: dict, message: str) -> None:
    with pytest.raises(QuestionError, match=message) as e:
        questions_of(_nb(_q(**change)))
    assert str(e.value).startswith("cell 1:")
    with pytest.raises(AssignError):
        assign(_nb(_q(**change)))


def test_written_question_without_markers_is_refused() -> None:
    with pytest.raises(QuestionError, match="BEGIN ANSWER"):
        questions_of(_nb(_q(), "Why? Because."))


def test_rubric_must_add_up() -> None:
    q = questions_of(_nb(_q(points=3)))[0]
    assert "full marks cannot be reached" in rubric_problems(q)[0]
    q = questions_of(_nb(_q(points=0.5)))[0]
    assert any("more than the question's" in p for p in rubric_problems(q))
    assert rubric_problems(questions_of(_nb(_q()))[0]) == []


def test_question_score_is_clipped() -> None:
    assert question_score(2, [1, 1, 1]) == 2
    assert question_score(2, [-0.5]) == 0
    assert question_score(2, [1, -0.5]) == 0.5


def test_validate_finds_a_question_missing_from_the_starter_and_a_leaked_answer() -> None:
    solution = _nb(_q(evidence=[{"test": "test_gone"}]))
    starter = assign(solution)
    problems = question_problems(solution, starter, {"test_other"})
    assert problems == ["solution: question why: evidence names test 'test_gone', which no test file defines"]
    leaked = copy.deepcopy(starter)
    leaked["cells"][1]["source"] = solution["cells"][1]["source"]
    assert any("not blanked" in p for p in question_problems(solution, leaked, {"test_gone"}))
    leaked["cells"].pop()
    assert any("not in the starter" in p for p in question_problems(solution, leaked, {"test_gone"}))


def test_every_shipped_assignment_asks_a_manual_question_that_validates() -> None:
    from grader.authoring.validate import collect_tests

    for spec in list_assignments():
        solution, starter = read_notebook(spec.solution), read_notebook(spec.starter)
        assert questions_of(solution), spec.id
        assert question_problems(solution, starter, {t.name for t in collect_tests(spec)[0]}) == [], spec.id
