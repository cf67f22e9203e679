"""Manually graded questions: written answers and figures, their rubrics, and reading students' answers.

- grader.manual.questions: the questions a solution notebook declares (cell metadata
  `dlgrade.question`), their rubrics and checks, and the blanking `grade assign` applies;
- grader.manual.answers: a student's answer text and figure from a submitted notebook (judge
  side, bounded and sanitised);
- grader.manual.images: decoding an untrusted image and re-encoding it as a capped PNG.

Callers: grader.authoring (assign, validate), grader.batch (intake of answers),
grader.gradebook.manual (storage), grader.serve (the grading app). Calls only grader.textsafe
and grader.course.notebook.
"""
