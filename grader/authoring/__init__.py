"""Commands for course authors: `grade assign` (starter from solution) and `grade validate`.

May call: grader.course and grader.judge (validate grades the solution and starter).
Called by: the CLI.
"""
