"""Regrade requests: `[regrades]` settings and the signed links on feedback pages (links).

The requests themselves live in the gradebook (grader.gradebook.regrades), the student and
staff pages in grader.serve.regrades, the CLI in grader.commands.regrades (docs/manual-grading.md).
Pure: imports only the standard library. Callers: grader.course.assignment, grader.batch,
grader.gradebook, grader.serve, grader.commands.
"""
