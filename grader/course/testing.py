"""Helpers for test authors: tolerant comparison and numeric gradients.

Relative error follows CS231n: |a - e| / max(1e-8, |a| + |e|), element by element.
An element passes when its relative error is within `rtol` OR its absolute error is
within `atol`. Both tolerances must be given: there are no silent defaults.

Trained states (state dicts of checkpoints, re-runs of a training script) are compared per
tensor with `assert_states_close`: the same bytes are not to be expected on another CPU.

Models that live in the worker are read through the judge's RemoteTorch (`rt`, passed in:
this module imports nothing of the judge): `remote_model`, `remote_accuracy`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

_FLOAT_KINDS = "fc"


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt_num(v: Any, digits: int = 4) -> str:
    v = complex(v) if np.iscomplexobj(v) else float(v)
    if isinstance(v, complex):
        return f"{v:.{digits}g}"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits}e}"
    return f"{v:.{digits}f}"


def _fmt_pair(expected: Any, actual: Any) -> tuple[str, str]:
    """Both numbers with as many digits as it takes to show that they differ (4 at least, 17 at
    most): "expected 1.2817, got 1.2817" says nothing; "expected 1.28170000, got 1.28170001" does."""
    e, a = _fmt_num(expected), _fmt_num(actual)
    digits = 4
    while e == a and digits < 17:
        digits += 1
        e, a = _fmt_num(expected, digits), _fmt_num(actual, digits)
    return e, a


def rel_error(actual: Any, expected: Any) -> float:
    """Largest CS231n-style relative error between two arrays (or scalars).

    An `actual` with more elements than `expected` is refused before it is converted: a
    student's huge array is never widened to float64 (AssertionError)."""
    if np.size(actual) > np.size(expected):
        raise AssertionError(f"shape {np.shape(actual)}, expected {np.shape(expected)}")
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
        shown_e, shown_a = _fmt_pair(e[idx], a[idx])
        raise AssertionError(
            f"{name}: max relative error {rel[idx]:.1e}{where} (tolerance {rtol:.0e}); "
            f"expected {shown_e}, got {shown_a}"
        )


def as_float64(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A student's `value` as a float64 array of `shape`, or AssertionError naming `name`.

    Its type and shape are checked before any conversion, so a huge answer is refused as it is,
    never widened first (a 512 MiB int8 array is 4 GiB of float64).
    """
    if value is None or isinstance(value, (str, bytes, dict)) or not _is_numeric(value):
        raise AssertionError(f"{name}: expected a number or an array of shape {tuple(shape)}, got {_describe(value)}")
    if np.shape(value) != tuple(shape):
        raise AssertionError(f"{name}: shape {np.shape(value)}, expected {tuple(shape)}")
    if np.iscomplexobj(value):
        raise AssertionError(f"{name}: complex, expected real numbers")
    return np.asarray(value, dtype=np.float64)


def _state_array(value: Any) -> np.ndarray:
    """A tensor (torch, any dtype and device) or array-like as a numpy array; floats in float64."""
    if hasattr(value, "detach"):  # a torch.Tensor; torch itself is not imported here
        value = value.detach().cpu()
        if value.is_floating_point() or value.is_complex():
            value = value.double() if value.is_floating_point() else value.cdouble()
        return value.numpy()
    arr = np.asarray(value)
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


def tensor_rel_error(actual: Any, expected: Any) -> float:
    """Relative error of one tensor: ||a - e||_2 / max(||a||_2, ||e||_2, 1e-12), in float64.

    A norm-wise error, not an element-wise one: it does not blow up on the elements near zero
    that every trained tensor has, and a state where any element moved by a fraction of the
    tensor's scale still shows.
    """
    a, e = _state_array(actual), _state_array(expected)
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(e)), 1e-12)
    return float(np.linalg.norm(a - e)) / scale


def assert_states_close(actual: Mapping[str, Any], expected: Mapping[str, Any], *, rtol: float,
                        name: str) -> tuple[str, float]:
    """Assert two state dicts (name -> tensor) match: the same names, shapes and dtypes, integer
    and bool tensors equal, every float tensor within `tensor_rel_error` <= `rtol`.

    Returns (name of the worst float tensor, its error), for a report. Raises AssertionError
    naming the worst tensor, e.g. "resnet after 2 epochs: 12 of 62 tensors differ beyond the
    relative tolerance 5e-05; worst layer3.0.bn1.bias: relative error 5.7e-01 (norm 0.0410, expected 0.0312)".
    """
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing or extra:
        raise AssertionError(f"{name}: tensor names differ; missing {missing[:5]}, unexpected {extra[:5]}")
    worst, worst_error, failing = "", 0.0, 0
    for key, want in expected.items():
        if tuple(np.shape(actual[key])) != tuple(np.shape(want)):  # before any float64 copy of it
            raise AssertionError(f"{name}: {key} has shape {tuple(np.shape(actual[key]))}, "
                                 f"expected {tuple(np.shape(want))}")
        a, e = _state_array(actual[key]), _state_array(want)
        if str(getattr(actual[key], "dtype", a.dtype)) != str(getattr(want, "dtype", e.dtype)):
            raise AssertionError(f"{name}: {key} has dtype {getattr(actual[key], 'dtype', a.dtype)}, "
                                 f"expected {getattr(want, 'dtype', e.dtype)}")
        if e.dtype.kind not in _FLOAT_KINDS:
            if not np.array_equal(a, e):
                raise AssertionError(f"{name}: {key} (an integer tensor) differs: {a.ravel()[:4]} ..., "
                                     f"expected {e.ravel()[:4]} ...")
            continue
        if not np.all(np.isfinite(a)):
            raise AssertionError(f"{name}: {key} has {int(np.sum(~np.isfinite(a)))} non-finite value(s)")
        error = tensor_rel_error(a, e)
        failing += error > rtol
        if error >= worst_error:
            worst, worst_error = key, error
    if failing:
        a, e = _state_array(actual[worst]), _state_array(expected[worst])
        raise AssertionError(
            f"{name}: {failing} of {len(expected)} tensors differ beyond the relative tolerance {rtol:.0e}; "
            f"worst {worst}: relative error {worst_error:.1e} "
            f"(norm {np.linalg.norm(a):.4g}, expected {np.linalg.norm(e):.4g})"
        )
    return worst, worst_error


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
        pos = _output(f(x), df)
        x[ix] = old - h
        neg = _output(f(x), df)
        x[ix] = old
        if df is None:
            grad[ix] = float(pos - neg) / (2 * h)
        else:
            grad[ix] = float(np.sum((pos - neg) * df)) / (2 * h)
        it.iternext()
    return grad


def _output(value: Any, df: Any) -> np.ndarray:
    """The forward's output in numeric_gradient: the shape of `df` (a scalar without one), checked
    before it is converted to float64."""
    name = "the forward's output (numeric gradient)"
    if df is None:  # a scalar loss; a one-element array is accepted as before
        return as_float64(value, np.shape(value) if np.size(value) == 1 else (), name)
    return as_float64(value, np.shape(df), name)


def assert_depends(numeric: np.ndarray, name: str) -> None:
    """Fail unless a numeric gradient has a non-zero entry: checking a backward against the
    numeric gradient of the student's own forward means nothing when that forward ignores its
    input (functions that return zeros agree with themselves)."""
    assert np.any(np.asarray(numeric) != 0), (
        f"{name}: the numeric gradient of your forward is all zeros (its output does not change with "
        "this input), so the backward cannot be checked against it")


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


def checkpoint_arrays(reference: Any) -> dict[str, np.ndarray]:
    """`reference.load_checkpoint()`'s tensors as numpy arrays, read judge-side."""
    return {k: v.numpy() for k, v in reference.load_checkpoint().items()}


def remote_model(rt: Any, submission: Any, name: str, hint: str) -> Any:  # noqa: ANN401 - a worker handle
    """The submission's variable `name`, which must be a torch.nn.Module in the worker; `hint`
    says what to do when it is None."""
    model = getattr(submission, name)
    assert model is not None, f"{name} is None: {hint}"
    assert rt.isinstance(model, rt.torch.nn.Module), f"{name} must be a torch.nn.Module"
    return model


def remote_accuracy(rt: Any, model: Any, X: np.ndarray, y: np.ndarray, shape: tuple[int, ...], classes: int,
                    scores: str, data: str) -> float:
    """Accuracy on (X, y) of the scores `model` (put in eval() mode) returns in the worker for X
    reshaped to (-1, *shape); asserts that they are finite and (N, classes). Messages call them
    `scores` (e.g. "ft_model scores") and the inputs `data` (e.g. "held-out digits 5-9")."""
    model.eval()
    out = rt.forward(model, X.reshape(-1, *shape), f"{scores} on {data}")
    assert out.shape == (len(X), classes), f"{scores}: shape {out.shape}, expected {(len(X), classes)}"
    assert np.all(np.isfinite(out)), f"{scores} contain NaN or inf"
    return float(np.mean(np.argmax(out, axis=1) == y))


class Credit:
    """Partial credit for a test: `credit.award(0.5, "accuracy 0.85 of 0.90")`.

    If the test then passes, it earns `fraction * points`; an assertion failure still earns 0.
    `credit.measured(acc, FULL_MARKS)` records the held-out accuracy the test measured, pass or
    fail: result.json carries it as data and `grade report` plots it (never read from messages,
    which student code can shape).
    """

    def __init__(self) -> None:
        self.fraction: float | None = None
        self.message = ""
        self.accuracy: float | None = None
        self.accuracy_needed: float | None = None

    def measured(self, accuracy: float, needed: float | None = None) -> None:
        """The held-out accuracy this test computed (and the accuracy full marks need)."""
        self.accuracy = round(float(accuracy), 6)
        self.accuracy_needed = None if needed is None else round(float(needed), 6)

    def award(self, fraction: float, message: str = "") -> None:
        self.fraction = min(1.0, max(0.0, float(fraction)))
        self.message = message
