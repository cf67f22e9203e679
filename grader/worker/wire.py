"""Framing and value encoding shared by the judge and the worker.

This file is copied into the sandbox next to `untrusted_worker.py`, so it imports only the
standard library and numpy. A frame is:

    u32 big-endian length of the JSON header | JSON header (UTF-8) | raw array bytes

The header lists the arrays (`"arrays": [{"dtype": "<f8", "shape": [2, 3]}, ...]`); their
bytes follow in order. Values are JSON with a few tagged objects:

    {"$nd": i}            array i                 {"$np": i}        numpy scalar (0-d array i)
    {"$tuple": [...]}     tuple                   {"$dict": [[k, v], ...]}  dict
    {"$float": "nan"}     nan / inf / -inf        {"$h": id, "type": name}  opaque worker object

Nothing is ever pickled. The judge decodes worker frames with the checks in
`grader/judge/worker_reply.py`; this module only builds frames and decodes trusted ones.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any, Callable

import numpy as np

HEADER = struct.Struct(">I")
#: dtypes allowed on the wire; anything else (object, void, datetime) is refused.
DTYPES = frozenset(
    np.dtype(t).str
    for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
)
MAX_DEPTH = 32


class WireError(Exception):
    """A frame could not be read or built."""


def encode(value: Any, arrays: list[np.ndarray], to_handle: Callable[[Any], dict] | None = None,
           depth: int = 0) -> Any:
    """Encode `value` as tagged JSON, appending arrays to `arrays`.

    Objects that are not data go through `to_handle` (worker side); without it they are an error.
    """
    if isinstance(value, np.generic) and np.dtype(type(value)).str in DTYPES:
        arrays.append(np.asarray(value))  # before float: np.float64 subclasses float
        return {"$np": len(arrays) - 1}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if depth > MAX_DEPTH:
        return _handle_or_fail(value, to_handle)
    if isinstance(value, np.ndarray) and value.dtype.str in DTYPES:
        arrays.append(np.ascontiguousarray(value).reshape(value.shape))  # ascontiguousarray makes 0-d 1-d
        return {"$nd": len(arrays) - 1}
    if type(value) is tuple:
        return {"$tuple": [encode(v, arrays, to_handle, depth + 1) for v in value]}
    if type(value) is list:
        return [encode(v, arrays, to_handle, depth + 1) for v in value]
    if type(value) is dict and all(type(k) in (str, int) for k in value):
        return {"$dict": [[k, encode(v, arrays, to_handle, depth + 1)] for k, v in value.items()]}
    return _handle_or_fail(value, to_handle)


def _handle_or_fail(value: Any, to_handle: Callable[[Any], dict] | None) -> dict:
    if to_handle is None:
        raise WireError(f"cannot send a {type(value).__name__} to the worker")
    return to_handle(value)


def decode_trusted(value: Any, arrays: list[np.ndarray], from_handle: Callable[[dict], Any]) -> Any:
    """Decode a frame from the judge (worker side). The judge is trusted; no limits here."""
    if isinstance(value, list):
        return [decode_trusted(v, arrays, from_handle) for v in value]
    if not isinstance(value, dict):
        return value
    if "$nd" in value:
        return arrays[value["$nd"]]
    if "$np" in value:
        return arrays[value["$np"]][()]
    if "$tuple" in value:
        return tuple(decode_trusted(v, arrays, from_handle) for v in value["$tuple"])
    if "$dict" in value:
        return {k: decode_trusted(v, arrays, from_handle) for k, v in value["$dict"]}
    if "$float" in value:
        return float(value["$float"])
    if "$h" in value:
        return from_handle(value)
    raise WireError(f"unknown tag in {sorted(value)}")


def send(sock: socket.socket, header: dict, arrays: list[np.ndarray] = ()) -> None:
    """Send one frame: header JSON plus raw array bytes."""
    header = dict(header)
    header["arrays"] = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    body = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    sock.sendall(HEADER.pack(len(body)) + body)
    for a in arrays:
        if a.nbytes:
            sock.sendall(memoryview(np.ascontiguousarray(a)).cast("B"))


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Read exactly n bytes or raise EOFError."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("channel closed")
        got += k
    return bytes(buf)


def recv_trusted(sock: socket.socket) -> tuple[dict, list[np.ndarray]]:
    """Receive a frame from the judge (worker side)."""
    (size,) = HEADER.unpack(recv_exact(sock, HEADER.size))
    header = json.loads(recv_exact(sock, size))
    arrays = []
    for meta in header.get("arrays", []):
        dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = recv_exact(sock, nbytes) if nbytes else b""
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape).copy())
    return header, arrays
