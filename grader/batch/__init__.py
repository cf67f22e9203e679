"""Batch grading of a class: intake of folders and LMS archives, a warm pool of judge processes,
a resumable run that writes each student's files and one gradebook transaction per submission,
and what the instructor's commands (grader.commands.batch: override, extension, status,
export) do.

Modules: intake (reading submissions safely), roster, job (`grade_job`, the picklable
per-submission job and its warm judge), pool (the judge processes), driver (the run),
export, refresh (feedback pages after overrides), answers (the written and figure answers of a
submission at intake), single (`grade submit --db`: one grading into the gradebook). Calls the judge through job only, and the
gradebook through grader.gradebook.api; never grader.lms or grader.cluster (they call it).
"""
