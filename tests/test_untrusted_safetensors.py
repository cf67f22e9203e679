"""The judge's safetensors reader (grader/judge/untrusted_safetensors.py) against hostile files.

Every file here is made by hand, byte by byte: a header bomb, wrong dtypes and shapes, offsets
that overlap or leave the file, NaN weights, a file far over the cap, and pickles disguised as
safetensors. Each ends in one BadModelFile line, within a bounded time and memory, and nothing
is ever unpickled (the pickle below would write a file if it were).
"""

from __future__ import annotations

import json
import pickle
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader.judge.untrusted_safetensors import (
    MAX_HEADER_BYTES,
    BadModelFile,
    parse_safetensors,
    read_safetensors,
    refuse_pickle_name,
    write_safetensors,
)

MiB = 1 << 20


def _raw(header: dict | str | bytes, body: bytes = b"", length: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + body


def _refused(data: bytes, *words: str, max_elements: int | None = None) -> str:
    with pytest.raises(BadModelFile) as e:
        parse_safetensors(data, max_elements, "model.safetensors")
    message = str(e.value)
    assert "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, message
    return message


def test_a_written_file_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"conv.weight": rng.normal(size=(4, 1, 3, 3)).astype(np.float32),
               "conv.bias": np.zeros(4, np.float32), "bn.num_batches_tracked": np.array(7, np.int64),
               "table": rng.integers(0, 255, (2, 3)).astype(np.uint8), "mask": np.array([True, False]),
               "half": np.arange(3, dtype=np.float16), "wide": rng.normal(size=5)}
    path = write_safetensors(tmp_path / "m.safetensors", tensors, {"format": "pt"})
    got = read_safetensors(path, max_bytes=MiB)
    assert list(got.tensors) == list(tensors) and got.metadata == {"format": "pt"}
    for key, value in tensors.items():
        assert got.tensors[key].dtype == value.dtype and got.tensors[key].shape == value.shape
        assert np.array_equal(got.tensors[key], value), key
    assert got.elements == sum(v.size for v in tensors.values())


def test_bf16_becomes_float32():
    values = np.array([1.0, -2.5, 0.15625], np.float32)
    raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    got = parse_safetensors(_raw({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}, raw))
    assert got.tensors["w"].dtype == np.float32 and np.array_equal(got.tensors["w"], values)


def test_a_header_bomb_is_refused_before_anything_is_allocated():
    tracemalloc.start()
    try:
        start = time.monotonic()
        _refused(_raw(b"{}", length=2**63), "header claims", "over the limit")
        _refused(_raw(b"{}", length=MAX_HEADER_BYTES + 1), "over the limit")
        _refused(_raw(b"{}", length=500_000), "but the file has")  # claims more than there is
        deep = "[" * 200_000 + "]" * 200_000
        _refused(_raw(deep), "not valid JSON")
        _refused(_raw('{"a": ' * 100_000 + "1" + "}" * 100_000), "not valid JSON")
        assert time.monotonic() - start < 5
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 * MiB, peak


@pytest.mark.parametrize("header, words", [
    ({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, ("dtype 'F128'", "accepted")),
    ({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, ("dtype 'O'",)),
    ({"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, ("dtype",)),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, ("12 bytes", "span 8")),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, ("bad shape",)),
    ({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, ("bad shape",)),
    ({"w": {"dtype": "F32", "shape": [1] * 40, "data_offsets": [0, 4]}}, ("bad shape",)),
    ({"w": {"dtype": "F32", "shape": [2**39, 2**39], "data_offsets": [0, 8]}}, ("span 8",)),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, ("bad data_offsets",)),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": 1}}, ("exactly dtype",)),
    ({"w": [1, 2]}, ("exactly dtype",)),
    ({}, ("no tensors",)),
    ({"__metadata__": {"a": 1}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, ("__metadata__",)),
    ({"": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, ("tensor name",)),
])
def test_wrong_dtypes_shapes_and_entries(header, words):
    _refused(_raw(header, b"\0" * 8), *words)


def test_offsets_must_tile_the_data():
    two = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    _refused(_raw(two, b"\0" * 12), "overlaps")
    gap = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    _refused(_raw(gap, b"\0" * 8), "gap")
    one = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    _refused(_raw(one, b"\0" * 8), "cover 4 bytes", "holds 8")
    _refused(_raw({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8), "cover 16")
    dup = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    _refused(_raw(dup, b"\0" * 4), "duplicate key")


def test_the_parameter_budget():
    data = _raw({"w": {"dtype": "F32", "shape": [10, 10], "data_offsets": [0, 400]}}, b"\0" * 400)
    assert parse_safetensors(data, max_elements=100).elements == 100
    _refused(data, "100 values", "budget of 99", max_elements=99)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_weights(bad):
    w = np.ones(6, np.float32)
    w[3] = bad
    _refused(_raw({"fc.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, w.tobytes()),
             "'fc.weight'", "1 NaN or infinite")


def test_a_file_far_over_the_cap_is_not_read(tmp_path):
    path = tmp_path / "model.safetensors"
    with path.open("wb") as f:  # sparse: 8 GiB claimed, nothing written
        f.truncate(8 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(BadModelFile, match=r"8,192.0 MiB, over the limit of 64.0 MiB"):
            read_safetensors(path, max_bytes=64 * MiB)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MiB


class _Boom:
    def __reduce__(self):
        return (Path.write_text, (Path("/tmp/dlgrade-unpickled-marker"), "unpickled"))


def test_pickles_disguised_as_safetensors_are_never_unpickled(tmp_path):
    marker = Path("/tmp/dlgrade-unpickled-marker")
    marker.unlink(missing_ok=True)
    for protocol in (2, 3, 4, 5):
        _refused(pickle.dumps({"w": _Boom()}, protocol=protocol), "pickle", "save_file")
    fake = tmp_path / "model.safetensors"
    with zipfile.ZipFile(fake, "w") as z:  # the layout torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps(_Boom()))
    with pytest.raises(BadModelFile, match="zip file .*torch.save"):
        read_safetensors(fake, max_bytes=MiB)
    np.save(tmp_path / "w.npy", np.zeros(3))
    fake.write_bytes((tmp_path / "w.npy").read_bytes())
    with pytest.raises(BadModelFile, match=".npy"):
        read_safetensors(fake, max_bytes=MiB)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pt", "MODEL.PTH", "pytorch_model.bin", "w.pkl", "best.ckpt"])
def test_pickle_based_formats_are_refused_by_name(name, tmp_path):
    with pytest.raises(BadModelFile, match="pickle-based"):
        refuse_pickle_name(name)
    write_safetensors(tmp_path / name, {"w": np.zeros(2, np.float32)})  # even when the bytes are fine
    with pytest.raises(BadModelFile, match="pickle-based"):
        read_safetensors(tmp_path / name, max_bytes=MiB)


def test_not_a_regular_file(tmp_path):
    with pytest.raises(BadModelFile, match="not a regular file"):
        read_safetensors(tmp_path, max_bytes=MiB, name="model.safetensors")
    (tmp_path / "link.safetensors").symlink_to(write_safetensors(tmp_path / "m.safetensors", {"w": np.zeros(1)}))
    with pytest.raises(BadModelFile, match="cannot open"):
        read_safetensors(tmp_path / "link.safetensors", max_bytes=MiB)
    _refused(b"\x01\x00", "too short")
    _refused(_raw(b"\xff\xfe"), "not valid JSON")
    _refused(_raw("[1, 2]"), "not a JSON object")
    _refused(_raw('{"w": NaN}'), "not valid JSON")
