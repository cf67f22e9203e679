"""`grade submit NOTEBOOK --db URL --student ID`: record one grading in the gradebook.

The same record a batch writes for one student: the submission (its bytes, hashed), the
grading (score, result.json, per-test scores, the output files), and the student's written
and figure answers (grader.batch.answers), with the assignment's questions synced first.
Manual grades already in the gradebook stay (grader.gradebook.manual keeps them across
regrades). Callers: grader.cli. Calls grader.gradebook, grader.batch.answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from grader.textsafe import one_line

#: The longest student id `--student` accepts.
MAX_STUDENT_CHARS = 200


def check_student(student: str) -> str:
    """The id as given, or ValueError with one line when it cannot be a gradebook id."""
    if not student.strip() or len(student) > MAX_STUDENT_CHARS or one_line(student, MAX_STUDENT_CHARS) != student:
        raise ValueError(f"--student must be 1 to {MAX_STUDENT_CHARS} printable characters on one line")
    return student


def record_submit(db: str | None, spec: Any, student: str, notebook: Path, data: bytes, result: Any,
                  result_path: Path, feedback_path: Path, sandbox: str) -> None:
    """Write the grading of `student`'s `notebook` (bytes `data`) into the gradebook at `db`.
    GradebookError / QuestionError / BadNotebook go to the caller."""
    from grader import __version__
    from grader.batch.answers import answers_from_bytes, course_questions
    from grader.gradebook.api import Gradebook, NewGrading, NewSubmission, TestOutcome
    from grader.gradebook.manual import Manual

    questions = course_questions(spec.solution) if spec.solution.is_file() else []
    gb = Gradebook.open(db)
    try:
        gb.ensure_assignment(spec.id, spec.title, gb.autograde_max(spec.id) or result.max_score, spec.late,
                             spec.regrades)
        Manual(gb.sessions).sync_questions(spec.id, questions)
        tests = tuple(TestOutcome(t.name, t.suite, t.score, t.max_score, t.status, t.message, t.visibility)
                      for t in result.tests)
        gb.record_grading(
            NewSubmission(student, spec.id, notebook.name, hashlib.sha256(data).hexdigest(), data, "submit"),
            NewGrading("graded", result.score, result.max_score, result_json=json.dumps(result.to_json()),
                       duration=result.duration, grader_version=__version__, sandbox=sandbox, tests=tests,
                       files=(("result", str(result_path)), ("feedback", str(feedback_path))),
                       answers=tuple(answers_from_bytes(data, questions))))
    finally:
        gb.dispose()
