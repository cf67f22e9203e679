"""Held-out data: varied per course so lookups miss, and not carried out through messages.

- The held-out digits are rows of scikit-learn's public digits set, so a notebook could embed
  that set as a table. The judge hands out the held-out inputs shifted by a fraction of a pixel
  and noised, per course secret (grader.course.datasets.perturb_heldout): such a table scores nothing
  (here: the same table gets every clean held-out row right).
- A notebook that keeps the inputs it was given and puts them into later error messages leaks
  no held-out value into result.json or the feedback page: tests that use held-out data run
  last, student exception text is not shown once held-out data has reached the notebook, and
  all other messages from then on are bounded (HELDOUT_MESSAGE_CHARS each, HELDOUT_MESSAGE_BUDGET
  in all).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import textwrap
from pathlib import Path

import numpy as np

from grader.course import datasets
from grader.course.assignment import load_assignment, templates_dir
from grader.course.notebook import read_notebook
from grader.feedback import render_feedback
from grader.judge.pipeline import grade
from grader.judge.pytest_plugin import HELDOUT_MESSAGE_BUDGET, HELDOUT_MESSAGE_CHARS

BACKPROP = load_assignment("backprop")
FAST = dataclasses.replace(BACKPROP, limits=dataclasses.replace(
    BACKPROP.limits, cell_seconds=30, notebook_seconds=120, call_seconds=10))


def _cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def _public_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target


def _lookup_cell() -> str:
    X, y = _public_digits()
    table = base64.b64encode(np.round(X * 16).astype(np.uint8).tobytes()).decode()
    labels = base64.b64encode(y.astype(np.uint8).tobytes()).decode()
    return textwrap.dedent(f'''
        import base64
        _rows = np.frombuffer(base64.b64decode("{table}"), dtype=np.uint8).reshape(-1, 64)
        _labels = np.frombuffer(base64.b64decode("{labels}"), dtype=np.uint8)
        _table = {{r.tobytes(): int(k) for r, k in zip(_rows, _labels)}}

        class LookupNet:
            """No training: each row looked up in the public digits set (rounded to its 1/16 grid)."""

            def loss(self, X, y=None):
                scores = np.zeros((len(X), 10))
                for i, row in enumerate(np.asarray(X)):
                    k = _table.get(np.round(row * 16).astype(np.uint8).tobytes())
                    if k is not None:
                        scores[i, k] = 1.0
                return scores

        best_net = LookupNet()
    ''')


def test_a_lookup_table_of_the_public_digits_no_longer_scores():
    X, y = _public_digits()
    split = datasets.load("digits")
    grid = {np.round(r * 16).astype(np.uint8).tobytes(): k for r, k in zip(X, y)}
    clean = np.mean([grid.get(np.round(r * 16).astype(np.uint8).tobytes()) == k
                     for r, k in zip(split.X_heldout, split.y_heldout)])
    assert clean == 1.0  # the attack is real: on the clean held-out rows the table is perfect

    nb = read_notebook(BACKPROP.starter)
    nb["cells"].append(_cell(_lookup_cell()))
    result = grade(nb, FAST)
    test = next(t for t in result.tests if t.name == "test_best_net_accuracy")
    assert test.score == 0, (test.status, test.message)
    acc = float(re.search(r"accuracy on held-out digits: ([0-9.]+)", test.message).group(1))
    assert acc < 0.2, test.message  # chance level (empty rows score as class 0), not the table's 1.0


def test_the_variation_is_per_course_bounded_and_repeatable():
    split = datasets.load("digits")
    a = datasets.perturb_heldout("digits", split.X_heldout, "course-a")
    assert a.shape == split.X_heldout.shape and a.dtype == np.float64
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, datasets.perturb_heldout("digits", split.X_heldout, "course-a"))
    assert not np.array_equal(a, datasets.perturb_heldout("digits", split.X_heldout, "course-b"))
    assert not np.any(np.all(a == split.X_heldout, axis=1))  # no row is handed out unchanged
    # small: the mean change of a pixel stays a fraction of one grey level step (1/16)
    assert np.mean(np.abs(a - split.X_heldout)) < 1 / 16


LEAKY_TESTS = '''
import numpy as np
import pytest

@pytest.mark.points(1)
def test_a_before(submission):
    """runs first; the notebook holds nothing yet"""
    submission.echo()

@pytest.mark.points(1)
def test_b_hands_out(submission, heldout):
    X, y = heldout("digits")
    submission.keep(X)

@pytest.mark.points(1)
def test_c_after(submission, heldout):
    heldout("digits")
    submission.echo()

@pytest.mark.points(1)
def test_d_no_heldout_but_later_in_the_file(submission):
    submission.echo()

@pytest.mark.points(1)
@pytest.mark.parametrize("k", range(8))
def test_e_long_assertions(submission, heldout, k):
    heldout("digits")
    got = submission.describe(k)
    assert got == "fine", f"describe({k}) returned {got}"
'''

LEAKY_NOTEBOOK = '''
import numpy as np
_kept = []

def _rows(n):
    return " | ".join("LEAK " + " ".join(f"{v:.4f}" for v in row) for row in _kept[0][:n])

def keep(X):
    _kept.append(np.array(X))
    raise ValueError(_rows(5))

def echo():
    raise ValueError(_rows(50) if _kept else "nothing kept yet")

def describe(k):
    return _rows(10) if _kept else "fine"
'''


def _leaky_assignment(tmp_path: Path):
    root = tmp_path / "assignments" / "leaky"
    (root / "tests" / "hidden").mkdir(parents=True)
    (root / "tests" / "public").mkdir()
    (root / "tests" / "hidden" / "test_leaky.py").write_text(LEAKY_TESTS)
    return dataclasses.replace(FAST, id="leaky", root=root, course=BACKPROP.course, reference=None)


def _published(result, nb, tmp_path: Path) -> str:
    """result.json and the feedback page (instructor view: every message shown), as text."""
    out = tmp_path / "out"
    result.write(out / "result.json")
    render_feedback(result, nb, out / "feedback.html", templates=templates_dir(None), instructor=True)
    return (out / "result.json").read_text() + (out / "feedback.html").read_text()


def _leaked_rows(text: str) -> int:
    """How many held-out rows (clean or as handed out, by their first 4 values) appear in `text`."""
    split = datasets.load("digits")
    handed = datasets.perturb_heldout("digits", split.X_heldout, "")
    found = 0
    for rows in (split.X_heldout, handed):
        for row in rows:
            if " ".join(f"{v:.4f}" for v in row[:4]) in text:
                found += 1
    return found


def test_kept_heldout_inputs_do_not_leak_through_later_messages(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [_cell(LEAKY_NOTEBOOK)]}
    result = grade(nb, _leaky_assignment(tmp_path))
    names = [t.name for t in result.tests]
    assert names[:2] == ["test_a_before", "test_d_no_heldout_but_later_in_the_file"], names  # held-out last
    assert all("nothing kept yet" in t.message for t in result.tests[:2])
    text = _published(result, nb, tmp_path)
    # Exceptions raised by the student's code (its "errors") carry nothing out.
    errors = [t for t in result.tests if t.name.startswith(("test_a", "test_b", "test_c", "test_d"))]
    assert all("LEAK" not in t.message for t in errors), [t.message for t in errors]
    b = next(t for t in errors if t.name == "test_b_hands_out")
    assert b.status == "error" and "ValueError" in b.message and "cell" in b.message, b.message
    # A test's own message that echoes a returned value is bounded: each, and all of them together.
    after = result.tests[2:]
    assert all(len(t.message) <= HELDOUT_MESSAGE_CHARS for t in after)
    notices = [t.message for t in after if "its text is not shown" in t.message]
    shown = [t.message for t in after if not t.message.startswith("(message withheld") and t.message not in notices]
    assert len(notices) == 2 and shown  # test_b and test_c; then the echoes, until the budget is spent
    assert sum(map(len, shown)) <= HELDOUT_MESSAGE_BUDGET
    values = re.findall(r"\d\.\d{4}", " ".join(shown))
    assert len(values) <= HELDOUT_MESSAGE_BUDGET // 7, len(values)  # "0.0112 ": 7 characters a value
    assert _leaked_rows(text) <= len(shown)  # before: 50 rows per echo
    echoes = re.findall(r"LEAK \d\.\d{4}", text)  # (the notebook's source, shown on the page, has no digits)
    assert len(echoes) <= 3 * len(shown)  # result.json and the page: the bounded echoes only
    assert result.score == 0


def test_the_backprop_solution_that_keeps_its_inputs_leaks_nothing(tmp_path):
    """The real assignment: best_net keeps what it is given, every layer then raises with it."""
    nb = copy.deepcopy(read_notebook(BACKPROP.solution))
    nb["cells"].append(_cell(textwrap.dedent('''
        _kept = []
        _loss = TwoLayerNet.loss

        def _keeping(self, X, y=None):
            _kept.append(np.array(X))
            return _loss(self, X, y)

        TwoLayerNet.loss = _keeping

        def _leaky(fn):
            def wrapper(*args, **kwargs):
                rows = [k for k in _kept if len(k) == 450]  # the held-out split's size
                if rows:
                    raise ValueError(" ".join(f"{v:.4f}" for v in rows[-1][:40].ravel()))
                return fn(*args, **kwargs)
            return wrapper

        for _name in ("affine_forward", "affine_backward", "relu_forward", "softmax_loss"):
            globals()[_name] = _leaky(globals()[_name])
    ''')))
    result = grade(nb, FAST)
    assert result.tests[-1].name == "test_best_net_accuracy"
    text = _published(result, nb, tmp_path)
    assert _leaked_rows(text) == 0
    assert json.loads((tmp_path / "out" / "result.json").read_text())["score"] == result.score
