"""Arrays keep their shape on the wire, both ways: 0-d arrays stay 0-d (np.ascontiguousarray
alone makes them 1-d; a BatchNorm layer's num_batches_tracked is such an array)."""

from __future__ import annotations

import numpy as np

from grader.course.assignment import Limits
from grader.judge.remote import Submission
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import WorkerSpec, get_backend
from grader.worker import wire


def test_encode_keeps_zero_dim_and_non_contiguous_shapes():
    arrays: list = []
    values = [np.array(7, dtype=np.int64), np.arange(12.0).reshape(3, 4).T, np.zeros((0, 3))]
    tags = [wire.encode(v, arrays) for v in values]
    assert [a.shape for a in arrays] == [(), (4, 3), (0, 3)]
    decoded = [wire.decode_trusted(t, arrays, lambda h: None) for t in tags]
    for got, want in zip(decoded, values):
        assert got.shape == want.shape and np.array_equal(got, want)


def test_zero_dim_arrays_cross_to_the_worker_and_back():
    cells = [Cell(0, "import numpy as np\ndef echo(x):\n    return x, x.shape, np.array(3.5)\n")]
    session = WorkerSession(get_backend("process"), WorkerSpec(limits=Limits(call_seconds=5)), cells)
    try:
        session.run_notebook()
        value, shape, made = Submission(session).echo(np.array(2, dtype=np.int64))
        assert shape == () and isinstance(value, np.ndarray) and value.shape == () and value == 2
        assert isinstance(made, np.ndarray) and made.shape == () and made == 3.5
    finally:
        session.close()
