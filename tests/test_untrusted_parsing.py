"""Every parse of untrusted bytes is total: a value, or BadReply / BadNotebook, never another exception.

Property-based (hypothesis) over `recv_reply`, `decode_value` and `read_notebook`, plus the
inputs that once escaped as plain exceptions. Examples are bounded (max_examples, no deadline
flakiness) so the module runs in seconds.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.course.notebook import MAX_CELLS, BadNotebook, code_cells, defining_cells, read_notebook
from grader.judge.worker_reply import BadReply, ReplyTimeout, decode_value, recv_reply

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,  # the same examples on every run
                suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)
tags = st.sampled_from(["$nd", "$np", "$tuple", "$dict", "$float", "$h", "type", "x"])
tagged_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tags, inner, min_size=1, max_size=2)
    | st.builds(lambda pairs: {"$dict": pairs}, st.lists(st.lists(inner, max_size=3), max_size=3)),
    max_leaves=25)
dtypes = st.sampled_from(["<f8", "<i4", "|b1", "<c16", "|O", "<M8[s]", "", "f8"]) | json_values
shapes = st.lists(st.integers(min_value=-2, max_value=2**40) | st.sampled_from([0, 1, 3]), max_size=6) | json_values


def _frame(header_bytes: bytes) -> bytes:
    return struct.pack(">I", len(header_bytes)) + header_bytes


def _feed(data: bytes) -> tuple[str, object]:
    """What recv_reply makes of `data` sent by a peer that then closes: ('ok', reply) or ('error', type)."""
    a, b = socket.socketpair()
    try:
        writer = threading.Thread(target=lambda: (a.sendall(data), a.close()), daemon=True)
        writer.start()
        try:
            return "ok", recv_reply(b, time.monotonic() + 2.0)
        except (BadReply, EOFError, ConnectionResetError, ReplyTimeout) as e:
            return "error", type(e)
        finally:
            writer.join(2.0)
    finally:
        a.close()
        b.close()


@FUZZ
@given(st.binary(max_size=64))
def test_recv_reply_is_total_over_raw_bytes(data):
    _feed(data)  # anything but BadReply / EOFError / ReplyTimeout fails the test


@FUZZ
@given(json_values, st.lists(st.fixed_dictionaries({"dtype": dtypes, "shape": shapes}), max_size=3),
       st.binary(max_size=64))
def test_recv_reply_is_total_over_headers_and_array_tables(body, table, tail):
    header = {"ok": True, "value": body, "arrays": table}
    kind, got = _feed(_frame(json.dumps(header).encode()) + tail)
    if kind == "ok":
        reply, arrays = got
        assert len(arrays) == len(table)
        assert all(isinstance(a, np.ndarray) for a in arrays)


@FUZZ
@given(st.text(max_size=200))
def test_recv_reply_is_total_over_header_text(text):
    _feed(_frame(text.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize("header", [
    b'{"ok": true, "value": ' + b"9" * 5000 + b"}",  # more digits than int() accepts
    b'{"arrays": [{"dtype": {"a": 1}, "shape": [1]}]}',  # unhashable dtype
    b'{"arrays": [{"dtype": ["<f8"], "shape": [1]}]}',
    b'{"arrays": [{"dtype": "<f8", "shape": [0, 536870912, 536870912, 536870912]}]}',  # reshape overflow
    b'{"arrays": [{"dtype": "<f8", "shape": [0' + b", 536870912" * 31 + b"]}]}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"ok": false, "error": {"message": ' + b"[" * 500 + b"]" * 500 + b"}}",  # parses; too deep to print
    b'{"x": NaN}', b'{"x": 1e999}', b"\xff\xfe", b"",
])
def test_replies_that_once_escaped_are_bad_replies(header):
    kind, got = _feed(_frame(header))
    if header in (b'{"x": 1e999}',):
        assert kind == "ok"
    else:
        assert (kind, got) == ("error", BadReply), header[:80]


def _handle(hid: int, tname: str) -> tuple:
    return ("handle", hid, tname)


@FUZZ
@given(tagged_values, st.integers(min_value=0, max_value=3))
def test_decode_value_is_total(value, n_arrays):
    arrays = [np.arange(3.0)] * n_arrays
    try:
        decode_value(value, arrays, _handle)
    except BadReply:
        pass


def test_decode_value_refuses_what_once_escaped():
    for bad in ({"$float": ["nan"]}, {"$float": {"a": 1}}, {"$dict": [[["k"], 1]]}, {"$nd": 10**30},
                {"$h": "1"}, {"$tuple": 5, "x": 1}, json.loads("[" * 40 + "]" * 40),
                {"$h": int("9" * 3779)}, {"$h": 0}, {"$h": -1}):  # integers bounded by what they mean
        with pytest.raises(BadReply):
            decode_value(bad, [], _handle)


# -------------------------------------------------------------------------- notebooks


def _read(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(data)
    try:
        nb = read_notebook(path)
    except BadNotebook as e:
        message = str(e)
        assert "\n" not in message and len(message) < 600
        return "bad"
    code_cells(nb), defining_cells(nb)  # what the judge does next must be total too
    return "ok"


def _notebook(cells: list, **top) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **top}


def _code(source) -> dict:  # noqa: ANN001
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


@FUZZ
@given(st.binary(max_size=200))
def test_read_notebook_is_total_over_bytes(tmp_path_factory, data):
    _read(tmp_path_factory.mktemp("nb"), data)


@FUZZ
@given(json_values, st.lists(json_values, max_size=4), st.text(max_size=60))
def test_read_notebook_is_total_over_json(tmp_path_factory, metadata, cells, source):
    tmp = tmp_path_factory.mktemp("nb")
    _read(tmp, json.dumps(_notebook(cells + [_code(source)], metadata=metadata)).encode())
    _read(tmp, json.dumps(_notebook([_code(source)], metadata=metadata, nbformat=metadata)).encode())


@pytest.mark.parametrize("source", [
    "1+" * 200_000 + "1", "a" + ".b" * 200_000, "x = 1\x00", "-" * 1_000_000 + "1", "(" * 10_000,
])
def test_cell_sources_that_break_the_python_parser_still_read(tmp_path, source):
    assert _read(tmp_path, json.dumps(_notebook([_code(source), _code("y = 2")])).encode()) == "ok"


def test_hostile_notebook_files_are_bad_input(tmp_path):
    deep = b'{"nbformat": 4, "cells": [], "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert _read(tmp_path, deep) == "bad"
    nested = _notebook([_code("x = 1")], metadata={"a": json.loads("[" * 900 + "]" * 900)})
    assert _read(tmp_path, json.dumps(nested).encode()) in ("ok", "bad")
    big_int = b'{"nbformat": 4, "nbformat_minor": ' + b"7" * 5000 + b', "cells": [], "metadata": {}}'
    assert _read(tmp_path, big_int) == "bad"
    assert _read(tmp_path, json.dumps({"nbformat": 4, "worksheets": []}).encode()) == "bad"
    assert _read(tmp_path, json.dumps(_notebook({"a": 1})).encode()) == "bad"


def test_too_many_cells_is_one_line_of_bad_input(tmp_path):
    path = tmp_path / "many.ipynb"
    path.write_text(json.dumps(_notebook([_code("x = 1")] * (MAX_CELLS + 1))))
    with pytest.raises(BadNotebook, match=f"{MAX_CELLS + 1} cells; at most {MAX_CELLS}") as e:
        read_notebook(path)
    assert "\n" not in str(e.value)
    path.write_text(json.dumps(_notebook([_code("x = 1")] * MAX_CELLS)))
    assert len(read_notebook(path)["cells"]) == MAX_CELLS


def test_special_files_are_bad_input(tmp_path):
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path, tmp_path / "missing.ipynb"):
        with pytest.raises(BadNotebook):
            read_notebook(path)


@pytest.mark.parametrize("data", [
    b'{"nbformat": 4, "cells": [], "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"nbformat": 4, "nbformat_minor": ' + b"7" * 5000 + b', "cells": [], "metadata": {}}',
])
def test_the_cli_refuses_hostile_notebook_files_with_one_line(tmp_path, data):
    from click.testing import CliRunner

    from grader.cli import main

    path = tmp_path / "nb.ipynb"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["check", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.exit_code, result.output[-500:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines[:3]
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
