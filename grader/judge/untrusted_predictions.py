"""The judge's reader of student predictions files: CSV `id,label`, total and bounded.

Owns: turning the bytes of an untrusted predictions file into one label per test id, or a
one-line `BadPredictions` that says what is wrong (the first duplicate, unknown or missing id,
the first bad line). Calls nothing of the grader's. The size is checked before a byte is
parsed; no line longer than MAX_LINE_CHARS, no more lines than ids (plus a header and blanks).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

MAX_LINE_CHARS = 200


class BadPredictions(Exception):
    """A predictions file that cannot be scored. The message is one line for the student."""


def read_predictions(path: Path | str, n_ids: int, n_classes: int, max_bytes: int,
                     name: str | None = None) -> np.ndarray:
    """The labels (int64, indexed by id 0..n_ids-1) of the CSV at `path`; BadPredictions if wrong."""
    path = Path(path)
    name = name or path.name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise BadPredictions(f"{name}: cannot open: {e.strerror or e}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BadPredictions(f"{name} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BadPredictions(f"{name} is over the limit of {max_bytes // 1024:,} KiB ([limits] predictions_kb)")
    return parse_predictions(data, n_ids, n_classes, name)


def parse_predictions(data: bytes, n_ids: int, n_classes: int, name: str = "predictions.csv") -> np.ndarray:
    """Check and convert the bytes of a predictions file (already within the size cap)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadPredictions(f"{name} is not UTF-8 text (byte {e.start})") from None
    lines = text.splitlines()
    if len(lines) > n_ids + 1 + 100:
        raise BadPredictions(f"{name} has {len(lines):,} lines for {n_ids:,} test ids: one line per id, "
                             "after the header id,label")
    if not lines or [c.strip().lower() for c in lines[0].split(",")] != ["id", "label"]:
        raise BadPredictions(f"{name}: the first line must be the header id,label")
    labels = np.full(n_ids, -1, dtype=np.int64)
    seen_at: dict[int, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise BadPredictions(f"{name}, line {number}: longer than {MAX_LINE_CHARS} characters")
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 2:
            raise BadPredictions(f"{name}, line {number}: expected two fields id,label, found {len(cells)}")
        ident, label = (_integer(c) for c in cells)
        if ident is None:
            raise BadPredictions(f"{name}, line {number}: the id {_shown(cells[0])} is not an integer")
        if not 0 <= ident < n_ids:
            raise BadPredictions(f"{name}, line {number}: {ident} is not a test id (they are 0 to {n_ids - 1})")
        if ident in seen_at:
            raise BadPredictions(f"{name}, line {number}: id {ident} appears twice (first on line {seen_at[ident]})")
        if label is None or not 0 <= label < n_classes:
            raise BadPredictions(f"{name}, line {number}: the label {_shown(cells[1])} is not a class "
                                 f"(an integer from 0 to {n_classes - 1})")
        seen_at[ident] = number
        labels[ident] = label
    missing = np.flatnonzero(labels < 0)
    if len(missing):
        first = ", ".join(str(i) for i in missing[:5])
        raise BadPredictions(f"{name}: {len(missing):,} of {n_ids:,} test ids have no prediction "
                             f"(first: {first})")
    return labels


def _integer(cell: str) -> int | None:
    if not cell or len(cell) > 12 or not cell.lstrip("-").isdigit() or not cell.isascii():
        return None
    return int(cell)


def _shown(cell: str) -> str:
    return repr(cell[:20] + ("..." if len(cell) > 20 else ""))


def write_predictions(path: Path | str, labels: np.ndarray | list[int]) -> Path:
    """A predictions file for `labels` (id = position): for the kit's example and for tests."""
    path = Path(path)
    path.write_text("id,label\n" + "".join(f"{i},{int(k)}\n" for i, k in enumerate(labels)))
    return path
