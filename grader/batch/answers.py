"""A submission's answers to the written and figure questions, at intake (judge side).

`answers_from_bytes` caps and parses the submitted notebook bytes (grader.course.notebook) and
reads one grader.manual.answers.Answer per question; `course_questions` reads the questions of
the assignment's solution. Here rather than in grader.manual, which must not import
grader.course (grader.course -> grader.gradebook -> grader.manual).

Callers: grader.batch.driver. Calls grader.course.notebook, grader.manual.
"""

from __future__ import annotations

import json
from typing import Any

from grader.manual.answers import Answer, read_answers
from grader.manual.questions import Question


def answers_from_bytes(data: bytes, questions: list[Question]) -> list[Answer]:
    """`read_answers` of notebook bytes; a file that is not a notebook gives notes, never an exception."""
    from grader.course.notebook import MAX_NOTEBOOK_BYTES, BadNotebook, check_notebook

    if not questions:
        return []
    try:
        if len(data) > MAX_NOTEBOOK_BYTES:
            raise BadNotebook("too large")
        nb = check_notebook(json.loads(data.decode("utf-8-sig")))
    except (BadNotebook, ValueError, RecursionError, MemoryError):
        return [Answer(q.id, note="the notebook could not be read") for q in questions]
    return read_answers(nb, questions)


def course_questions(solution_path: Any) -> list[Question]:
    """The questions of an assignment's solution notebook (QuestionError/BadNotebook if it is broken)."""
    from grader.course.notebook import read_notebook
    from grader.manual.questions import questions_of

    return questions_of(read_notebook(solution_path))
