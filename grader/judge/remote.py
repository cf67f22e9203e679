"""Judge-side proxies of the student's namespace and objects.

`submission.affine_forward(x, w, b)` sends the call to the worker and returns real numpy
arrays. Objects that are not data come back as `Handle`s: call them, read or set their
attributes, index them, iterate them (`list(model.modules())`: the items come back in one
reply, at most MAX_ITEMS), or pass them back into later calls. Student code always gets copies:
a dict or list argument is given what the code left in it, as new arrays (CS231n APIs mutate
`bn_param`), and the judge's own arrays are never written to; a test that wants to see an
array's in-place change passes it in an `InPlace` box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from grader.judge.session import WorkerCrashed, WorkerSession
from grader.judge.worker_reply import BadReply, decode_value, require
from grader.worker import wire

if TYPE_CHECKING:
    from grader.judge.workers_without import WorkersWithout

#: The most items `iter(handle)` brings back; an iterable with more is an error.
MAX_ITEMS = 10_000


class InPlace:
    """An array argument whose in-place changes a test wants to see: `box = InPlace(x)`.

    The student's code gets a copy of `x`; after the call `box.after` is the array it left there
    (a new array; equal to `x` when the code did not change it). `x` itself is never written to.
    """

    __slots__ = ("sent", "after")

    def __init__(self, value: Any) -> None:
        self.sent = np.array(value, copy=True)
        self.after = self.sent.copy()


class SubmissionError(Exception):
    """The student's code could not produce a value; scored as `error`."""

    cell: int | None = None


class StudentError(SubmissionError):
    """Student code raised an exception."""

    def __init__(self, message: str, cell: int | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.cell = cell
        self.kind = kind  # the exception's class name, as the worker reported it


class MissingName(SubmissionError, AttributeError):
    """The notebook does not define the name a test asked for."""


class WorkerLost(SubmissionError):
    """The worker died, hung or misbehaved during this call."""


class Handle:
    """An object that lives in the worker; the judge only holds its id."""

    __slots__ = ("_session", "_id", "_type", "_generation", "_label", "_refuse")

    def __init__(self, session: WorkerSession, hid: int, tname: str, generation: int, label: str,
                 refuse: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_id", hid)
        object.__setattr__(self, "_type", tname)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_refuse", refuse)

    def __repr__(self) -> str:
        return f"<{self._type} in the student's notebook: {self._label}>"

    def _target(self) -> dict:
        if self._generation != self._session.generation:
            raise WorkerLost(f"{self._label} was lost when the notebook's process restarted")
        return {"handle": self._id}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _get(self._session, self._target(), name, f"{self._label}.{name}", self._refuse)

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self._session, self._target(), name, value, f"{self._label}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._session, self._target(), args, kwargs, self._label, refuse=self._refuse)

    def __getitem__(self, key: Any) -> Any:
        return _call(self._session, self._target(), (key,), {}, f"{self._label}[{key!r}]", item="get")

    def __iter__(self) -> Iterator[Any]:
        """The items of the worker's iterable (values and handles), fetched in one call.

        E.g. `[type_name(m) for m in model.modules()]`. More than MAX_ITEMS items (an endless
        generator) is a StudentError.
        """
        label = f"iter({self._label})"
        items = _call(self._session, self._target(), (MAX_ITEMS + 1,), {}, label, item="iter")
        if not isinstance(items, list):
            raise WorkerLost(f"{label}: malformed reply")
        if len(items) > MAX_ITEMS:
            raise StudentError(f"{label} has more than {MAX_ITEMS} items")
        return iter(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        _call(self._session, self._target(), (key, value), {}, f"{self._label}[{key!r}]", item="set")


def type_name(value: Any) -> str:
    """The class name of a worker object (`"Conv2d"`), or of a judge-side value (`"ndarray"`).

    The worker reports it, so it is what the student's object claims to be: good for catching
    mistakes, not proof against a student who fakes it.
    """
    return value._type if isinstance(value, Handle) else type(value).__name__


class Submission:
    """The `submission` fixture: attribute access reads the notebook's globals in the worker."""

    def __init__(self, session: WorkerSession, defined_in: dict[str, int] | None = None,
                 refuse: tuple[str, ...] = (), without: WorkersWithout | None = None,
                 by_hand: tuple[str, ...] = ()) -> None:
        """`by_hand`: modules every `refusing(...)` view refuses too (assignment.toml's by_hand_forbids)."""
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_by_hand", tuple(by_hand))
        object.__setattr__(self, "_defined_in", defined_in or {})
        object.__setattr__(self, "_refuse", refuse)
        object.__setattr__(self, "_without", without)

    def refusing(self, *modules: str) -> "Submission":
        """A view whose calls fail if the student's code calls into `modules` (e.g. "torch").

        For "implement it by hand" checks: `submission.refusing("torch").conv_forward_naive(...)`.
        Installed packages are refused by the sandbox: the calls run in a second worker that
        does not hold them (grader/judge/workers_without.py). Others (numpy) only by a profile hook.
        The assignment's `by_hand_forbids` (e.g. scipy) are refused with them.
        """
        modules = tuple(dict.fromkeys((*modules, *self._by_hand)))
        if self._without is not None:
            hidden, hook = self._without.split(modules)
            if hidden:
                return Submission(self._without.session(hidden), self._defined_in, hook)
        return Submission(self._session, self._defined_in, modules, self._without)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _get(self._session, {"name": name}, name, name, self._refuse)
        except MissingName as e:
            e.cell = self._defined_in.get(name)
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self._session, {"name": name}, name, value, name)


def _encode(session: WorkerSession, value: Any, arrays: list) -> Any:
    def to_handle(obj: Any) -> dict:
        if isinstance(obj, Handle):
            if obj._session is not session:
                raise _ForeignHandle(obj)
            return {"$h": obj._target()["handle"]}
        raise wire.WireError(f"cannot send a {type(obj).__name__} to the student's code")

    return wire.encode(value, arrays, to_handle)


def _exchange(session: WorkerSession, header: dict, arrays: list, label: str) -> tuple[dict, list, int]:
    try:
        reply, out, gen = session.request(header, arrays)
    except WorkerCrashed as e:
        raise WorkerLost(f"{label}: the notebook's process {e}") from None
    try:
        ok = require(reply, "ok", bool)
        if not ok:
            _raise_student(session, reply, label)
    except BadReply as e:
        session._kill(f"malformed reply: {e}")
        raise WorkerLost(f"{label}: the notebook's process sent a malformed reply") from None
    return reply, out, gen


def _raise_student(session: WorkerSession, reply: dict, label: str) -> None:
    err = require(reply, "error", dict)
    message = str(err.get("message", "an exception"))[:500]
    cell = err.get("cell")
    # a cell number means one of the notebook's code cells, nothing else: a forged reply's
    # 3,779-digit `cell` would otherwise carry data past the held-out message budget
    cell = cell if type(cell) is int and cell in {c.index for c in session.cells} else None
    where = f" (cell {cell})" if cell is not None else ""
    if reply.get("timeout") is True:
        raise WorkerLost(f"{label} ran past its time limit and was interrupted{where}")
    if reply.get("missing") is True:
        raise MissingName(f"{label} is not defined in the notebook (did its cell run without errors?)")
    raise StudentError(f"{label} raised {message}{where}", cell, str(err.get("type", ""))[:100])


def _decode(session: WorkerSession, value: Any, arrays: list, gen: int, label: str,
            refuse: tuple[str, ...] = ()) -> Any:
    def make_handle(hid: int, tname: str) -> Handle:
        return Handle(session, hid, tname, gen, label, refuse)

    try:
        return decode_value(value, arrays, make_handle)
    except BadReply as e:
        session._kill(f"malformed value: {e}")
        raise WorkerLost(f"{label}: the notebook's process sent a malformed value") from None


def _get(session: WorkerSession, target: dict, name: str, label: str, refuse: tuple[str, ...] = ()) -> Any:
    reply, arrays, gen = _exchange(session, {"op": "get", "target": target, "name": name}, [], label)
    return _decode(session, reply.get("value"), arrays, gen, label, refuse)


def _set(session: WorkerSession, target: dict, name: str, value: Any, label: str) -> None:
    arrays: list = []
    header = {"op": "set", "target": target, "name": name, "value": _encode(session, value, arrays)}
    _exchange(session, header, arrays, label)


class _ForeignHandle(wire.WireError):
    def __init__(self, handle: Handle) -> None:
        super().__init__("a handle from another worker")
        self.handle = handle


def _call(session: WorkerSession, target: dict, args: tuple, kwargs: dict, label: str,
          item: str | None = None, refuse: tuple[str, ...] = ()) -> Any:
    arrays: list = []
    mutable = (dict, list, InPlace)
    plain_args = [a.sent if isinstance(a, InPlace) else a for a in args]
    plain_kwargs = {k: a.sent if isinstance(a, InPlace) else a for k, a in kwargs.items()}
    try:
        encoded_args, encoded_kwargs = _encode(session, plain_args, arrays), _encode(session, plain_kwargs, arrays)
    except _ForeignHandle as e:  # e.g. a cache object from the notebook's worker sent to the by-hand one
        raise StudentError(f"{label}: an argument holds a {e.handle._type} object from another call; "
                           "calls written without torch get only arrays, numbers, strings, tuples, lists "
                           "and dicts (keep caches to those)") from None
    header = {
        "op": "call", "target": target, "item": item,
        "args": encoded_args,
        "kwargs": encoded_kwargs,
        "restore": [i for i, a in enumerate(args) if isinstance(a, mutable)],
        "restore_kw": [k for k, a in kwargs.items() if isinstance(a, mutable)],
        "refuse": list(refuse),
    }
    reply, out, gen = _exchange(session, header, arrays, label + "(...)" if item is None else label)
    value = _decode(session, reply.get("value"), out, gen, label)
    after_args = _decode(session, reply.get("after_args", {"$dict": []}), out, gen, label)
    after_kwargs = _decode(session, reply.get("after_kwargs", {"$dict": []}), out, gen, label)
    if not isinstance(after_args, dict) or not isinstance(after_kwargs, dict):
        raise WorkerLost(f"{label}: malformed reply")
    for key, new in after_args.items():
        if isinstance(key, str) and key.isascii() and key.isdecimal() and len(key) < 4 and int(key) < len(args):
            _restore(args[int(key)], new)
    for key, new in after_kwargs.items():
        if key in kwargs:
            _restore(kwargs[key], new)
    return value


def _restore(original: Any, new: Any) -> None:
    """Give the judge's dict, list or InPlace box what the student's code left in it.

    Never writes into one of the judge's arrays: dict and list entries are replaced by the
    values that came back, and an InPlace box gets a new `.after` (of the shape and dtype sent).
    """
    if isinstance(original, InPlace) and isinstance(new, np.ndarray):
        if new.shape == original.sent.shape and new.dtype == original.sent.dtype:
            original.after = new
    elif isinstance(original, dict) and isinstance(new, dict):
        original.clear()
        original.update(new)
    elif isinstance(original, list) and isinstance(new, list):
        original[:] = new


# --------------------------------------------------------------------------- trained models


def load_model(submission: Submission, builder: str, tensors: dict[str, np.ndarray], gpu: bool = False) -> Handle:
    """`builder()` in the worker, then `load_state_dict(tensors, strict=True)` and `.eval()` there
    (on the GPU when `gpu` and the worker has one); a handle to the model. `tensors` must come
    from the judge's own reader of the student's file (grader.judge.untrusted_safetensors)."""
    session = submission._session
    names = list(tensors)
    header = {"op": "model", "action": "load", "builder": builder, "names": names, "gpu": bool(gpu)}
    label = f"{builder}()"
    reply, out, gen = _exchange(session, header, [np.ascontiguousarray(tensors[n]) for n in names], label)
    model = _decode(session, reply.get("value"), out, gen, label)
    if not isinstance(model, Handle):
        raise StudentError(f"{label} gave back no model")
    return model


def predict(model: Handle, X: np.ndarray) -> np.ndarray:
    """The model's output for one batch X (sent as float32), run in the worker without gradients."""
    session = model._session
    header = {"op": "model", "action": "predict", "handle": model._target()["handle"]}
    reply, out, gen = _exchange(session, header, [np.ascontiguousarray(X, dtype=np.float32)], "the model")
    value = _decode(session, reply.get("value"), out, gen, "the model")
    if not isinstance(value, np.ndarray):
        raise StudentError(f"the model returned a {type_name(value)}, not a tensor")
    return value


def written_file(submission: Submission, name: str, cap: int) -> bytes | None:
    """The bytes of the file `name` that the notebook wrote in its own folder (at most cap + 1 of
    them, so that a caller sees the cap passed), or None when there is none. For the authors'
    checks (`grade validate` grades the solution with the model files it saved); submissions
    hand in their files beside the notebook."""
    session = submission._session
    header = {"op": "model", "action": "file", "name": name, "cap": int(cap)}
    reply, out, gen = _exchange(session, header, [], name)
    value = _decode(session, reply.get("value"), out, gen, name)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 1:
        raise StudentError(f"{name}: the worker sent no bytes")
    return value[:cap + 1].tobytes()


def initial_weights(submission: Submission, initial: str) -> dict[str, np.ndarray]:
    """`initial()` in the worker: the state_dict of the notebook's seeded, untrained model."""
    return _state(submission, {"op": "model", "action": "initial", "initial": initial}, [], f"{initial}()")


def replay(submission: Submission, functions: dict[str, str], model: dict[str, np.ndarray],
           optim: dict[str, np.ndarray], rng: np.ndarray, start: int, steps: int, seconds: float
           ) -> dict[str, np.ndarray]:
    """Replay `steps` training steps in the worker from one checkpoint (the judge's validated
    copy: `model`, `optim`, `rng`), with the notebook's functions named in `functions` (builder,
    optimizer, batches, train_step); the weights after them. One call, under `seconds`."""
    header = {"op": "model", "action": "replay", **functions, "model": list(model), "optim": list(optim),
              "start": int(start), "steps": int(steps), "seconds": float(seconds)}
    arrays = [np.ascontiguousarray(a) for a in (*model.values(), *optim.values(), rng)]
    return _state(submission, header, arrays, f"{functions['train_step']}()")


def _state(submission: Submission, header: dict, arrays: list, label: str) -> dict[str, np.ndarray]:
    session = submission._session
    reply, out, gen = _exchange(session, header, arrays, label)
    value = _decode(session, reply.get("value"), out, gen, label)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray)
                                              for k, v in value.items()):
        raise StudentError(f"{label} gave back no state_dict of arrays")
    return value
