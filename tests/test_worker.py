"""The worker and the judge's session: execution semantics, the proxies, restarts, the protocol."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader.course.assignment import Limits
from grader.course.notebook import strip_ipython
from grader.judge.remote import Handle, MissingName, StudentError, Submission, WorkerLost
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import WorkerSpec, get_backend

FAST = Limits(cell_seconds=3, notebook_seconds=30, call_seconds=3, max_restarts=2)


def start(sources: list[str], limits: Limits = FAST, forbidden: tuple[str, ...] = ()):
    cells = [Cell(i, strip_ipython(src)) for i, src in enumerate(sources)]
    session = WorkerSession(get_backend("process"), WorkerSpec(limits=limits), cells, forbidden=forbidden)
    runs = session.run_notebook()
    return session, runs, Submission(session)


@pytest.fixture
def worker_of():
    sessions = []

    def make(sources, **kw):
        s = start(sources, **kw)
        sessions.append(s[0])
        return s

    yield make
    for s in sessions:
        s.close()


def test_cells_run_in_order_and_errors_do_not_stop_later_cells(worker_of):
    session, runs, sub = worker_of([
        "x = 1\nprint('hello')",
        "raise ValueError('boom')",
        "y = x + 1\ny",
    ])
    assert [r.status for r in runs] == ["ok", "error", "ok"]
    assert runs[0].outputs[0]["text"] == "hello\n"
    assert runs[1].message == "ValueError: boom"
    assert runs[2].outputs[-1]["data"]["text/plain"] == "2"
    assert sub.y == 2


def test_arrays_come_back_as_numpy_and_objects_as_handles(worker_of):
    _, _, sub = worker_of([
        "import numpy as np\n"
        "def f(x):\n    return x * 2, {'shape': x.shape, 'x': x}\n"
        "class Net:\n    def __init__(self):\n        self.params = {'W': np.ones((2, 3))}\n"
        "    def loss(self, X):\n        return X @ self.params['W']\n"
    ])
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    out, cache = sub.f(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, x * 2)
    assert cache["shape"] == (2, 3)
    net = sub.Net()
    assert isinstance(net, Handle)
    assert net.params["W"].shape == (2, 3)
    net.params = {"W": np.full((2, 3), 2.0)}
    np.testing.assert_array_equal(net.loss(np.ones((1, 2))), [[4.0, 4.0, 4.0]])


def test_arguments_are_the_judges_copies_and_dicts_are_refilled(worker_of):
    """Issue 18, finding 1: the test's arrays are never written to; dicts changed in place are
    refilled with new entries; InPlace shows what the code did to an array."""
    from grader.judge.remote import InPlace

    _, _, sub = worker_of([
        "def step(x, bn_param):\n"
        "    bn_param['running_mean'] = 0.9 * bn_param['running_mean'] + 1\n"
        "    bn_param['count'] = bn_param.get('count', 0) + 1\n"
        "    x += 1\n"
        "    return None\n"
    ])
    x = np.zeros(3)
    bn = {"running_mean": np.zeros(3), "mode": "train"}
    sub.step(x, bn)
    np.testing.assert_array_equal(x, np.zeros(3))
    np.testing.assert_array_equal(bn["running_mean"], np.ones(3))
    assert bn["count"] == 1
    box = InPlace(x)
    sub.step(box, {"running_mean": np.zeros(3)})
    np.testing.assert_array_equal(box.after, np.ones(3))
    np.testing.assert_array_equal(x, np.zeros(3))


def test_student_exceptions_name_the_function_and_cell(worker_of):
    _, _, sub = worker_of(["import numpy as np", "def f(x):\n    return x.reshape(7)"])
    with pytest.raises(StudentError, match=r"f\(\.\.\.\) raised ValueError: .*\(cell 1\)"):
        sub.f(np.zeros(3))
    with pytest.raises(MissingName, match="g is not defined"):
        sub.g


def test_a_hanging_cell_is_interrupted_and_later_cells_run(worker_of):
    _, runs, sub = worker_of(["a = 1", "while True:\n    pass", "b = a + 1"])
    assert [r.status for r in runs] == ["ok", "timeout", "ok"]
    assert "KeyboardInterrupt" in runs[1].message
    assert sub.b == 2


def test_a_cell_that_ignores_the_interrupt_is_killed_and_skipped(worker_of):
    stubborn = ("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                "while True:\n    pass")
    session, runs, sub = worker_of(["a = 1", stubborn, "b = a + 1"])
    assert [r.status for r in runs] == ["ok", "timeout", "ok"]
    assert "ignored the interrupt" in runs[1].message
    assert sub.b == 2  # the restarted worker re-ran cell 0 and skipped cell 1
    assert session.restarts == 1


def test_exit_in_a_cell_does_not_end_grading(worker_of):
    _, runs, sub = worker_of(["import sys\nsys.exit(0)", "import os\nos._exit(1)", "c = 3"])
    assert runs[0].status == "error" and "SystemExit" in runs[0].message
    assert runs[1].status == "crashed" and "exited with code 1" in runs[1].message
    assert sub.c == 3


def test_a_crash_during_a_call_fails_that_call_and_the_worker_restarts(worker_of):
    session, _, sub = worker_of(["import os\nn = 5\ndef die():\n    os._exit(3)\n"])
    with pytest.raises(WorkerLost, match="exited with code 3"):
        sub.die()
    assert sub.n == 5
    assert session.restarts == 1


def test_restarts_are_bounded(worker_of):
    session, _, sub = worker_of(["import os\ndef die():\n    os._exit(3)\n"],
                                limits=Limits(cell_seconds=3, call_seconds=3, max_restarts=1))
    with pytest.raises(WorkerLost):
        sub.die()
    with pytest.raises(WorkerLost):
        sub.die()
    with pytest.raises(WorkerLost, match="stopped restarting"):
        sub.die
    assert session.restarts == 1


def test_a_call_past_its_limit_is_interrupted(worker_of):
    _, _, sub = worker_of(["def spin():\n    while True:\n        pass\n", "k = 1"])
    with pytest.raises(WorkerLost, match="time limit"):
        sub.spin()
    assert sub.k == 1


def test_output_cannot_corrupt_the_channel(worker_of):
    _, runs, sub = worker_of([
        "import os, sys\n"
        "def noisy(x):\n"
        "    print('x' * 100000)\n"
        "    os.write(1, b'\\x00\\x00\\x00\\x10{\"ok\": true}')\n"
        "    sys.stderr.write('err' * 1000)\n"
        "    return x + 1\n"
        "print('y' * 3_000_000)"
    ])
    assert runs[0].status == "ok"
    assert "bytes of output not kept" in runs[0].outputs[0]["text"]
    assert len(runs[0].outputs[0]["text"]) < 100_000
    assert sub.noisy(np.float64(1.0)) == 2.0


def test_forbidden_imports_fail_with_a_reason(worker_of):
    _, runs, _ = worker_of(["import torch", "from jax import numpy"], forbidden=("torch", "jax"))
    assert runs[0].status == "error"
    assert "import of 'torch' is not allowed in this assignment" in runs[0].message
    assert "'jax' is not allowed" in runs[1].message


def test_forbidden_modules_look_absent_to_probes(worker_of):
    """Libraries probe with importlib.util.find_spec (torch.optim does, for tensorflow): no error."""
    _, runs, sub = worker_of([
        "import importlib, importlib.util\n"
        "probe = importlib.util.find_spec('wave') is None, importlib.util.find_spec('not_installed_x') is None\n"
        "try:\n    import wave\nexcept ModuleNotFoundError as e:\n    caught = str(e)\n",
        "importlib.import_module('wave')",
        "import xml.dom",
        "import xml",
    ], forbidden=("wave", "xml.dom", "not_installed_x"))
    assert tuple(sub.probe) == (False, True)  # the ordinary answers: installed, not installed
    assert "import of 'wave' is not allowed" in sub.caught
    assert [r.status for r in runs] == ["ok", "error", "error", "ok"]
    assert "import of 'wave' is not allowed" in runs[1].message
    assert "import of 'xml.dom' is not allowed" in runs[2].message


def test_ipython_syntax_does_not_crash_grading(worker_of):
    _, runs, sub = worker_of([
        "%matplotlib inline\nimport numpy as np\n!pip install torch\nfiles = !ls\nz = 1",
        "%%time\nw = 2",
        "%%bash\necho hi",
        "from grader import check\ncheck()\n%load_ext grader\n%check relu",
    ])
    assert [r.status for r in runs] == ["ok", "ok", "ok", "ok"]
    assert "nothing checked" in runs[3].outputs[0]["text"]
    assert sub.z == 1 and sub.w == 2


def test_forked_children_cannot_answer_for_the_worker(worker_of):
    _, runs, sub = worker_of([
        "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(0.2)\nv = 7",
    ])
    assert runs[0].status == "ok"
    assert sub.v == 7


def test_the_worker_runs_unprivileged_without_network():
    _, _, sub = start([
        "import os, socket\n"
        "uid = os.getuid()\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1); net = 'open'\n"
        "except OSError as e:\n    net = type(e).__name__\n"
    ])
    try:
        if sub._session.description.startswith("plain"):
            if os.environ.get("REQUIRE_BWRAP") == "1":
                pytest.fail("bubblewrap is required (REQUIRE_BWRAP=1) but missing")
            pytest.skip("bubblewrap is not installed")
        assert sub.net != "open"
        if os.geteuid() == 0:
            assert sub.uid != 0
    finally:
        sub._session.close()


def test_reply_checks_refuse_bad_frames():
    import json
    import socket

    from grader.judge.worker_reply import BadReply, recv_reply
    from grader.worker.wire import HEADER

    def frame(header: dict, payload: bytes = b"") -> bytes:
        body = json.dumps(header).encode()
        return HEADER.pack(len(body)) + body + payload

    cases = [
        frame({"arrays": [{"dtype": "|O", "shape": [1]}]}),
        frame({"arrays": [{"dtype": "<f8", "shape": [-1]}]}),
        frame({"arrays": [{"dtype": "<f8", "shape": [1 << 30, 1 << 30]}]}),
        HEADER.pack(1 << 30),
        HEADER.pack(5) + b"[1,2]",
        HEADER.pack(3) + b"NaN",
    ]
    for raw in cases:
        a, b = socket.socketpair()
        a.sendall(raw)
        with pytest.raises(BadReply):
            recv_reply(b, deadline=__import__("time").monotonic() + 2)
        a.close()
        b.close()


def test_scalars_keep_their_types_and_non_finite_values(worker_of):
    _, _, sub = worker_of([
        "import numpy as np\n"
        "def values():\n"
        "    return (np.float64('nan'), float('inf'), np.float32(1.5), np.int64(3), True, -0.0,\n"
        "            [1, 'a', None], {'k': np.bool_(True)})\n"
    ])
    v = sub.values()
    assert isinstance(v[0], np.float64) and np.isnan(v[0])
    assert v[1] == float("inf")
    assert isinstance(v[2], np.float32) and v[2] == 1.5
    assert isinstance(v[3], np.int64) and v[3] == 3
    assert v[4] is True and v[6] == [1, "a", None]
    assert v[7]["k"] == np.True_


def test_notebook_reader_tolerates_a_bom_and_names_bad_versions(tmp_path):
    import json

    from grader.course.notebook import BadNotebook, read_notebook

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "source": "x = 1",
                     "outputs": [], "execution_count": None}]}
    path = tmp_path / "bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(nb).encode())
    assert read_notebook(path)["cells"][0]["source"] == "x = 1"
    path.write_text(json.dumps({**nb, "nbformat": "4"}))
    with pytest.raises(BadNotebook, match="missing or not a number"):
        read_notebook(path)


def test_refusing_a_module_during_a_call(worker_of):
    _, _, sub = worker_of([
        "import numpy as np, torch\n"
        "import torch.nn.functional as F\n"
        "def by_hand(x):\n    return np.maximum(x, 0)\n"
        "def with_torch(x):\n    return F.relu(torch.as_tensor(x)).numpy()\n"
        "def tensor_method(x):\n    t = np.asarray(x)\n    return torch.ones(1).sum().item() + t.sum()\n"
    ], limits=Limits(cell_seconds=120, call_seconds=30))  # importing torch takes seconds on a busy machine
    x = np.array([-1.0, 2.0])
    strict = sub.refusing("torch")
    np.testing.assert_array_equal(strict.by_hand(x), [0.0, 2.0])
    with pytest.raises(StudentError, match="must be written without torch"):
        strict.with_torch(x)
    with pytest.raises(StudentError, match="without torch"):
        strict.tensor_method(x)
    np.testing.assert_array_equal(sub.with_torch(x), [0.0, 2.0])  # allowed without the view


def test_iterating_a_handle_brings_its_items_back(worker_of):
    from grader.judge.remote import MAX_ITEMS, type_name

    _, _, sub = worker_of([
        "import collections, itertools\n"
        "class Conv2d:\n    pass\n"
        "class Net:\n"
        "    def __init__(self):\n        self.layers = collections.OrderedDict(c1=Conv2d(), c2=Conv2d(), n=3)\n"
        "    def modules(self):\n        yield self\n        yield from self.layers.values()\n"
        "def endless():\n    return itertools.count()\n"
        "class NotIterable:\n    pass\n"
    ])
    net = sub.Net()
    items = list(net.modules())
    assert [type_name(m) for m in items] == ["Net", "Conv2d", "Conv2d", "int"]
    assert items[3] == 3 and isinstance(items[1], Handle)
    assert isinstance(net.layers, Handle)  # an OrderedDict is not plain data
    assert list(net.layers.keys()) == ["c1", "c2", "n"]
    assert sum(1 for m in net.modules() if type_name(m) == "Conv2d") == 2
    with pytest.raises(StudentError, match=f"more than {MAX_ITEMS} items"):
        list(sub.endless())
    with pytest.raises(StudentError, match="TypeError"):
        list(sub.NotIterable())
    assert type_name(np.zeros(2)) == "ndarray"


def test_without_bwrap_the_worker_runs_unisolated_and_says_so(monkeypatch):
    import warnings

    import grader.sandbox.process as process

    monkeypatch.setattr(process, "_warned", False)
    backend = get_backend("process")
    backend.bwrap = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = WorkerSession(backend, WorkerSpec(limits=FAST), [Cell(0, "import os\npid = os.getpid()")])
        try:
            assert session.run_notebook()[0].status == "ok"
            assert Submission(session).pid > 0
            assert session.isolated is False and "NOT isolated" in session.description
        finally:
            session.close()
    assert [w for w in caught if issubclass(w.category, process.NotIsolatedWarning)]
