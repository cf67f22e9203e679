"""grader/course/loaders.py on small files written in the real MNIST (IDX) and CIFAR-10 formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from grader.course.loaders import (
    LoaderError,
    load_cifar10,
    load_mnist,
    read_cifar10_binary,
    read_cifar10_pickle,
    read_idx,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of `array`, as the MNIST files are written: magic, big-endian dims and data."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
             np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}
    code = codes[array.dtype.newbyteorder("=")]
    head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_mnist(directory: Path, n: int, split: str = "train", gz: bool = False, dotted: bool = False):
    rng = np.random.default_rng(n)
    X = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    sep = "." if dotted else "-"
    for kind, array, dims in [("images", X, 3), ("labels", y, 1)]:
        name = f"{prefix}-{kind}{sep}idx{dims}-ubyte"
        data = idx_bytes(array)
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return X, y


# --------------------------------------------------------------------------- MNIST / IDX


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_train_and_test(tmp_path: Path, gz: bool) -> None:
    X, y = write_mnist(tmp_path, 7, "train", gz=gz)
    Xt, yt = write_mnist(tmp_path, 3, "test", gz=gz)
    got_X, got_y = load_mnist(tmp_path, "train")
    assert got_X.dtype == np.uint8 and got_X.shape == (7, 28, 28)
    assert got_y.dtype == np.int64
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    got_Xt, got_yt = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(got_Xt, Xt)
    np.testing.assert_array_equal(got_yt, yt)


def test_load_mnist_dotted_names_and_gzip_found_by_content(tmp_path: Path) -> None:
    X, y = write_mnist(tmp_path, 4, "train", dotted=True)
    np.testing.assert_array_equal(load_mnist(tmp_path)[0], X)
    # a gzipped file without the .gz suffix is still read
    plain = tmp_path / "gz"
    plain.mkdir()
    (plain / "t10k-images-idx3-ubyte").write_bytes(gzip.compress(idx_bytes(X)))
    (plain / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(y))
    np.testing.assert_array_equal(load_mnist(plain, "test")[0], X)


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_read_idx_every_type_in_native_order(tmp_path: Path, dtype: str) -> None:
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype if dtype != "u1" else "i2").astype(dtype)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(a))
    got = read_idx(path)
    assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
    assert got.dtype.byteorder in ("=", "|")
    np.testing.assert_array_equal(got, a)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((2, 3), np.uint8))
    cases = {
        "magic": b"\x01\x00" + good[2:],
        "type": good[:2] + b"\x42" + good[3:],
        "truncated": good[:-1],
        "empty": b"",
        "gzip": b"\x1f\x8b" + b"not really gzip",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(LoaderError, match=name if name in ("magic", "type") else str(path.name)):
            read_idx(path)


def test_load_mnist_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="no train images file"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_mnist(tmp_path, "validation")
    X, _ = write_mnist(tmp_path, 5)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(LoaderError, match="5 images but train-labels-idx1-ubyte has 4 labels"):
        load_mnist(tmp_path)


# --------------------------------------------------------------------------- CIFAR-10


def cifar_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), rng.integers(0, 10, size=n)


def write_cifar_bin(path: Path, data: np.ndarray, labels: np.ndarray) -> None:
    """CIFAR-10's binary layout: per image, one label byte then 1024 R, 1024 G, 1024 B bytes."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
    path.write_bytes(records.tobytes())


def write_cifar_pickle(path: Path, data: np.ndarray, labels: np.ndarray, protocol: int = 3) -> None:
    """CIFAR-10's Python layout: a pickled dict with bytes keys, as the distributed (Python 2) files.

    Those files name numpy's array reconstructor `numpy.core.multiarray._reconstruct`; the
    pickle written here is edited to say the same whatever this NumPy calls it.
    """
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in labels],
             b"data": data, b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    raw = pickle.dumps(batch, protocol=protocol)
    raw = raw.replace(b"numpy._core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_reconstruct")
    path.write_bytes(raw)


def expected_images(data: np.ndarray) -> np.ndarray:
    return data.reshape(-1, 3, 32, 32)


def test_read_cifar10_binary_layout(tmp_path: Path) -> None:
    data, labels = cifar_batch(6, 0)
    write_cifar_bin(tmp_path / "test_batch.bin", data, labels)
    X, y = read_cifar10_binary(tmp_path / "test_batch.bin")
    assert X.shape == (6, 3, 32, 32) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, expected_images(data))
    np.testing.assert_array_equal(y, labels)
    # channel 0 is the first 1024 pixel bytes of the record, row by row
    assert X[2, 0, 0, 5] == data[2, 5] and X[2, 1, 0, 0] == data[2, 1024] and X[2, 2, 31, 31] == data[2, 3071]


@pytest.mark.parametrize("protocol", [2, 3])
def test_read_cifar10_pickle_layout(tmp_path: Path, protocol: int) -> None:
    data, labels = cifar_batch(5, 1)
    path = tmp_path / "data_batch_1"
    write_cifar_pickle(path, data, labels, protocol)
    assert b"numpy.core.multiarray" in path.read_bytes()
    X, y = read_cifar10_pickle(path)
    np.testing.assert_array_equal(X, expected_images(data))
    np.testing.assert_array_equal(y, labels)


def _write_split(folder: Path, kind: str, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data, labels = cifar_batch(2 + i, seed + i)
        if kind == "bin":
            write_cifar_bin(folder / f"{name}.bin", data, labels)
        else:
            write_cifar_pickle(folder / name, data, labels)
        written[name] = (data, labels)
    return written


@pytest.mark.parametrize("kind", ["bin", "py"])
def test_load_cifar10_splits_from_either_version(tmp_path: Path, kind: str) -> None:
    written = _write_split(tmp_path / f"cifar-10-batches-{kind}", kind, 10)
    X, y = load_cifar10(tmp_path, "train")
    train = [written[f"data_batch_{k}"] for k in range(1, 6)]
    np.testing.assert_array_equal(X, expected_images(np.concatenate([d for d, _ in train])))
    np.testing.assert_array_equal(y, np.concatenate([lab for _, lab in train]))
    assert X.shape == (2 + 3 + 4 + 5 + 6, 3, 32, 32)
    Xt, yt = load_cifar10(tmp_path / f"cifar-10-batches-{kind}", "test")  # the batches folder itself
    np.testing.assert_array_equal(Xt, expected_images(written["test_batch"][0]))
    np.testing.assert_array_equal(yt, written["test_batch"][1])


def test_load_cifar10_prefers_the_binary_batches(tmp_path: Path) -> None:
    binary = _write_split(tmp_path / "cifar-10-batches-bin", "bin", 20)
    _write_split(tmp_path / "cifar-10-batches-py", "py", 30)
    Xt, _ = load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(Xt, expected_images(binary["test_batch"][0]))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_refuses_anything_but_data(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": [1]}, protocol=2))
    with pytest.raises(LoaderError, match="refusing to load (posix|os|nt).system"):
        read_cifar10_pickle(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(LoaderError, match="expected a pickled dict, got list"):
        read_cifar10_pickle(path)
    path.write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(LoaderError, match="no 'data' and 'labels'"):
        read_cifar10_pickle(path)


def test_cifar_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="no CIFAR-10 train batches"):
        load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_cifar10(tmp_path, "val")
    bad = tmp_path / "test_batch.bin"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(LoaderError, match="not a whole number of 3073-byte"):
        read_cifar10_binary(bad)
    bad.write_bytes(bytes([42]) + bytes(3072))
    with pytest.raises(LoaderError, match="label 42 out of range"):
        read_cifar10_binary(bad)
