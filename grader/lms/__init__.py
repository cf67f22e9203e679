"""LMS integration: Gradescope and PrairieLearn graders, Canvas and Moodle exports, feedback
bundles and the Canvas grade push.

One module per LMS (`gradescope`, `prairielearn`, `canvas`, `moodle`), plus `bundle` (what the
Gradescope zip and the PrairieLearn image share: the grader's wheel, a wheelhouse, the install
script and one assignment's course files) and `feedback` (per-student feedback zips).

These modules turn the judge's `GradingResult`s (grader.judge.results) and the gradebook's rows into
each LMS's formats, and may call grader.judge.pipeline, grader.course.assignment, grader.outputs and
grader.textsafe; nothing in the judge or the sandbox calls them. Student-derived text that
lands in a CSV goes through textsafe.csv_cell; files are written through grader.outputs.
"""

from __future__ import annotations


class LmsError(Exception):
    """A build, export or push cannot proceed; the message is one line for the instructor."""
