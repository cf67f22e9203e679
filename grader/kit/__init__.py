"""Student kits: what a student gets for one assignment, and how it is checked without the course.

A kit is a folder (or a zip of one) holding nothing secret:

    kit.json            the manifest: assignment id, course digest, compatible grader versions,
                        and the sha256 of every other file
    assignment.toml     the assignment's settings, less the judge's own (reference, late, lms)
    <id>.ipynb          the starter notebook
    tests/public/...    the public tests, as the judge runs them
    data/...            the public data: <dataset>_train.npz and the assignment's [data] files

Public tests run from a kit without reference code: they compare with literals or with torch
as the oracle (docs/authoring.md, "Public tests run from the kit"); `grade validate` refuses
public tests that ask for the judge's fixtures (reference, heldout, rng) and checks that the
solution gets the same verdicts from its kit as from the course.

- `build`: `grade kit ASSIGNMENT [-o DIR|FILE.zip]` (judge side: reads the course);
- `load`: find and read a kit; its `Assignment` for `grade check NB --kit DIR`;
- `inkernel`: `grader.check()`, the public tests in the student's own Jupyter kernel (a
  courtesy, never evidence).

May call grader.course, grader.judge (results, pytest_plugin, remote), grader.worker.wire, grader.feedback
(lines, page), grader.textsafe, grader.outputs; grader.authoring calls it, never the reverse.
"""
