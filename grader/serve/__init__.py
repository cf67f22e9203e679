"""`grade serve`: the grading web app for written and figure questions (Flask, server-rendered).

- grader.serve.app: the Flask app (routes, sessions, error pages);
- grader.serve.guard: what every page shares (the CSP, the CSRF check, AppError, the public endpoints);
- grader.serve.regrades: the regrade pages (a student's signed link, the staff queue);
- `grade serve` and `grade graders add|list|remove` live in grader.commands.serve;
- templates/ (jinja2, autoescaped) and static/ (the one script, the style sheet).

The gradebook is the only store (grader.gradebook.manual); the app holds no state of its own
besides the signed session cookie. Routes are by assignment, question and position in the
seeded order (/a/<assignment>/q/<question>/<n>), so a per-item link or a queue of requests
can point at any answer. Calls grader.gradebook, grader.regrades (signed links) and
grader.batch.refresh (a student's page written again after a resolution).
"""
