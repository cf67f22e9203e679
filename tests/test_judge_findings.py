"""Issue 18, the judge's side: attacks from inside one submission (process sandbox).

One grading, carrying every attack, goes through the real command line (`grade submit` in a child process,
tests/judge_attacks.py) and meets the acceptance for every attack: exit 0, one result.json,
no more points than honest work earns (the backprop starter earns 0), no traceback, and
bounded wall time, result size and the judge's own peak memory. The other findings of the
issue are tested where their code is: by-hand caches and scipy (tests/test_cnn_variants.py,
tests/test_attention_variants.py), tests that trust arrays they lent out (the mutating stub
of tests/test_validate.py), similarity (tests/test_similarity.py), the class report's
accuracy (tests/test_report.py).
"""

from __future__ import annotations

import json

import pytest
from hostile_cases import STARTER, with_cell
from judge_attacks import _FIND_WORKER, assert_graded_safely, grade_cli

LIMITS = ("--limit", "cell_seconds=10", "--limit", "notebook_seconds=60", "--limit", "call_seconds=10")
WALL_S = 90  # a backprop grading takes a few seconds; generous for a loaded 2-core machine

#: Finding 8: 256 MiB of int8 as the loss would be 2 GiB once converted to float64.
HUGE_INT8 = ("def softmax_loss(scores, y):\n"
             "    return np.zeros(256 << 20, dtype=np.int8), np.zeros_like(scores)\n")
#: Finding 4 (submit): exception text that is not valid UTF-8, in a cell and in a tested function.
SURROGATE_CELL = "raise ValueError('bad \\ud800 text')\n"
SURROGATE_FN = ("def affine_forward(x, w, b):\n"
                "    raise ValueError('lone \\udfff surrogate \\ud800')\n")
#: Finding 9: an error reply whose `cell` is a 3,779-digit number (room for 47 held-out rows).
FORGED_ERROR = _FIND_WORKER + """import sys
def relu_forward(*args, **kwargs):
    _f = sys._getframe()
    while 'msg' not in _f.f_locals:
        _f = _f.f_back
    _body = json.dumps({'ok': False, 'seq': _f.f_locals['msg']['seq'],
                        'error': {'type': 'ValueError', 'message': 'forged', 'cell': int('9' * 3779)}}).encode()
    _w.sock.sendall(struct.pack('>I', len(_body)) + _body)
    raise ValueError('the real reply, after the forged one')
"""


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One grading of the starter carrying every attack (each in its own function or cell)."""
    nb = STARTER
    for source in (HUGE_INT8, SURROGATE_FN, SURROGATE_CELL, FORGED_ERROR):
        nb = with_cell(nb, source, before_training=False)
    tmp = tmp_path_factory.mktemp("attacked")
    run = grade_cli(nb, tmp, *LIMITS)
    # bound on the judge's memory: the received array itself (256 MiB) and the judge's own start,
    # never its float64 copy (2 GiB; the judge peaked at 2.6 GiB before)
    result = assert_graded_safely(run, 0.0, wall=WALL_S, judge_rss_mb=1500)
    return nb, result, (tmp / "out" / "feedback.html").read_text(encoding="utf-8")


def test_a_huge_int8_answer_is_refused_before_it_is_widened(attacked):
    _, result, _ = attacked
    loss = next(t for t in result["tests"] if t["name"] == "test_softmax_loss_value")
    assert loss["score"] == 0 and "loss: shape (268435456,), expected ()" in loss["message"], loss


def test_a_lone_surrogate_in_an_exception_costs_only_those_points(attacked):
    _, result, page = attacked
    assert "surrogate" in page and "lone" in page
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # strict: no surrogate survives into the result
    affine = [t for t in result["tests"] if "affine_forward" in t["message"] and "surrogate" in t["message"]]
    assert affine and all(t["score"] == 0 for t in affine), [t["message"] for t in result["tests"]]
    assert any(c["status"] == "error" and "ValueError" in c["message"] for c in result["cells"]), result["cells"]


def test_a_forged_cell_number_carries_nothing(attacked):
    nb, result, page = attacked
    cells = len(nb["cells"])
    assert all(t.get("cell") is None or 0 <= t["cell"] < cells for t in result["tests"]), [
        t.get("cell") for t in result["tests"]]
    assert [t for t in result["tests"] if "forged" in t["message"]], [t["message"] for t in result["tests"]]
    assert "9999999999" not in json.dumps(result) and "9999999999" not in page
