"""grader.course.testing's helpers on plain values (no worker): messages name the quantity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from grader.course.testing import (
    as_float64,
    assert_answer_choice,
    assert_answer_number,
    assert_close,
    assert_states_close,
    numeric_gradient,
    rel_error,
    tensor_rel_error,
)


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


def test_assert_close_prints_the_digits_that_differ():
    """4 digits that read the same are not a message: as many as show the difference."""
    with pytest.raises(AssertionError, match=r"expected 1\.28170000, got 1\.28170001\b"):
        assert_close(1.2817 * (1 + 4e-9), 1.2817, rtol=1e-9, atol=0.0, name="loss")
    with pytest.raises(AssertionError, match=r"expected 2\.5000e-04, got 2\.6000e-04"):
        assert_close(2.6e-4, 2.5e-4, rtol=1e-7, atol=0.0, name="lr")
    with pytest.raises(AssertionError, match=r"^train\(config=\{'lr': 1\}\): max relative error"):
        assert_close(2.0, 1.0, rtol=1e-7, atol=0.0, name="train(config={'lr': 1})")  # braces in a name


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


def _state(rng):
    import torch

    return {"conv.weight": torch.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)),
            "bn.bias": torch.from_numpy(rng.standard_normal(4).astype(np.float32) * 1e-3),
            "bn.num_batches_tracked": torch.tensor(17), "half": torch.ones(3, dtype=torch.bfloat16)}


def test_assert_states_close_names_the_worst_tensor():
    import torch

    expected = _state(np.random.default_rng(0))
    same = {k: v.clone() for k, v in expected.items()}
    same["conv.weight"] = same["conv.weight"] * (1 + 1e-6)
    worst, error = assert_states_close(same, expected, rtol=1e-5, name="net")
    assert worst == "conv.weight" and 5e-7 < error < 2e-6
    # a small tensor that moved by its own scale fails, however small its values
    moved = {**same, "bn.bias": same["bn.bias"] * 1.5}
    with pytest.raises(AssertionError, match=r"net: 1 of 4 tensors differ beyond the relative tolerance 1e-05; "
                                             r"worst bn\.bias: relative error 3\.3e-01"):
        assert_states_close(moved, expected, rtol=1e-5, name="net")
    with pytest.raises(AssertionError, match=r"net: bn\.num_batches_tracked \(an integer tensor\) differs"):
        assert_states_close({**same, "bn.num_batches_tracked": torch.tensor(18)}, expected, rtol=1e-5, name="net")
    with pytest.raises(AssertionError, match=r"missing \['half'\], unexpected \['other'\]"):
        assert_states_close({**{k: v for k, v in same.items() if k != "half"}, "other": torch.ones(1)}, expected,
                            rtol=1e-5, name="net")
    with pytest.raises(AssertionError, match=r"conv\.weight has shape \(12,\), expected \(4, 3\)"):
        assert_states_close({**same, "conv.weight": same["conv.weight"].flatten()}, expected, rtol=1e-5, name="net")
    with pytest.raises(AssertionError, match=r"conv\.weight has dtype torch\.float64, expected torch\.float32"):
        assert_states_close({**same, "conv.weight": same["conv.weight"].double()}, expected, rtol=1e-5, name="net")
    nan = same["conv.weight"].clone()
    nan[0, 0] = float("nan")
    with pytest.raises(AssertionError, match=r"conv\.weight has 1 non-finite value"):
        assert_states_close({**same, "conv.weight": nan}, expected, rtol=1e-5, name="net")


def test_tensor_rel_error_is_normwise():
    e = np.array([1.0, 0.0, 1e-9])
    assert tensor_rel_error(e, e) == 0.0
    assert tensor_rel_error(np.array([1.0, 1e-6, 0.0]), e) == pytest.approx(1e-6, rel=1e-3)
    assert tensor_rel_error(np.zeros(3), np.zeros(3)) == 0.0


def test_huge_answers_are_refused_before_any_float64_copy():
    """Issue 18, finding 8: shape is checked before conversion, so 64 MiB of int8 (512 MiB as
    float64) costs the judge nothing more than the array it received."""
    import tracemalloc

    big = np.zeros(64 << 20, dtype=np.int8)
    calls = {
        "as_float64": lambda: as_float64(big, (), "loss"),
        "rel_error": lambda: rel_error(big, np.zeros(3)),
        "assert_close": lambda: assert_close(big, np.zeros(3), rtol=1e-7, atol=0.0, name="out"),
        "assert_states_close": lambda: assert_states_close({"w": big}, {"w": np.zeros(3, np.float32)},
                                                           rtol=1e-5, name="net"),
        "numeric_gradient": lambda: numeric_gradient(lambda x: big, np.zeros(2)),
    }
    tracemalloc.start()
    try:
        for what, call in calls.items():
            with pytest.raises(AssertionError, match="shape"):
                call()
            assert tracemalloc.get_traced_memory()[1] < 8 << 20, what  # bound: no copy of `big`
    finally:
        tracemalloc.stop()
