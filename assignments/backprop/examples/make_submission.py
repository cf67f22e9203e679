"""Write submission.ipynb: a believable student submission for `make demo`.

    .venv/bin/python assignments/backprop/examples/make_submission.py

It is the solution notebook as a student would hand it in (the `# BEGIN/END SOLUTION`
markers gone, a scratch cell of their own) with three classic mistakes:

1. `affine_backward` averages `db` over the batch instead of summing it;
2. `softmax_loss` exponentiates the raw scores (no max-shift), so it overflows to nan for
   scores around 1000;
3. `relu_backward` passes the gradient where `x >= 0`, and the short answer agrees (1.0).

The written question (dead ReLUs) keeps the solution's answer, for the grading app to show;
its rubric is dropped, as `grade assign` drops it from the starter.

So the demo shows a partial score: the affected tests fail with their messages, the rest
(training included) pass. Re-run this script after editing ../solution.ipynb; it stops with
an error if a mistake no longer applies.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from grader.manual.questions import STARTER_KEYS

HERE = Path(__file__).resolve().parent
SOLUTION = HERE.parent / "solution.ipynb"

#: (old, new) replacements in code cells; each `old` must occur exactly once in the notebook.
MISTAKES: list[tuple[str, str]] = [
    # 1. db averaged, not summed, over the batch.
    ("    db = dout.sum(axis=0)\n",
     "    db = dout.mean(axis=0)  # average over the batch\n"),
    # 2. softmax without the max-shift.
    ("    shifted = scores - scores.max(axis=1, keepdims=True)\n"
     "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
     "    loss = -log_probs[np.arange(n), y].mean()\n"
     "    dscores = np.exp(log_probs)\n",
     "    exp_scores = np.exp(scores)\n"
     "    probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)\n"
     "    loss = -np.log(probs[np.arange(n), y]).mean()\n"
     "    dscores = probs.copy()\n"),
    # 3. ReLU gradient passed at x == 0 too, and the short answer to match.
    ("    dx = dout * (x > 0)\n",
     "    dx = dout * (x >= 0)\n"),
    ("ANSWER_RELU_GRAD_AT_ZERO = 0.0",
     "ANSWER_RELU_GRAD_AT_ZERO = 1.0"),
]

#: A scratch cell the student left in, inserted after the cell defining softmax_loss.
SCRATCH = """\
# quick sanity check: random scores should give a loss of about log(10) = 2.3
print(softmax_loss(np.random.randn(5, 10), np.array([0, 1, 2, 3, 4]))[0])"""

_MARKER = re.compile(r"^[ \t]*# (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
_ONE_LINE = re.compile(r"[ \t]*#[ \t]*SOLUTION[ \t]*$", re.MULTILINE)


def build() -> nbformat.NotebookNode:
    nb = nbformat.read(str(SOLUTION), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _ONE_LINE.sub("", _MARKER.sub("", cell.source))
        question = cell.metadata.get("dlgrade", {}).get("question")
        if question:  # as the starter has it: no rubric; the written answer is the student's own
            cell.metadata["dlgrade"]["question"] = {k: question[k] for k in STARTER_KEYS if k in question}
    for old, new in MISTAKES:
        hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        if len(hits) != 1 or hits[0].source.count(old) != 1:
            raise SystemExit(f"make_submission: expected exactly one code cell containing {old!r}, "
                             f"found {len(hits)}; update MISTAKES for the new solution.ipynb")
        hits[0].source = hits[0].source.replace(old, new)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "def softmax_loss" in c.source)
    scratch = new_code_cell(SCRATCH)
    scratch["id"] = "student-scratch-1"
    nb.cells.insert(at + 1, scratch)
    if nb.metadata.get("dlgrade", {}).get("assignment") != "backprop":
        raise SystemExit("make_submission: solution.ipynb lost metadata.dlgrade.assignment")
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else HERE / "submission.ipynb"
    nbformat.write(build(), str(path))
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
