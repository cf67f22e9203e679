"""What the instructor sees after a batch: the class report and the similarity report.

Owns: reading one assignment's standing from the gradebook (`grader.gradebook.api`, read-only),
turning it into numbers (`classdata`: score distributions, per-test pass rates, failure
clusters, run times, grader errors, held-out accuracies), plots (`plots`, matplotlib on the Agg
backend), the static pages (`page`, jinja2 templates from templates/), and the code-similarity
analysis (`similarity`, copydetect on the students' own code cells).

May call: grader.gradebook.api, grader.course.notebook, grader.course.assignment, grader.textsafe,
grader.outputs. Nothing here runs student code or writes the gradebook.
"""
