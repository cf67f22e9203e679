"""Declared misconceptions: the typical mistakes of an assignment, each with judge-side evidence.

An assignment may declare, judge-side (never shipped to students), in
`assignments/<id>/misconceptions.py` a list `MISCONCEPTIONS` of `Misconception`s. When one of
a misconception's `tests` does not get full marks, the judge runs its `probe` (once per
grading) with the `submission` proxy and the reference module; a probe returns True only when
the student's output is what the wrong formula gives (e.g. their db equals the reference's
db / N within a stated float64 tolerance). The failing test then carries the diagnosis
(result.json `tests[].diagnoses`), shown with the test on the feedback page, by `grade check`
and counted in the class report. A failure pattern alone never triggers a diagnosis.

`grade validate --variants` proves the catalogue against the variants of
`assignments/<id>/variants.py` (grader.authoring.variants). This module owns the declaration
and the probes' comparison helpers; it calls nothing else of the grader.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Misconception:
    """One typical mistake and the evidence that a submission makes it.

    name: identifier, e.g. "db_averaged" (lower case, digits, underscores).
    title: what the student did, as a phrase after "N students": "averaged db over the batch".
    hint: for the student; teaches the idea without giving the code away.
    tests: names of the tests whose failure the probe is asked to explain (a parametrized
      test by its base name); the diagnosis is attached to those of them that lost points.
    probe: (submission, reference) -> bool; True only when the student's output matches the
      wrong formula within the probe's stated tolerance (and not the right one). It runs in
      the judge; every call into the student's code is bounded like a test's.
    """

    name: str
    title: str
    hint: str
    tests: tuple[str, ...]
    probe: Callable[[Any, Any], bool]

    def diagnosis(self) -> dict[str, str]:
        """What result.json records for a test this misconception explains."""
        return {"name": self.name, "title": self.title, "hint": self.hint}


class BadMisconceptions(ValueError):
    """misconceptions.py does not import or declares something malformed."""


def misconceptions_path(assignment_root: Path) -> Path:
    return Path(assignment_root) / "misconceptions.py"


def load_misconceptions(assignment_root: Path) -> tuple[Misconception, ...]:
    """The assignment's declared misconceptions; () when it declares none."""
    path = misconceptions_path(assignment_root)
    if not path.is_file():
        return ()
    name = f"dlgrade_misconceptions_{Path(assignment_root).name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the author's file
        raise BadMisconceptions(f"{path.name}: cannot import: {type(e).__name__}: {e}") from e
    finally:
        sys.modules.pop(name, None)
    found = tuple(getattr(module, "MISCONCEPTIONS", ()))
    seen: set[str] = set()
    for m in found:
        if not isinstance(m, Misconception):
            raise BadMisconceptions(f"{path.name}: MISCONCEPTIONS must hold Misconception objects")
        if not _NAME.match(m.name) or m.name in seen:
            raise BadMisconceptions(f"{path.name}: misconception name {m.name!r} is malformed or repeated")
        if not (m.title.strip() and m.hint.strip() and m.tests and callable(m.probe)):
            raise BadMisconceptions(f"{path.name}: {m.name} needs a title, a hint, tests and a probe")
        seen.add(m.name)
    return found


# --------------------------------------------------------------------------- probe helpers


def as_float64(value: Any) -> np.ndarray | None:
    """`value` as a float64 array, or None when it is not plain numeric data."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        array = np.asarray(value)
    except Exception:
        return None
    if array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64)


def _shape(value: Any) -> tuple[int, ...] | None:
    try:
        return np.shape(value)
    except Exception:  # ragged nesting, or an object numpy cannot read
        return None


def same(actual: Any, expected: Any, rtol: float) -> bool:
    """`actual` has `expected`'s shape, is finite, and its CS231n relative error to `expected`
    (|a - e| / max(1e-8, |a| + |e|), element by element, in float64) is at most `rtol`.

    The student's `actual` is widened to float64 only once its shape is the expected one, so a
    huge answer costs the judge nothing (a 256 MiB int8 array would be 2 GiB of float64)."""
    e = as_float64(expected)
    if e is None or _shape(actual) != e.shape:
        return False
    a = as_float64(actual)
    if a is None or a.shape != e.shape or not np.isfinite(a).all() or not np.isfinite(e).all():
        return False
    return bool(np.max(np.abs(a - e) / np.maximum(1e-8, np.abs(a) + np.abs(e)), initial=0.0) <= rtol)


def wrong_not_right(actual: Any, wrong: Any, right: Any, rtol: float) -> bool:
    """The evidence of a probe: `actual` matches the wrong formula's output within `rtol`, and
    the wrong and right outputs differ beyond it (so the probe's inputs tell them apart)."""
    return same(actual, wrong, rtol) and not same(wrong, right, rtol)
