"""grader.testing's helpers on plain values (no worker): messages name the quantity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from grader.testing import assert_answer_choice, assert_answer_number, assert_close


def test_assert_close_reports_the_worst_element():
    expected = np.array([[0.1532, 1.0], [2.0, 3.0]])
    actual = expected.copy()
    actual[0, 0] = 0.0
    with pytest.raises(AssertionError, match=r"dw: max relative error 1\.0e\+00 at \[0, 0\] \(tolerance 1e-07\); "
                                             r"expected 0\.1532, got 0\.0000"):
        assert_close(actual, expected, rtol=1e-7, atol=0.0, name="dw")
    with pytest.raises(AssertionError, match=r"dx: shape \(4,\), expected \(2, 2\)"):
        assert_close(np.zeros(4), expected, rtol=1e-7, atol=0.0, name="dx")
    with pytest.raises(AssertionError, match=r"loss: 1 non-finite value\(s\), first NaN; expected 1\.0000"):
        assert_close(np.float64("nan"), 1.0, rtol=1e-7, atol=0.0, name="loss")
    assert_close(expected * (1 + 1e-9), expected, rtol=1e-7, atol=0.0, name="ok")


def test_answer_helpers():
    sub = SimpleNamespace(A=0.25, B=None, C=True, D="(B)", E="z", F=np.float64(0.2501))
    assert_answer_number(sub, "A", 0.25, rtol=0.0, atol=0.0)
    with pytest.raises(AssertionError, match="B is None: answer it"):
        assert_answer_number(sub, "B", 0.25, rtol=0.0, atol=0.0)
    with pytest.raises(AssertionError, match="C must be a number, got bool"):
        assert_answer_number(sub, "C", 1.0, rtol=0.0, atol=0.0)
    with pytest.raises(AssertionError, match="F = 0.2501 is not correct"):
        assert_answer_number(sub, "F", 0.25, rtol=1e-6, atol=0.0)
    assert_answer_number(sub, "F", 0.25, rtol=1e-3, atol=0.0)
    assert_answer_choice(sub, "D", "b")
    with pytest.raises(AssertionError, match="E must be one of 'a', 'b', 'c', 'd'; got 'z'"):
        assert_answer_choice(sub, "E", "b")
    with pytest.raises(AssertionError, match="D = 'b' is not correct"):
        assert_answer_choice(sub, "D", "c")
