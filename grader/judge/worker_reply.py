"""Reading what the untrusted worker sends back: size caps, then parsing, then a schema check.

Everything that crosses from the worker to the judge passes through `recv_reply`. A reply that
is too large, malformed or off-schema raises `BadReply`; the session then kills the worker.
"""

from __future__ import annotations

import json
import math
import re
import socket
import time
from typing import Any, Callable

import numpy as np

from grader.textsafe import no_surrogates
from grader.worker.wire import DTYPES, HEADER, MAX_DEPTH

MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_ARRAY_BYTES = 512 * 1024 * 1024
MAX_ARRAYS = 100_000
MAX_NDIM = 32
MAX_TYPE_NAME = 200
#: Nesting of a whole reply header: values (MAX_DEPTH, tagged) inside a reply's fields. Deeper
#: JSON parses, but printing or walking it in the judge could recurse too deep.
MAX_HEADER_DEPTH = 3 * MAX_DEPTH + 16  # a dict level is three JSON levels: {"$dict": [[k, v]]}


class BadReply(Exception):
    """The worker sent something the judge will not accept."""


class ReplyTimeout(Exception):
    """The worker did not answer before the deadline."""


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReplyTimeout()
        sock.settimeout(remaining)
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 20))
        except socket.timeout:
            raise ReplyTimeout() from None
        except ConnectionResetError:
            raise  # the worker died with the judge's request unread (grader/judge/session.py)
        except OSError as e:
            raise EOFError(str(e)) from None
        if k == 0:
            raise EOFError("the worker closed the channel")
        got += k
    return buf  # no copy: arrays are built on it


def _no_constants(name: str) -> Any:
    raise BadReply(f"non-standard JSON constant {name}")


def recv_reply(sock: socket.socket, deadline: float, budget: int | None = None,
               stats: dict[str, int] | None = None) -> tuple[dict, list[np.ndarray]]:
    """Read one frame from the worker: cap sizes, parse JSON, check the array table.

    Total: whatever the bytes are, the result is a reply, `BadReply`, `ReplyTimeout` or `EOFError`
    (the channel closed; `ConnectionResetError` when the worker died before reading the judge's
    last request). `budget` is what is left of the submission's budget of bytes received (header
    and arrays); a reply over it raises `BudgetSpent` before its bytes are read. `stats["bytes"]`
    receives the reply's size.
    """
    (size,) = HEADER.unpack(_recv_exact(sock, HEADER.size, deadline))
    if size > MAX_HEADER_BYTES:
        raise BadReply(f"reply header of {size} bytes exceeds {MAX_HEADER_BYTES}")
    if budget is not None and size > budget:
        raise BudgetSpent(f"a reply header of {size} bytes, more than the {budget} bytes left")
    header = parse_header(_recv_exact(sock, size, deadline))
    left = MAX_ARRAY_BYTES if budget is None else budget - size
    metas = check_table(header, min(left, MAX_ARRAY_BYTES))
    arrays = []
    for dtype, shape, nbytes in metas:
        data = _recv_exact(sock, nbytes, deadline) if nbytes else b""
        arrays.append(_array(data, dtype, shape))
    if stats is not None:
        stats["bytes"] = size + sum(m[2] for m in metas)
    return header, arrays


class BudgetSpent(BadReply):
    """A reply would take the submission past its budget of bytes received from the worker."""


def parse_header(raw: bytes | bytearray) -> dict:
    """The reply header as a dict, or BadReply. Total over every byte string."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except BadReply:
        raise
    except (ValueError, RecursionError, MemoryError) as e:  # ValueError covers JSONDecodeError,
        # UnicodeDecodeError and integers of more than sys.get_int_max_str_digits() digits
        raise BadReply(f"reply is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(header, dict):
        raise BadReply("reply is not a JSON object")
    if _too_deep(header, MAX_HEADER_DEPTH):
        raise BadReply(f"reply nested more than {MAX_HEADER_DEPTH} levels deep")
    if _SURROGATE_ESCAPE.search(raw):
        header = _without_surrogates(header)
    return header


#: A JSON escape of a surrogate code point: the only way one reaches a parsed reply (the bytes
#: themselves are strict UTF-8). Pairs become one character; lone ones are replaced below.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _without_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD, so that no
    text from the worker can stop the judge from writing a page or a file. Called after the
    depth check: the recursion is bounded by MAX_HEADER_DEPTH."""
    if isinstance(value, str):
        return no_surrogates(value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {no_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def check_table(header: dict, limit: int = MAX_ARRAY_BYTES) -> list[tuple[np.dtype, tuple[int, ...], int]]:
    """(dtype, shape, nbytes) of each array the header announces, or BadReply."""
    table = header.get("arrays", [])
    if not isinstance(table, list) or len(table) > MAX_ARRAYS:
        raise BadReply("bad array table")
    metas, total = [], 0
    for meta in table:
        dtype_str = meta.get("dtype") if isinstance(meta, dict) else None
        if not isinstance(dtype_str, str) or dtype_str not in DTYPES:
            raise BadReply(f"array of refused dtype {str(meta)[:80]}")
        shape = meta.get("shape")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(d) is int and 0 <= d <= MAX_ARRAY_BYTES for d in shape)):
            raise BadReply(f"bad array shape {str(shape)[:80]}")
        dtype = np.dtype(dtype_str)
        # Every dimension counts, zeros aside: numpy refuses a shape whose element count would
        # overflow even when another dimension is 0.
        if math.prod(d for d in shape if d) * dtype.itemsize > MAX_ARRAY_BYTES:
            raise BadReply(f"bad array shape {str(shape)[:80]}")
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > limit:
            if limit < MAX_ARRAY_BYTES:
                raise BudgetSpent(f"a reply with {total // 2**20} MiB of arrays, more than the "
                                  f"{max(limit, 0) // 2**20} MiB left")
            raise BadReply(f"reply carries more than {MAX_ARRAY_BYTES // 2**20} MiB of arrays")
        metas.append((dtype, tuple(shape), nbytes))
    return metas


def _array(data: bytes | bytearray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: data is a fresh bytearray
        return array if array.flags.writeable else array.copy()
    except (ValueError, TypeError, OverflowError, MemoryError) as e:
        raise BadReply(f"array of shape {str(shape)[:80]} cannot be built: {str(e)[:100]}") from None


def decode_value(value: Any, arrays: list[np.ndarray], make_handle: Callable[[int, str], Any],
                 depth: int = 0) -> Any:
    """Turn tagged JSON from the worker into judge-side values, checking every tag.

    Total: anything that is not a well-formed value raises BadReply.
    """
    try:
        return _decode(value, arrays, make_handle, depth)
    except BadReply:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError) as e:
        raise BadReply(f"malformed value ({type(e).__name__})") from None


def _decode(value: Any, arrays: list[np.ndarray], make_handle: Callable[[int, str], Any],
            depth: int = 0) -> Any:
    if depth > MAX_DEPTH + 2:
        raise BadReply("value nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, arrays, make_handle, depth + 1) for v in value]
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise BadReply("malformed value")
    if "$nd" in value or "$np" in value:
        idx = value.get("$nd", value.get("$np"))
        if type(idx) is not int or not 0 <= idx < len(arrays):
            raise BadReply("array reference out of range")
        if "$np" in value and arrays[idx].ndim != 0:  # a numpy scalar travels as a 0-d array
            raise BadReply("a numpy scalar that is not 0-d")
        return arrays[idx] if "$nd" in value else arrays[idx][()]
    if "$tuple" in value and isinstance(value["$tuple"], list):
        return tuple(_decode(v, arrays, make_handle, depth + 1) for v in value["$tuple"])
    if "$dict" in value and isinstance(value["$dict"], list):
        out = {}
        for pair in value["$dict"]:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                raise BadReply("malformed dict entry")
            out[pair[0]] = _decode(pair[1], arrays, make_handle, depth + 1)
        return out
    if "$float" in value:
        if not isinstance(value["$float"], str) or value["$float"] not in ("nan", "inf", "-inf"):
            raise BadReply("malformed float")
        return float(value["$float"])
    if "$h" in value:
        hid, tname = value["$h"], value.get("type", "object")
        if type(hid) is not int or not 0 < hid < 2**53 or not isinstance(tname, str):  # a counter's value
            raise BadReply("malformed handle")
        return make_handle(hid, tname[:MAX_TYPE_NAME])
    raise BadReply(f"unknown tag {str(list(value))[:40]}")


def require(header: dict, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    """Schema check for one field of a reply header."""
    if key not in header:
        if default is ...:
            raise BadReply(f"reply lacks {key!r}")
        return default
    value = header[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadReply(f"reply field {key!r} has the wrong type")
    return value
