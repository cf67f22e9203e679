"""The `submission` fixture for `grader.check()`: the student's own kernel namespace, read in place.

STUDENT SIDE: this runs in the student's Jupyter kernel, next to their code; nothing it
produces is evidence (the judge grades the submission in its sandbox, as always).

It behaves like the judge's proxy (grader.judge.remote) so that the public tests give the same
verdicts and messages: values that are data (numbers, strings, arrays, tuples, lists, dicts)
come back as copies, as if they had crossed the wire (grader.worker.wire); other objects come
back as `LocalHandle`s with the judge's labels; arguments the student's code changes in place
are copied back; an exception in student code becomes the judge's `StudentError` text
(`affine_forward(...) raised ValueError: ...`) without the cell number, which only the judge
knows (it numbers the saved notebook's cells; a kernel does not).

May call grader.judge.remote (exception classes, Handle, _restore) and grader.worker.wire.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import numpy as np

from grader.judge.remote import MAX_ITEMS, Handle, MissingName, StudentError, _restore
from grader.worker import wire


def _student_message(exc: BaseException) -> str:
    """The worker's one-line text for an exception (untrusted_worker.Worker.error), capped alike."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    return text[:500]


class LocalHandle(Handle):
    """A kernel object that is not data, labelled as the judge labels its handles."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any, label: str, refuse: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_type", type(obj).__name__)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_refuse", refuse)

    def __repr__(self) -> str:
        return f"<{self._type} in this notebook: {self._label}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        label = f"{self._label}.{name}"
        return _run(lambda: getattr(self._obj, name), label, label, self._refuse)

    def __setattr__(self, name: str, value: Any) -> None:
        label = f"{self._label}.{name}"
        _run(lambda: setattr(self._obj, name, _send(value, label)), label, label)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._obj, args, kwargs, self._label, self._refuse)

    def __getitem__(self, key: Any) -> Any:
        label = f"{self._label}[{key!r}]"
        k = _send(key, label)
        return _run(lambda: self._obj[k], label, label)

    def __setitem__(self, key: Any, value: Any) -> None:
        label = f"{self._label}[{key!r}]"
        k, v = _send(key, label), _send(value, label)
        _run(lambda: self._obj.__setitem__(k, v), label, label)

    def __iter__(self) -> Iterator[Any]:
        import itertools

        label = f"iter({self._label})"
        items = _run(lambda: list(itertools.islice(iter(self._obj), MAX_ITEMS + 1)), label, label)
        if len(items) > MAX_ITEMS:
            raise StudentError(f"{label} has more than {MAX_ITEMS} items")
        return iter(items)


class LocalSubmission:
    """`submission.name` reads `name` from the kernel's namespace (the notebook's globals)."""

    def __init__(self, namespace: dict[str, Any], refuse: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_ns", namespace)
        object.__setattr__(self, "_refuse", refuse)

    def refusing(self, *modules: str) -> "LocalSubmission":
        """Calls through this view fail when the student's code calls into `modules` (a profile hook)."""
        return LocalSubmission(self._ns, tuple(modules))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._ns:
            raise MissingName(f"{name} is not defined in the notebook (did its cell run without errors?)")
        return _receive(self._ns[name], name, self._refuse)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ns[name] = _send(value, name)


# --------------------------------------------------------------------------- crossing the "wire"


def _receive(value: Any, label: str, refuse: tuple[str, ...] = ()) -> Any:
    """`value` as the judge would get it: data copied, other objects as LocalHandles."""
    objects: list[Any] = []

    def to_handle(obj: Any) -> dict:
        objects.append(obj)
        return {"$h": len(objects) - 1}

    arrays: list[np.ndarray] = []
    encoded = wire.encode(value, arrays, to_handle)
    arrays = [a.copy() for a in arrays]
    return wire.decode_trusted(encoded, arrays, lambda h: LocalHandle(objects[h["$h"]], label, refuse))


def _send(value: Any, label: str) -> Any:
    """`value` as the student's code would get it from the judge: data copied, handles unwrapped."""
    objects: list[Any] = []

    def to_handle(obj: Any) -> dict:
        if isinstance(obj, LocalHandle):
            objects.append(obj._obj)
            return {"$h": len(objects) - 1}
        raise wire.WireError(f"cannot send a {type(obj).__name__} to the student's code")

    arrays: list[np.ndarray] = []
    encoded = wire.encode(value, arrays, to_handle)
    return wire.decode_trusted(encoded, [a.copy() for a in arrays], lambda h: objects[h["$h"]])


def _run(fn: Any, what: str, label: str, refuse: tuple[str, ...] = ()) -> Any:
    """fn() as student code, its value received under `label`; its exception as the judge words it."""
    hook = _refusing(refuse) if refuse else None
    try:
        if hook:
            sys.setprofile(hook)
        try:
            value = fn()
        finally:
            if hook:
                sys.setprofile(None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        raise StudentError(f"{what} raised {_student_message(e)}", None, type(e).__name__) from None
    return _receive(value, label, refuse)


def _call(fn: Any, args: tuple, kwargs: dict, label: str, refuse: tuple[str, ...] = ()) -> Any:
    mutable = (dict, list, np.ndarray)
    sent_args = [_send(a, label) for a in args]
    sent_kwargs = {k: _send(v, label) for k, v in kwargs.items()}
    value = _run(lambda: fn(*sent_args, **sent_kwargs), label + "(...)", label, refuse)
    for original, new in zip(args, sent_args):
        if isinstance(original, mutable):
            _restore(original, _receive(new, label))
    for key, original in kwargs.items():
        if isinstance(original, mutable):
            _restore(original, _receive(sent_kwargs[key], label))
    return value


class Refused(Exception):
    """Student code called into a module this call must do without."""


def _refusing(modules: tuple[str, ...]) -> Any:
    """The worker's profile hook (untrusted_worker.refusing), for this kernel."""
    def owner(obj: Any) -> str:
        mod = getattr(obj, "__module__", None) or ""
        if not mod:
            bound = getattr(obj, "__self__", None)
            mod = getattr(bound, "__name__", "") if isinstance(bound, type(sys)) else type(bound).__module__
        return mod if isinstance(mod, str) else ""

    def hook(frame: Any, event: str, arg: Any) -> None:
        name = ""
        if event == "c_call":
            name = owner(arg)
        elif event == "call":
            name = frame.f_globals.get("__name__", "") or ""
        if name.startswith(modules) and name.partition(".")[0] in modules:
            sys.setprofile(None)
            raise Refused(f"this function must be written without {name.partition('.')[0]} "
                          f"(it called {getattr(arg, '__name__', None) or frame.f_code.co_name})")

    return hook
