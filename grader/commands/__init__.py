"""The command groups of `grade` beyond grading one notebook, and what every group shares.

- common: the error exit (`fail`: one neutralised `error: ...` line, exit 2) and the options
  that read the same everywhere (--course, --db, --sandbox, --gpus, --limit).
- batch: batch, override, extension, status, export (calls grader.batch, grader.cluster,
  grader.lms.export, grader.gradebook).
- lms: gradescope build, prairielearn build, feedback, push canvas (calls grader.lms).
- report: report, similarity (calls grader.report).
- serve: serve, graders add|list|remove (calls grader.serve, grader.gradebook.manual).
- regrades: regrades list|show|resolve (calls grader.gradebook.regrades, grader.batch.refresh).

grader.cli holds the group itself (submit, check, data, assign, validate, list, sandbox) and
registers these. Each module imports only click at module level and its stage when a command
runs, so `grade --help` stays fast. Nothing in a stage imports this package: it is the top.
"""
