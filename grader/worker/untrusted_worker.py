"""The worker: runs the student's notebook and then serves calls from the judge.

UNTRUSTED SIDE. This file runs inside the sandbox, in the same process as student code, so
nothing it reports is evidence of anything: the judge checks every reply (worker_reply.py) and
computes every verdict itself. It imports only the standard library, numpy and wire.py, which
sit beside it in the sandbox.

Usage: python untrusted_worker.py (--fd N | --connect PATH) [--uid UID]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib.abc
import importlib.util
import itertools
import linecache
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
import types
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import untrusted_model_ops  # noqa: E402
import wire  # noqa: E402

HEAD_BYTES = 48 * 1024
TAIL_BYTES = 16 * 1024
REPR_BYTES = 8 * 1024


class Capture:
    """Collects what fd 1 and 2 receive, keeping a head and a tail of it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marker_seen = threading.Event()
        self.reset()

    def reset(self, marker: bytes = b"") -> None:
        with self.lock:
            self.head, self.tail, self.total = bytearray(), bytearray(), 0
            self.marker = marker
            self.marker_seen.clear()

    def feed(self, data: bytes) -> None:
        with self.lock:
            if self.marker and self.marker in data:
                data = data.replace(self.marker, b"")
                self.marker_seen.set()
            self.total += len(data)
            room = HEAD_BYTES - len(self.head)
            if room > 0:
                self.head += data[:room]
                data = data[room:]
            if data:
                self.tail = (self.tail + data)[-TAIL_BYTES:]

    def text(self) -> str:
        with self.lock:
            out = bytes(self.head)
            skipped = self.total - len(self.head) - len(self.tail)
            if skipped > 0:
                out += f"\n... [{skipped} bytes of output not kept] ...\n".encode()
            out += bytes(self.tail)
        return out.decode("utf-8", errors="replace")


def start_capture() -> Capture:
    cap = Capture()
    r, w = os.pipe()
    os.dup2(w, 1)
    os.dup2(w, 2)
    os.close(w)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    def pump() -> None:
        while True:
            try:
                data = os.read(r, 65536)
            except OSError:
                return
            if not data:
                return
            cap.feed(data)

    threading.Thread(target=pump, daemon=True).start()
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    return cap


def drain(cap: Capture) -> str:
    """Flush the student's streams and wait until the pump has read everything up to now."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        os.write(1, cap.marker)
        cap.marker_seen.wait(2.0)
    except OSError:
        pass
    return cap.text()


class ForbiddenImports(importlib.abc.MetaPathFinder):
    """Refuses imports of the forbidden modules (and their submodules) with a reason.

    A library that only probes whether a module is installed, with
    `importlib.util.find_spec(name)` (torch.optim does, for tensorflow and jax), gets the
    ordinary answer instead of an exception; importing the module is still refused.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        banned = next((n for n in self.names if name == n or name.startswith(n + ".")), None)
        if banned is None or _probing(sys._getframe(1)):
            return None
        raise ModuleNotFoundError(
            f"import of '{banned}' is not allowed in this assignment "
            f"(forbidden: {', '.join(sorted(self.names))})", name=name)


class AbsentModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """In a worker whose sandbox does not hold these packages: `import torch` gives a placeholder.

    A courtesy only (the sandbox is what keeps the real package out): a cell that imports torch
    beside numpy still defines its other names, and any use of the placeholder says why it fails.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in self.names:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, self, is_package=True)

    def create_module(self, spec):
        return _Absent(spec.name)

    def exec_module(self, module) -> None:
        pass


class _Absent(type(sys)):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        top = self.__name__.partition(".")[0]
        raise AttributeError(f"{self.__name__}.{attr}: this function must be written without {top} "
                             f"({top} is not installed where it is graded)")

    def __call__(self, *args, **kwargs):
        # `from scipy.signal import correlate` binds a placeholder module: calling it says why
        top = self.__name__.partition(".")[0]
        raise ImportError(f"{self.__name__}: this function must be written without {top} "
                          f"({top} is not installed where it is graded)")


def _probing(frame) -> bool:
    """Whether the import system was entered by importlib.util.find_spec rather than an import."""
    while frame is not None:
        module, code = frame.f_globals.get("__name__"), frame.f_code.co_name
        if module == "importlib._bootstrap" and code in ("_find_and_load", "_find_and_load_unlocked"):
            return False  # an import (statement, __import__ or importlib.import_module)
        if module == "importlib.util" and code == "find_spec":
            return True
        frame = frame.f_back
    return False


class IgnoredMagics:
    """What `get_ipython()` returns: magics and shell escapes do nothing under grading."""

    def _skip(self, *args, **kwargs):
        print(f"[grader] ignored IPython command: {' '.join(str(a) for a in args)[:80]}")

    run_line_magic = run_cell_magic = system = getoutput = _skip


def stand_in_for_grader() -> None:
    """`from grader import check` in a notebook: the in-notebook checks belong to the student's own
    kernel and do nothing under grading. Where the sandbox has no grader package (the Docker
    image), this module stands in, so that the cell runs as it does in the process sandbox."""
    if importlib.util.find_spec("grader") is not None:
        return
    module = types.ModuleType("grader")

    def check(*args, **kwargs):
        print("check: runs in a Jupyter kernel only; nothing checked (in a terminal: grade check NB)")

    module.check = check
    module.load_ipython_extension = lambda ipython: None
    sys.modules["grader"] = module


def reap_strays() -> None:
    """Kill every other process in the sandbox: nothing the student starts outlives its cell or call.

    Only inside a private PID namespace (the backend says so); elsewhere other processes are not ours.
    """
    if os.environ.get("DLGRADE_PRIVATE_PIDS") != "1":
        return
    me = os.getpid()
    for _ in range(5):  # a fork loop may still be spawning while we sweep
        others = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) not in (me, 1)]
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if not others:
            return
        time.sleep(0.01)


class Refused(Exception):
    """Student code called into a module this call must do without."""


def refusing(modules: list[str]):
    """A profile hook that raises Refused when code calls into one of `modules`."""
    prefixes = tuple(modules)

    def owner(obj) -> str:
        mod = getattr(obj, "__module__", None) or ""
        if not mod:
            bound = getattr(obj, "__self__", None)
            mod = getattr(bound, "__name__", "") if isinstance(bound, type(sys)) else type(bound).__module__
        return mod if isinstance(mod, str) else ""

    def hook(frame, event, arg):
        name = ""
        if event == "c_call":
            name = owner(arg)
        elif event == "call":
            name = frame.f_globals.get("__name__", "") or ""
        if name.startswith(prefixes) and name.partition(".")[0] in modules:
            sys.setprofile(None)
            raise Refused(f"this function must be written without {name.partition('.')[0]} "
                          f"(it called {getattr(arg, '__name__', None) or frame.f_code.co_name})")

    return hook


def _timeout(signum, frame):
    raise KeyboardInterrupt("time limit reached")


class Worker:
    def __init__(self, sock: socket.socket, cap: Capture) -> None:
        self.sock = sock
        self.cap = cap
        self.ns: dict = {"__name__": "__main__", "__builtins__": builtins}
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.seq = None  # the request being answered; every reply echoes it (the judge checks)
        ip = IgnoredMagics()
        self.ns["get_ipython"] = lambda: ip

    # -- values ---------------------------------------------------------------------------
    def to_handle(self, obj) -> dict:
        hid = self.next_handle
        self.next_handle += 1
        self.handles[hid] = obj
        return {"$h": hid, "type": type(obj).__name__}

    def from_handle(self, tag: dict):
        return self.handles[tag["$h"]]

    def reply(self, header: dict, arrays: list | None = None) -> None:
        wire.send(self.sock, {**header, "seq": self.seq}, arrays or [])

    def reply_value(self, value, extra: dict | None = None) -> None:
        arrays: list = []
        header = {"ok": True, "value": wire.encode(value, arrays, self.to_handle)}
        if extra:
            header.update({k: wire.encode(v, arrays, self.to_handle) for k, v in extra.items()})
        self.reply(header, arrays)

    def error(self, exc: BaseException) -> dict:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
        cell = None
        if frames:
            try:
                cell = int(frames[-1].filename[6:-1])
            except ValueError:
                pass
        if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith("<cell"):
            cell = int(exc.filename[6:-1])
        tb = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
        msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
        return {"type": type(exc).__name__, "message": msg[:500], "traceback": tb[-8000:], "cell": cell}

    # -- running code -------------------------------------------------------------------
    def guarded(self, seconds: float, fn):
        """Run fn under a soft time limit; returns (value, error dict | None, timed_out)."""
        signal.signal(signal.SIGALRM, _timeout)
        signal.setitimer(signal.ITIMER_REAL, max(0.001, seconds))
        try:
            return fn(), None, False
        except KeyboardInterrupt as e:
            return None, self.error(e), True
        except BaseException as e:  # SystemExit included: exit() must not end the worker
            return None, self.error(e), False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def op_exec(self, msg: dict) -> None:
        index, source = int(msg["cell"]), msg["source"]
        filename = f"<cell {index}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        self.cap.reset(uuid.uuid4().hex.encode())

        def run():
            tree = ast.parse(source, filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), self.ns)
            if last is not None:
                return eval(compile(last, filename, "eval"), self.ns)
            return None

        start = time.monotonic()
        value, err, timed_out = self.guarded(float(msg["seconds"]), run)
        reap_strays()
        outputs = []
        text = drain(self.cap)
        if text:
            outputs.append({"output_type": "stream", "name": "stdout", "text": text})
        if value is not None and err is None:
            try:
                rep = repr(value)[:REPR_BYTES]
            except BaseException as e:  # a hostile __repr__
                rep = f"<repr failed: {type(e).__name__}>"
            outputs.append({"output_type": "execute_result", "execution_count": None,
                            "data": {"text/plain": rep}, "metadata": {}})
        if err is not None:
            outputs.append({"output_type": "error", "ename": err["type"][:200],
                            "evalue": err["message"][:500],
                            "traceback": err["traceback"].splitlines()[-60:]})
        status = "timeout" if timed_out else ("error" if err else "ok")
        self.reply({"ok": True, "status": status, "outputs": outputs,
                    "message": err["message"] if err else "", "duration": time.monotonic() - start})

    def target(self, msg: dict):
        t = msg["target"]
        if "handle" in t:
            return self.handles[t["handle"]]
        return _Namespace(self.ns)

    def op_get(self, msg: dict) -> None:
        obj, name = self.target(msg), msg["name"]
        value, err, timed_out = self.guarded(float(msg["seconds"]), lambda: getattr(obj, name))
        if err is not None:
            missing = err["type"] == "AttributeError" and isinstance(obj, _Namespace)
            self.reply({"ok": False, "error": err, "timeout": timed_out, "missing": missing})
            return
        self.reply_value(value)

    def op_set(self, msg: dict) -> None:
        obj = self.target(msg)
        value = wire.decode_trusted(msg["value"], self.arrays, self.from_handle)
        _, err, timed_out = self.guarded(float(msg["seconds"]), lambda: setattr(obj, msg["name"], value))
        self.reply({"ok": err is None, "error": err, "timeout": timed_out})

    def op_call(self, msg: dict) -> None:
        fn = self.target(msg)
        args = wire.decode_trusted(msg["args"], self.arrays, self.from_handle)
        kwargs = wire.decode_trusted(msg["kwargs"], self.arrays, self.from_handle)
        if msg.get("item") == "get":
            call = lambda: fn[args[0]]  # noqa: E731
        elif msg.get("item") == "set":
            call = lambda: fn.__setitem__(args[0], args[1])  # noqa: E731
        elif msg.get("item") == "iter":  # at most args[0] items, as a list
            call = lambda: list(itertools.islice(iter(fn), max(0, int(args[0]))))  # noqa: E731
        elif msg.get("refuse"):
            hook = refusing(msg["refuse"])

            def call():
                sys.setprofile(hook)
                try:
                    return fn(*args, **kwargs)
                finally:
                    sys.setprofile(None)
        else:
            call = lambda: fn(*args, **kwargs)  # noqa: E731
        before = {i: a.copy() for i, a in enumerate(args) if isinstance(a, np.ndarray)}
        self.cap.reset(uuid.uuid4().hex.encode())
        value, err, timed_out = self.guarded(float(msg["seconds"]), call)
        reap_strays()
        output = drain(self.cap)[-4000:]
        if err is not None:
            self.reply({"ok": False, "error": err, "timeout": timed_out, "output": output})
            return
        after_args = {}
        for i in msg.get("restore", []):
            a = args[i]
            if isinstance(a, np.ndarray) and np.array_equal(a, before[i], equal_nan=True):
                continue
            after_args[str(i)] = a
        after_kwargs = {k: kwargs[k] for k in msg.get("restore_kw", [])}
        self.reply_value(value, {"after_args": after_args, "after_kwargs": after_kwargs,
                                 "output": output})

    def op_model(self, msg: dict) -> None:
        """A trained model or the proof of training: untrusted_model_ops.call_for says what each
        action does; the call runs under the same time limit, capture and reply as op_call."""
        call = untrusted_model_ops.call_for(msg, self.ns, self.arrays, self.handles)
        self.cap.reset(uuid.uuid4().hex.encode())
        value, err, timed_out = self.guarded(float(msg["seconds"]), call)
        reap_strays()
        output = drain(self.cap)[-4000:]
        if err is not None:
            self.reply({"ok": False, "error": err, "timeout": timed_out, "output": output})
            return
        self.reply_value(value, {"output": output})

    def op_names(self, msg: dict) -> None:
        names = sorted(k for k in self.ns if not k.startswith("_"))
        self.reply({"ok": True, "names": names[:500]})

    def op_setup(self, msg: dict) -> None:
        if msg.get("forbidden"):
            sys.meta_path.insert(0, ForbiddenImports(msg["forbidden"]))
        absent = [n for n in os.environ.get("DLGRADE_ABSENT_MODULES", "").split(",") if n]
        if absent:
            sys.meta_path.insert(0, AbsentModules(absent))
        random.seed(int(msg.get("seed", 0)))
        np.random.seed(int(msg.get("seed", 0)))
        self.reply({"ok": True, "pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0]})

    def serve(self) -> None:
        ops = {"exec": self.op_exec, "get": self.op_get, "set": self.op_set, "call": self.op_call,
               "names": self.op_names, "setup": self.op_setup, "model": self.op_model}
        while True:
            try:
                msg, self.arrays = wire.recv_trusted(self.sock)
            except EOFError:
                return
            self.seq = msg.get("seq")
            op = ops.get(msg.get("op"))
            if op is None:
                self.reply({"ok": False, "error": {"type": "ProtocolError", "message": "unknown op"}})
                continue
            try:
                op(msg)
            except KeyError as e:  # a handle the judge does not hold, or a malformed request
                self.reply({"ok": False, "error": {"type": "ProtocolError", "message": f"bad request {e}"}})


class _Namespace:
    """getattr/setattr view of the notebook's globals."""

    def __init__(self, ns: dict) -> None:
        object.__setattr__(self, "_ns", ns)

    def __getattr__(self, name):
        try:
            return self._ns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self._ns[name] = value


def drop_privileges(uid: int) -> None:
    if os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SystemExit("worker could not drop root")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int)
    parser.add_argument("--connect")
    parser.add_argument("--uid", type=int)
    args = parser.parse_args()
    if args.uid is not None:
        drop_privileges(args.uid)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.connect)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead of killing us
    # A process the student forks must never speak on the channel: its copy of the socket is closed.
    os.register_at_fork(after_in_child=sock.close)
    cap = start_capture()
    stand_in_for_grader()
    main_pid = os.getpid()
    try:
        Worker(sock, cap).serve()
    except OSError:
        pass
    finally:
        if os.getpid() != main_pid:  # a forked child that fell back into the serve loop
            os._exit(0)
    os._exit(0)


if __name__ == "__main__":
    main()
