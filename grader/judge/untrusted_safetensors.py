"""The judge's reader of student weight files: safetensors only, total and bounded.

Owns: turning the bytes of an untrusted `.safetensors` file into numpy arrays, or a one-line
`BadModelFile` that says what is wrong. Calls nothing of the grader's (numpy and the stdlib);
the model-scoring stage (grader.judge.model_scoring) and the replay of training checkpoints
call it.

The order is fixed (docs/security.md): the file's size against the cap, then the 8-byte header
length against MAX_HEADER_BYTES, then the JSON header (duplicate keys, nesting and entry count
bounded), then its schema (whitelisted dtypes, shapes, offsets that tile the data exactly, the
element count), and only then are arrays made, which are finally checked for NaN and inf.
Nothing is ever unpickled: a PyTorch `.pt`/`.pth`/`.bin` file (a zip around a pickle) or a
bare pickle is recognised by its first bytes and refused with a message that says how to save
safetensors instead.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The JSON header's largest size (its length is the file's first 8 bytes).
MAX_HEADER_BYTES = 1 << 20
#: Most tensors in one file, longest tensor name, most dimensions of one tensor.
MAX_TENSORS = 10_000
MAX_NAME_CHARS = 300
MAX_DIMS = 16
#: `__metadata__`: at most this many entries, each key and value a string of at most 1,000 chars.
MAX_METADATA_ITEMS = 64

#: safetensors dtype -> (numpy dtype, little-endian, or None for BF16, itemsize).
DTYPES: dict[str, tuple[str | None, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U8": ("u1", 1), "BOOL": ("?", 1),
}
_FLOATS = ("F64", "F32", "F16", "BF16")

#: Suffixes of pickle-based formats, refused by name before a byte is read.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")

HOW_TO_SAVE = ("save the weights as safetensors: from safetensors.torch import save_file; "
               "save_file(model.state_dict(), 'model.safetensors')")


class BadModelFile(Exception):
    """A weights file that cannot be used. The message is one line for the student."""


@dataclass(frozen=True)
class WeightsFile:
    """The validated content of one safetensors file."""

    tensors: dict[str, np.ndarray]  # in the file's order of offsets; read-only arrays
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def elements(self) -> int:
        """Number of values in all tensors together."""
        return sum(int(a.size) for a in self.tensors.values())


def refuse_pickle_name(name: str) -> None:
    """Raise BadModelFile for a file name of a pickle-based format (.pt, .pth, .bin, .pkl...)."""
    lower = name.lower()
    for suffix in PICKLE_SUFFIXES:
        if lower.endswith(suffix):
            raise BadModelFile(f"{name}: {suffix} files are pickle-based and are never loaded; {HOW_TO_SAVE}")


def _sniff(head: bytes, name: str) -> None:
    """Refuse the pickle-based formats by their first bytes, whatever the file is called."""
    if head[:4] == b"PK\x03\x04":
        raise BadModelFile(f"{name} is a zip file (what torch.save writes: a pickle inside), not safetensors; "
                           f"{HOW_TO_SAVE}")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise BadModelFile(f"{name} is a Python pickle, not safetensors; pickles are never loaded; {HOW_TO_SAVE}")
    if head[:6] == b"\x93NUMPY":
        raise BadModelFile(f"{name} is a numpy .npy file, not safetensors; {HOW_TO_SAVE}")


def read_safetensors(path: Path | str, max_bytes: int, max_elements: int | None = None,
                     name: str | None = None) -> WeightsFile:
    """Read and check the safetensors file at `path`; BadModelFile for anything wrong with it.

    `max_bytes`: the largest file accepted (from [limits] model_file_mb); `max_elements`: the
    most values all tensors may hold together (the parameter budget), None for no check beyond
    the size. `name` is how messages call the file (default: its file name).
    """
    path = Path(path)
    name = name or path.name
    refuse_pickle_name(name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise BadModelFile(f"{name}: cannot open: {e.strerror or e}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BadModelFile(f"{name} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > max_bytes:
            raise BadModelFile(f"{name} is {_mib(info.st_size)}, over the limit of {_mib(max_bytes)} "
                               "([limits] model_file_mb)")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while read
        raise BadModelFile(f"{name} is over the limit of {_mib(max_bytes)} ([limits] model_file_mb)")
    return parse_safetensors(data, max_elements, name)


def parse_safetensors(data: bytes, max_elements: int | None = None, name: str = "weights") -> WeightsFile:
    """Check and convert the bytes of a safetensors file (already within the size cap)."""
    _sniff(data[:8], name)
    if len(data) < 8:
        raise BadModelFile(f"{name} is {len(data)} bytes: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise BadModelFile(f"{name}: the safetensors header claims {n:,} bytes, over the limit of "
                           f"{MAX_HEADER_BYTES:,}")
    if 8 + n > len(data):
        raise BadModelFile(f"{name}: the safetensors header claims {n:,} bytes but the file has "
                           f"{len(data) - 8:,} after the length")
    header = _json_header(data[8:8 + n], name)
    body = memoryview(data)[8 + n:]
    entries, metadata = _schema(header, name)
    _offsets(entries, len(body), name)
    elements = sum(math.prod(shape) for _, _, shape, _ in entries)
    if max_elements is not None and elements > max_elements:
        raise BadModelFile(f"{name} holds {elements:,} values, over the parameter budget of {max_elements:,}")
    tensors: dict[str, np.ndarray] = {}
    for key, dtype, shape, (begin, end) in sorted(entries, key=lambda e: e[3]):
        array = _array(body[begin:end], dtype, shape)
        if dtype in _FLOATS:
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            if bad:
                raise BadModelFile(f"{name}: tensor {key!r} holds {bad:,} NaN or infinite values; "
                                   "training diverged or the file is damaged")
        tensors[key] = array
    return WeightsFile(tensors, metadata)


def _json_header(raw: bytes, name: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k[:60]!r}")
            out[k] = v
        return out

    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=no_duplicates,
                            parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} in the header")))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e).splitlines()[0][:120]
        raise BadModelFile(f"{name}: the safetensors header is not valid JSON ({what})") from None
    if not isinstance(header, dict):
        raise BadModelFile(f"{name}: the safetensors header is not a JSON object")
    return header


def _schema(header: dict[str, Any], name: str) -> tuple[list[tuple[str, str, tuple[int, ...], tuple[int, int]]],
                                                       dict[str, str]]:
    metadata = header.pop("__metadata__", {})
    if (not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_ITEMS
            or not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 1000 and len(v) <= 1000
                       for k, v in metadata.items())):
        raise BadModelFile(f"{name}: __metadata__ must map at most {MAX_METADATA_ITEMS} short strings to strings")
    if len(header) > MAX_TENSORS:
        raise BadModelFile(f"{name} declares {len(header):,} tensors, over the limit of {MAX_TENSORS:,}")
    entries = []
    for key, entry in header.items():
        shown = repr(key[:60])
        if not key or len(key) > MAX_NAME_CHARS or not key.isprintable():
            raise BadModelFile(f"{name}: tensor name {shown} is empty, longer than {MAX_NAME_CHARS} "
                               "characters or not printable")
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise BadModelFile(f"{name}: tensor {shown} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise BadModelFile(f"{name}: tensor {shown} has dtype {str(dtype)[:20]!r}; accepted: "
                               f"{', '.join(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(d) is int and 0 <= d < 2**40 for d in shape)):
            raise BadModelFile(f"{name}: tensor {shown} has a bad shape (a list of at most {MAX_DIMS} "
                               "non-negative integers)")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int and 0 <= o < 2**62 for o in offsets) or offsets[0] > offsets[1]):
            raise BadModelFile(f"{name}: tensor {shown} has bad data_offsets (two integers, begin <= end)")
        size = math.prod(shape) * DTYPES[dtype][1]
        if size != offsets[1] - offsets[0]:
            raise BadModelFile(f"{name}: tensor {shown} is {dtype} of shape {tuple(shape)}, {size:,} bytes, "
                               f"but its data_offsets span {offsets[1] - offsets[0]:,} bytes")
        entries.append((key, dtype, tuple(shape), (offsets[0], offsets[1])))
    if not entries:
        raise BadModelFile(f"{name} holds no tensors")
    return entries, dict(metadata)


def _offsets(entries: list, body: int, name: str) -> None:
    """The tensors' byte ranges must tile the data exactly: no overlap, no gap, nothing past it."""
    position = 0
    for key, _, _, (begin, end) in sorted(entries, key=lambda e: e[3]):
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else "leaves a gap before it"
            raise BadModelFile(f"{name}: tensor {key[:60]!r} {what} (offset {begin:,}, expected {position:,})")
        position = end
    if position != body:
        raise BadModelFile(f"{name}: the tensors cover {position:,} bytes of data but the file holds {body:,}")


def _array(raw: memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    np_dtype = DTYPES[dtype][0]
    if np_dtype is None:  # BF16: the high half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    else:
        array = np.frombuffer(raw, dtype=np.dtype(np_dtype))
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
    array = array.reshape(shape)
    array.flags.writeable = False
    return array


def write_safetensors(path: Path | str, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
                      ) -> Path:
    """Write `tensors` (numpy arrays of DTYPES' kinds) as a safetensors file: for tests, the kit and
    tools that make weights without the safetensors package."""
    reverse = {np.dtype(v[0]).newbyteorder("<") if v[0] else None: k for k, v in DTYPES.items()}
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for key, value in tensors.items():
        array = np.asarray(value, order="C")
        kind = reverse.get(array.dtype.newbyteorder("<"))
        if kind is None:
            raise ValueError(f"{key}: dtype {array.dtype} cannot be written as safetensors here")
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = Path(path)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    return path


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
