"""Readers for real datasets an instructor already has on disk: MNIST and CIFAR-10.

Nothing here downloads. Point a loader at the folder holding the files as distributed:

    X, y = load_mnist("/data/mnist", "train")     # X (60000, 28, 28) uint8, y (60000,) int64
    X, y = load_cifar10("/data/cifar", "test")     # X (10000, 3, 32, 32) uint8, y (10000,) int64

* MNIST (and Fashion-MNIST, same format): the IDX files `train-images-idx3-ubyte`,
  `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each either
  plain or gzipped (`.gz`; detected by content, not by name), also under the
  `train-images.idx3-ubyte` spelling. `read_idx` reads any single IDX file.
* CIFAR-10: the binary version (`cifar-10-batches-bin/`: `data_batch_1.bin` ...
  `data_batch_5.bin`, `test_batch.bin`; one label byte then 3072 pixel bytes per image) is
  preferred; the Python version (`cifar-10-batches-py/`: `data_batch_1` ... `test_batch`,
  pickled dicts) is read only when no binary batches are found, with an unpickler that
  accepts nothing but the dict, list, bytes and NumPy-array pieces those files contain.

These run on the judge's side only, on files the instructor provides: the worker never sends
pickles, and student data is never unpickled. Images keep their stored layout and dtype
(channels first for CIFAR, as PyTorch wants); convert and scale them where they are used.
To grade with them, build a `grader.course.datasets.Split` from these arrays in a function and add
it to `grader.course.datasets.BUILDERS`.
"""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
from pathlib import Path

import numpy as np

__all__ = ["LoaderError", "read_idx", "load_mnist", "read_cifar10_binary", "read_cifar10_pickle",
           "load_cifar10"]

#: IDX type codes (third byte of the magic number) -> big-endian dtype.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"

CIFAR_SHAPE = (3, 32, 32)
CIFAR_RECORD = 1 + 3 * 32 * 32
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


class LoaderError(ValueError):
    """A dataset file is missing or not in the expected format; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LoaderError(f"{path}: cannot read: {e.strerror or e}") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise LoaderError(f"{path}: corrupt gzip data: {e}") from None
    return raw


# --------------------------------------------------------------------------- IDX (MNIST)


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (gzipped or not) as an array of its stored shape, in native byte order."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise LoaderError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise LoaderError(f"{path}: unknown IDX data type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise LoaderError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise LoaderError(f"{path}: {len(raw) - header} bytes of data, expected {expected} for shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(directory: Path, names: list[str], what: str) -> Path:
    for name in names:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise LoaderError(f"{directory}: no {what} file (looked for {', '.join(names)}, plain or .gz)")


def load_mnist(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's `split` ("train" or "test") from `directory`: X (N, 28, 28) uint8, y (N,) int64."""
    directory = Path(directory)
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images = _find(directory, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"], f"{split} images")
    labels = _find(directory, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"], f"{split} labels")
    X, y = read_idx(images), read_idx(labels)
    if X.ndim != 3 or y.ndim != 1:
        raise LoaderError(f"{images}, {labels}: images of shape {X.shape} and labels of shape {y.shape}, "
                          "expected (N, rows, cols) and (N,)")
    if len(X) != len(y):
        raise LoaderError(f"{images}: {len(X)} images but {labels.name} has {len(y)} labels")
    return X, y.astype(np.int64)


# --------------------------------------------------------------------------- CIFAR-10


def read_cifar10_binary(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: X (N, 3, 32, 32) uint8, y (N,) int64."""
    path = Path(path)
    raw = _read_bytes(path)
    if not raw or len(raw) % CIFAR_RECORD:
        raise LoaderError(f"{path}: {len(raw)} bytes is not a whole number of {CIFAR_RECORD}-byte "
                          "CIFAR-10 records (1 label byte + 3072 pixel bytes)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    y = records[:, 0].astype(np.int64)
    if y.max() > 9:
        raise LoaderError(f"{path}: label {int(y.max())} out of range 0..9 (a CIFAR-100 file?)")
    return records[:, 1:].reshape(-1, *CIFAR_SHAPE).copy(), y


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's Python batches: plain containers and NumPy arrays, nothing callable else."""

    _reconstruct = np.zeros(1).__reduce__()[0]  # numpy's array reconstructor, where this NumPy keeps it
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at pickle protocol 2
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file") from None


def read_cifar10_pickle(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 Python batch (a pickled dict with b'data' and b'labels'): X (N, 3, 32, 32) uint8, y (N,)."""
    path = Path(path)
    raw = _read_bytes(path)
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise LoaderError(f"{path}: not a CIFAR-10 Python batch: {e}") from None
    if not isinstance(batch, dict):
        raise LoaderError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    batch = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise LoaderError(f"{path}: no 'data' and 'labels' entries (keys: {', '.join(map(str, batch))})")
    data = np.asarray(batch["data"])
    y = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_RECORD - 1 or len(data) != len(y):
        raise LoaderError(f"{path}: data of shape {data.shape} ({data.dtype}) with {len(y)} labels, "
                          f"expected (N, {CIFAR_RECORD - 1}) uint8 and N labels")
    return data.reshape(-1, *CIFAR_SHAPE).copy(), y


def load_cifar10(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's `split` ("train": 5 batches, "test": 1) from `directory`, binary batches first.

    `directory` may be the batches folder itself or the folder holding `cifar-10-batches-bin/`
    or `cifar-10-batches-py/`. Returns X (N, 3, 32, 32) uint8 and y (N,) int64.
    """
    names = {"train": CIFAR_TRAIN, "test": CIFAR_TEST}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    directory = Path(directory)
    for folder in (directory, directory / "cifar-10-batches-bin"):
        paths = [folder / f"{n}.bin" for n in names]
        if all(p.is_file() for p in paths):
            return _concat([read_cifar10_binary(p) for p in paths])
    for folder in (directory, directory / "cifar-10-batches-py"):
        paths = [folder / n for n in names]
        if all(p.is_file() for p in paths):
            return _concat([read_cifar10_pickle(p) for p in paths])
    raise LoaderError(f"{directory}: no CIFAR-10 {split} batches ({names[0]}.bin ... or {names[0]} ..., "
                      "here or in cifar-10-batches-bin/ or cifar-10-batches-py/)")


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])
