"""Named datasets, split into a public part (enters the sandbox) and a held-out part (judge only).

Everything here is offline: the scikit-learn wheel ships the digits. Splits are fixed by a
seed so every grader, student and CI run sees the same rows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

SPLIT_SEED = 20261123


@dataclass(frozen=True)
class Split:
    """A dataset cut into training data (public) and held-out data (judge only)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_heldout: np.ndarray
    y_heldout: np.ndarray


def _digits() -> Split:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float64)  # pixels in [0, 1]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    held, train = order[:450], order[450:]
    return Split(X[train], y[train], X[held], y[held])


def _digits59_few() -> Split:
    """Few-shot transfer target: the digits 5-9, labelled 0-4 (label = digit - 5).

    Public: 20 rows per class, drawn (seeded) from the `digits` training split. Held-out: every
    5-9 row of the `digits` held-out split, so no public file of any assignment holds them.
    The source task of the `finetune` assignment is the digits 0-4 of the `digits` training split.
    """
    digits = load("digits")
    rng = np.random.default_rng(SPLIT_SEED + 59)
    train = np.concatenate([rng.choice(np.flatnonzero(digits.y_train == d), 20, replace=False)
                            for d in range(5, 10)])
    held = np.flatnonzero(digits.y_heldout >= 5)
    return Split(digits.X_train[train], digits.y_train[train] - 5,
                 digits.X_heldout[held], digits.y_heldout[held] - 5)


BUILDERS: dict[str, Callable[[], Split]] = {"digits": _digits, "digits59_few": _digits59_few}


def cache_dir() -> Path:
    """Where built splits are kept between runs (judge side; masked in the sandbox)."""
    return Path(os.environ.get("DLGRADE_CACHE") or Path.home() / ".cache" / "dlgrade")


@lru_cache(maxsize=None)
def load(name: str) -> Split:
    """The split for dataset `name`; raises KeyError for unknown names.

    Building a split can be slow (importing scikit-learn alone takes a second), so each split
    is kept in the cache folder after its first build.
    """
    if name not in BUILDERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    path = cache_dir() / f"{name}-{SPLIT_SEED}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            return Split(f["X_train"], f["y_train"], f["X_heldout"], f["y_heldout"])
    except (OSError, KeyError, ValueError):
        pass
    split = BUILDERS[name]()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, X_train=split.X_train, y_train=split.y_train,
                 X_heldout=split.X_heldout, y_heldout=split.y_heldout)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed
    return split


def write_public(names: list[str] | tuple[str, ...], directory: Path,
                 files: list[Path] | tuple[Path, ...] = ()) -> list[Path]:
    """Write each dataset's public part as `<name>_train.npz` (arrays X and y) into `directory`,
    and copy each of `files` (an assignment's `[data] files`) there under its own name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        split = load(name)
        path = directory / f"{name}_train.npz"
        if not path.exists():
            np.savez(path, X=split.X_train, y=split.y_train)
        paths.append(path)
    for source in files:
        path = directory / Path(source).name
        shutil.copyfile(source, path)  # always: a stale copy of a changed file must not linger
        paths.append(path)
    return paths


#: How the judge varies held-out inputs per course (see `perturb_heldout`).
HELDOUT_MAX_SHIFT = 0.15  # pixels, each way, per image (bilinear)
HELDOUT_NOISE_STD = 0.01  # Gaussian noise on every value (inputs in [0, 1]), then clipped


def perturb_heldout(name: str, X: np.ndarray, secret: str) -> np.ndarray:
    """Held-out inputs as the judge hands them to student code: varied per course, with its secret.

    Each image is shifted by a random fraction of a pixel (up to HELDOUT_MAX_SHIFT, each axis,
    bilinear, zeros from outside) and gets Gaussian noise (HELDOUT_NOISE_STD), clipped to
    [0, 1]. A model that generalises barely notices; an exact lookup of the public rows (the
    held-out digits are part of scikit-learn's public set) no longer matches. The draw is
    fixed by (dataset, secret): the same on every machine and run, different per course.
    Rows that are not square images get the noise only. Returns float64.
    """
    seed = int.from_bytes(hashlib.sha256(f"heldout\0{name}\0{secret}".encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    n = len(X)
    flat = X.reshape(n, -1)
    side = int(round(flat.shape[1] ** 0.5))
    if n and side * side == flat.shape[1]:
        images = flat.reshape(n, side, side)
        for axis in (1, 2):
            images = _shift(images, rng.uniform(-HELDOUT_MAX_SHIFT, HELDOUT_MAX_SHIFT, n), axis)
        flat = images.reshape(n, -1)
    flat = np.clip(flat + rng.normal(0.0, HELDOUT_NOISE_STD, flat.shape), 0.0, 1.0)
    return flat.reshape(X.shape)


def _shift(images: np.ndarray, by: np.ndarray, axis: int) -> np.ndarray:
    """Shift each image along `axis` (1: rows, 2: columns) by `by[i]` in (-1, 1) pixels."""
    before, after = np.zeros_like(images), np.zeros_like(images)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    src[axis], dst[axis] = slice(None, -1), slice(1, None)
    before[tuple(dst)] = images[tuple(src)]  # out[i] = in[i - 1]
    after[tuple(src)] = images[tuple(dst)]  # out[i] = in[i + 1]
    a = np.abs(by)[:, None, None]
    other = np.where((by > 0)[:, None, None], before, after)
    return (1 - a) * images + a * other


def sensitive_paths() -> list[Path]:
    """Files or folders that hold held-out data and must be masked inside the sandbox."""
    paths = []
    try:
        import importlib.util

        spec = importlib.util.find_spec("sklearn")
        if spec and spec.submodule_search_locations:
            base = Path(list(spec.submodule_search_locations)[0]) / "datasets"
            paths += [base / "data", base / "descr", base / "images"]
    except (ImportError, ValueError):
        pass
    return [p for p in paths if p.exists()]
