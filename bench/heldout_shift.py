"""How much the per-course variation of held-out inputs moves each solution's accuracy.

For each assignment with a held-out accuracy test, the reference solution's notebook runs once
in the process sandbox; its model is then measured on the clean held-out split and on the
split as the judge hands it out (grader.course.datasets.perturb_heldout) for a few course secrets.
It also measures a lookup table of the public digits set (scikit-learn's, which holds the
held-out rows): exact and rounded to the digits' 1/16 grid.

    .venv/bin/python bench/heldout_shift.py [--secrets '' course-a course-b]

Prints one line per assignment and secret. Numbers are for the report, not asserted here.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from grader.course import datasets
from grader.course.assignment import load_assignment
from grader.course.notebook import code_cells, read_notebook
from grader.judge.pipeline import worker_spec
from grader.judge.remote import Submission
from grader.judge.session import WorkerSession
from grader.judge.torch_remote import RemoteTorch
from grader.sandbox import get_backend

SETTINGS: list[tuple[float, float]] = []  # (shift, noise) pairs to try instead of the defaults


def _scores(assignment: str, sub: Submission, X: np.ndarray) -> np.ndarray:
    if assignment == "backprop":
        return sub.best_net.loss(X)
    images = X.reshape(-1, 1, 8, 8).astype(np.float32)
    if assignment == "cnn":
        return sub.predict_scores(sub.cnn_model, images)
    rt = RemoteTorch(sub)
    model = getattr(sub, {"regularization": "reg_model", "rnn": "seq_model"}.get(assignment, "ft_model"))
    model.eval()
    rows = assignment in ("rnn", "attention")  # (N, 8, 8): sequences of 8 rows
    return rt.forward(model, X.reshape(-1, 8, 8) if rows else images)


def measure(assignment_id: str, secrets: list[str]) -> None:
    a = load_assignment(assignment_id)
    (name,) = a.datasets
    split = datasets.load(name)
    data = Path(tempfile.mkdtemp(prefix="dlgrade-bench-")) / "data"
    datasets.write_public(a.datasets, data, a.public_files)
    session = WorkerSession(get_backend("process"), worker_spec(a, data), code_cells(read_notebook(a.solution)),
                            forbidden=a.forbidden_imports)
    try:
        session.run_notebook()
        sub = Submission(session)
        clean = float(np.mean(np.argmax(_scores(assignment_id, sub, split.X_heldout), 1) == split.y_heldout))
        for shift, noise in SETTINGS or [(datasets.HELDOUT_MAX_SHIFT, datasets.HELDOUT_NOISE_STD)]:
            datasets.HELDOUT_MAX_SHIFT, datasets.HELDOUT_NOISE_STD = shift, noise
            for secret in secrets:
                X = datasets.perturb_heldout(name, split.X_heldout, secret)
                acc = float(np.mean(np.argmax(_scores(assignment_id, sub, X), 1) == split.y_heldout))
                print(f"{assignment_id:15s} shift {shift:.2f} noise {noise:.3f} secret={secret!r:10s} "
                      f"clean {clean:.3f}  varied {acc:.3f}  change {acc - clean:+.3f}", flush=True)
    finally:
        session.close()


def lookup(secrets: list[str]) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data / 16.0, d.target
    exact = {row.tobytes(): label for row, label in zip(X, y)}
    grid = {np.round(row * 16).astype(np.uint8).tobytes(): label for row, label in zip(X, y)}
    split = datasets.load("digits")
    settings = SETTINGS or [(datasets.HELDOUT_MAX_SHIFT, datasets.HELDOUT_NOISE_STD)]
    for secret, (shift, noise) in itertools.product(["(clean)", *secrets], settings):
        datasets.HELDOUT_MAX_SHIFT, datasets.HELDOUT_NOISE_STD = shift, noise
        H = split.X_heldout if secret == "(clean)" else datasets.perturb_heldout("digits", split.X_heldout, secret)
        e = np.mean([exact.get(r.tobytes(), -1) == t for r, t in zip(H, split.y_heldout)])
        g = np.mean([grid.get(np.round(r * 16).astype(np.uint8).tobytes(), -1) == t
                     for r, t in zip(H, split.y_heldout)])
        print(f"lookup table    shift {shift:.2f} noise {noise:.3f} secret={secret!r:10s} "
              f"exact {e:.3f}  rounded to 1/16 {g:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", nargs="*", default=["", "course-a", "course-b"])
    parser.add_argument("--assignments", nargs="*", default=["backprop", "cnn", "regularization", "finetune", "rnn", "attention"])
    parser.add_argument("--try", dest="settings", nargs="*", default=[], metavar="SHIFT,NOISE",
                        help="other (max shift, noise std) pairs to measure, e.g. 0.2,0.02")
    args = parser.parse_args()
    SETTINGS[:] = [tuple(float(v) for v in s.split(",")) for s in args.settings]
    lookup(args.secrets)
    for a in args.assignments:
        measure(a, args.secrets)


if __name__ == "__main__":
    main()
