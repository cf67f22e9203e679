"""Helpers for test authors: tolerant comparison and numeric gradients.

Relative error follows CS231n: |a - e| / max(1e-8, |a| + |e|), element by element.
An element passes when its relative error is within `rtol` OR its absolute error is
within `atol`. Both tolerances must be given: there are no silent defaults.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

_FLOAT_KINDS = "fc"


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt_num(v: Any) -> str:
    v = complex(v) if np.iscomplexobj(v) else float(v)
    if isinstance(v, complex):
        return f"{v:.4g}"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.4e}"
    return f"{v:.4f}"


def rel_error(actual: Any, expected: Any) -> float:
    """Largest CS231n-style relative error between two arrays (or scalars)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(a - e) / np.maximum(1e-8, np.abs(a) + np.abs(e)), initial=0.0))


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float,
    atol: float,
    name: str,
    check_dtype: bool = True,
) -> None:
    """Assert that `actual` matches `expected` in shape, dtype, finiteness and value.

    Raises AssertionError with a message such as
    "dw: max relative error 3.1e-01 at [2, 4] (tolerance 1e-07); expected 0.1532, got 0.0000".
    """
    exp = np.asarray(expected)
    if actual is None or isinstance(actual, (str, bytes, dict)) or not _is_numeric(actual):
        raise AssertionError(
            f"{name}: expected an array of shape {tuple(exp.shape)}, got {_describe(actual)}"
        )
    act = np.asarray(actual)
    if act.shape != exp.shape:
        raise AssertionError(f"{name}: shape {tuple(act.shape)}, expected {tuple(exp.shape)}")
    if check_dtype and exp.dtype.kind in _FLOAT_KINDS and act.dtype != exp.dtype:
        raise AssertionError(f"{name}: dtype {act.dtype}, expected {exp.dtype}")
    if check_dtype and exp.dtype.kind not in _FLOAT_KINDS and act.dtype.kind != exp.dtype.kind:
        raise AssertionError(f"{name}: dtype {act.dtype}, expected {exp.dtype}")
    a = act.astype(np.complex128 if act.dtype.kind == "c" else np.float64)
    e = exp.astype(np.complex128 if exp.dtype.kind == "c" else np.float64)
    bad_a, bad_e = ~np.isfinite(a), ~np.isfinite(e)
    surprise = bad_a & ~bad_e
    if surprise.any():
        idx = tuple(np.argwhere(surprise)[0])
        kind = "NaN" if np.isnan(a[idx]) else "inf"
        raise AssertionError(
            f"{name}: {int(surprise.sum())} non-finite value(s), first {kind}"
            f"{' at ' + _fmt_index(idx) if a.ndim else ''}"
            f"; expected {_fmt_num(e[idx])}"
        )
    mismatch_nonfinite = bad_e & ~((np.isnan(e) & np.isnan(a)) | (a == e))
    if mismatch_nonfinite.any():
        idx = tuple(np.argwhere(mismatch_nonfinite)[0])
        raise AssertionError(f"{name}: at {_fmt_index(idx)} expected {e[idx]}, got {a[idx]}")
    if a.size == 0:
        return
    finite = ~bad_e
    diff = np.where(finite, np.abs(a - e), 0.0)
    rel = diff / np.maximum(1e-8, np.abs(a) + np.abs(e))
    failing = (rel > rtol) & (diff > atol) & finite
    if failing.any():
        worst = np.where(failing, rel, -1.0)
        idx = np.unravel_index(int(np.argmax(worst)), a.shape)
        where = f" at {_fmt_index(idx)}" if a.ndim else ""
        raise AssertionError(
            f"{name}: max relative error {rel[idx]:.1e}{where} (tolerance {rtol:.0e}); "
            f"expected {_fmt_num(e[idx])}, got {_fmt_num(a[idx])}"
        )


def numeric_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, df: Any = None, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of `f` at `x` (float64), perturbing `x` in place.

    If `f` returns a scalar, this is d f / d x. If it returns an array, `df` is the upstream
    gradient and the result is d sum(f(x) * df) / d x, as in CS231n's eval_numerical_gradient_array.
    `x` is restored after each perturbation.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numeric_gradient needs a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.asarray(f(x), dtype=np.float64)
        x[ix] = old - h
        neg = np.asarray(f(x), dtype=np.float64)
        x[ix] = old
        if df is None:
            grad[ix] = float(pos - neg) / (2 * h)
        else:
            grad[ix] = float(np.sum((pos - neg) * df)) / (2 * h)
        it.iternext()
    return grad


def _is_numeric(v: Any) -> bool:
    if isinstance(v, (bool, int, float, complex, np.number, np.bool_)):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biufc"
    if isinstance(v, (list, tuple)):
        try:
            return np.asarray(v).dtype.kind in "biufc"
        except (ValueError, TypeError):
            return False
    return False


def _describe(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, tuple):
        return f"a tuple of {len(v)} items (did you return (out, cache) where only out was expected?)"
    return type(v).__name__


def _answer(submission: Any, name: str) -> Any:
    value = getattr(submission, name)
    if value is None:
        raise AssertionError(f"{name} is None: answer it in the last code cell")
    return value


def assert_answer_number(submission: Any, name: str, expected: float, *, rtol: float, atol: float) -> None:
    """A short numeric answer, the notebook global `name`: |value - expected| <= max(atol, rtol * |expected|)."""
    value = _answer(submission, name)
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, (bool, np.bool_)):
        raise AssertionError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not abs(value - expected) <= max(atol, rtol * abs(expected)):
        raise AssertionError(f"{name} = {value:.6g} is not correct")


def assert_answer_choice(submission: Any, name: str, expected: str, options: str = "abcd") -> None:
    """A multiple-choice answer, the notebook global `name`: one letter, "b" or "(B)" alike."""
    value = _answer(submission, name)
    if not isinstance(value, str):
        raise AssertionError(f'{name} must be one letter as a string, such as "a"; got {type(value).__name__}')
    letter = value.strip().strip("()").lower()
    if letter not in options or len(letter) != 1:
        raise AssertionError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}")
    if letter != expected:
        raise AssertionError(f"{name} = {letter!r} is not correct")


class Credit:
    """Partial credit for a test: `credit.award(0.5, "accuracy 0.85 of 0.90")`.

    If the test then passes, it earns `fraction * points`; an assertion failure still earns 0.
    """

    def __init__(self) -> None:
        self.fraction: float | None = None
        self.message = ""

    def award(self, fraction: float, message: str = "") -> None:
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.message = message
