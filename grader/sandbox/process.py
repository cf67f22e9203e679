"""The embedded default sandbox: the worker as a local process under bubblewrap.

Inside: only the Python environment (read-only), the worker's two files, the public data and a
size-limited private /tmp and home; no network, own PID namespace, rlimits on memory,
processes, file size and CPU time. When the judge runs as root, the worker drops to an
unprivileged uid so that RLIMIT_NPROC holds. Without a bwrap that can run here (missing, or
refused namespaces, as inside an ordinary Docker container) it falls back to a plain subprocess
with the same rlimits, still under an unprivileged uid when the judge is root, and warns once
that the run is not isolated.
"""

from __future__ import annotations

import fcntl
import functools
import os
import resource
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from pathlib import Path

from grader.sandbox.base import SandboxError, Worker, WorkerSpec, stage_worker_files
from grader.sandbox.environment import SandboxEnvironment, describe

HOME = "/home/student"
WORKER_DIR = "/opt/dlgrade"
BASE_UID = 61000
UID_RANGE = 2000
_warned = False


class NotIsolatedWarning(UserWarning):
    pass


def python_roots() -> list[Path]:
    """Directories the worker's interpreter and its packages live in."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    import numpy

    numpy_home = Path(numpy.__file__).resolve().parent.parent
    if not any(numpy_home.is_relative_to(r.resolve()) for r in roots):
        roots.add(numpy_home)
    purelib = Path(sysconfig.get_paths()["purelib"])
    if purelib.exists():
        roots.add(purelib)
    resolved = sorted({r.resolve() for r in roots if r.exists()})
    # keep only the outermost of nested roots
    return [r for r in resolved if not any(r != o and r.is_relative_to(o) for o in resolved)]


@functools.lru_cache(maxsize=1)
def local_environment() -> SandboxEnvironment:
    """This interpreter's site-packages, as the bubblewrap sandbox shows them (read once)."""
    return SandboxEnvironment.from_json(describe())


def _count_tasks(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


def claim_uid(slot: int) -> tuple[int, int]:
    """An unprivileged uid no other live worker on this host uses, and the lock that holds it.

    RLIMIT_NPROC counts every process of a uid, so two workers sharing one would share a
    process budget (and one's fork loop would starve the other).
    """
    locks = Path(tempfile.gettempdir()) / "dlgrade-uids"
    locks.mkdir(mode=0o700, exist_ok=True)
    for k in range(UID_RANGE):
        uid = BASE_UID + (slot + k) % UID_RANGE
        fd = os.open(locks / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except BlockingIOError:
            os.close(fd)
    raise SandboxError(f"all {UID_RANGE} sandbox uids are in use")


_probed: dict[str, str] = {}


def others_can_run(roots: list[Path], executable: Path) -> bool:
    """Whether a uid with no rights of its own can run `executable` with the packages in `roots`
    (every folder on the way searchable by others, the roots also listable). A Python under
    /root (pyenv, say) is not, and the fallback then keeps root's uid, as before."""
    try:
        exe = executable.resolve()
        if not os.stat(exe).st_mode & 0o001:
            return False
        for path in (exe, *[r.resolve() for r in roots]):
            for folder in (path, *path.parents) if path.is_dir() else path.parents:
                mode = os.stat(folder).st_mode
                if not mode & 0o001 or (folder == path and not mode & 0o004):
                    return False
        return True
    except OSError:
        return False


def bwrap_unusable(bwrap: str) -> str:
    """Why `bwrap` cannot make the sandbox's namespaces here ("" when it can); probed once."""
    if bwrap not in _probed:
        flags = ["--unshare-pid", "--unshare-net"] if os.geteuid() == 0 else ["--unshare-all"]
        try:
            proc = subprocess.run([bwrap, *flags, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                   "true"], capture_output=True, text=True, timeout=30)
            why = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["exit status"])[-1]
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        _probed[bwrap] = f"bubblewrap (bwrap) cannot run here: {why[:200]}" if why else ""
    return _probed[bwrap]


class ProcessBackend:
    """Runs the worker under bubblewrap, or as a plain subprocess where bwrap cannot run."""

    name = "process"

    def __init__(self) -> None:
        self.bwrap = shutil.which("bwrap")
        self.fallback_reason = "bubblewrap (bwrap) is not installed"
        if self.bwrap and (why := bwrap_unusable(self.bwrap)):
            self.bwrap, self.fallback_reason = None, why

    def environment(self) -> SandboxEnvironment:
        """The judge's own Python environment: bubblewrap exposes exactly these site folders."""
        return local_environment()

    def start(self, spec: WorkerSpec) -> Worker:
        stage = Path(tempfile.mkdtemp(prefix="dlgrade-worker-"))
        stage_worker_files(stage / "worker")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        as_root = os.geteuid() == 0
        # As root the fallback drops to an unprivileged uid too, when that uid can run this
        # Python: its only protection for root-only files (hidden tests, a results folder).
        drop = as_root and not self.bwrap and others_can_run(python_roots(), Path(sys.executable))
        uid, lock = claim_uid(spec.slot) if (as_root and self.bwrap) or drop else (os.getuid(), -1)
        if self.bwrap:
            cmd, cwd = self._bwrap_command(spec, stage, child.fileno(), as_root, uid), None
            description = "bubblewrap sandbox"
        else:
            global _warned
            if not _warned:
                _warned = True
                warnings.warn(f"{self.fallback_reason}: the notebook runs WITHOUT isolation "
                              "(install the 'bubblewrap' package)", NotIsolatedWarning, stacklevel=2)
            home = stage / "home"
            home.mkdir()
            if drop:  # the worker's uid reads its files and owns its home, whatever the umask
                os.chmod(stage, 0o711)
                os.chmod(stage / "worker", 0o755)
                for f in (stage / "worker").iterdir():
                    os.chmod(f, 0o644)
                os.chown(home, uid, uid)
            if spec.data_dir:
                os.symlink(spec.data_dir, home / "data")
            cmd = [sys.executable, "-s", str(stage / "worker" / "untrusted_worker.py"),
                   "--fd", str(child.fileno())]
            cwd = str(home)
            description = f"plain subprocess (NOT isolated: {self.fallback_reason}" + (
                "; as root: other users cannot run this Python)" if as_root and not drop else ")")
        nproc = spec.limits.max_processes + (0 if (as_root and self.bwrap) or drop else _count_tasks(os.getuid()))
        limits = spec.limits

        gpu = spec.gpu

        def preexec() -> None:
            if not gpu:  # CUDA reserves far more address space than it uses; RLIMIT_AS would break it
                mem = limits.memory_mb * 1024 * 1024
                resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            fsize = limits.max_file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            cpu = int(limits.notebook_seconds + 20 * limits.call_seconds + 60)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            if drop:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)

        env = {"PATH": "/usr/bin:/bin", "HOME": HOME if self.bwrap else cwd, **self._worker_env(spec)}

        def cleanup() -> None:
            shutil.rmtree(stage, ignore_errors=True)
            if lock >= 0:
                os.close(lock)

        try:
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec,
                start_new_session=True,
            )
        except OSError as e:
            cleanup()
            raise SandboxError(f"cannot start the worker: {e}") from None
        finally:
            child.close()
        return Worker(parent, proc, description, cleanup, isolated=bool(self.bwrap))

    def _worker_env(self, spec: WorkerSpec) -> dict[str, str]:
        threads = str(max(1, spec.limits.cpus))
        env = {
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "MPLBACKEND": "Agg", "LANG": "C.UTF-8",
        }
        if not spec.gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""
        env.update(dict(spec.env))
        return env

    def _bwrap_command(self, spec: WorkerSpec, stage: Path, fd: int, as_root: bool, uid: int) -> list[str]:
        limits = spec.limits
        cmd = [self.bwrap, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
        if as_root:
            # No user namespace: the worker really drops to `uid`, so RLIMIT_NPROC counts.
            cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            cmd += ["--unshare-all"]
        for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64"):
            path = Path("/") / top
            if path.is_symlink():
                cmd += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                cmd += ["--ro-bind", str(path), str(path)]
        cmd += ["--proc", "/proc", "--dev", "/dev"]
        # Libraries look the user up (getpass.getuser(), torch's caches): give it a name and a home.
        shown_uid = uid if as_root else os.getuid()
        (stage / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\n"
                                      f"student:x:{shown_uid}:{shown_uid}:student:{HOME}:/bin/sh\n")
        (stage / "group").write_text(f"root:x:0:\nstudent:x:{shown_uid}:\n")
        cmd += ["--ro-bind", str(stage / "passwd"), "/etc/passwd", "--ro-bind", str(stage / "group"), "/etc/group"]
        for etc in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
            cmd += ["--ro-bind-try", etc, etc]
        # The private /tmp and home come before the Python environment's binds: a venv that lives
        # under /tmp (a CI checkout, say) must be bound on top of the tmpfs, not hidden by it.
        tmp_bytes = str(max(16, limits.max_file_mb) * 1024 * 1024)
        cmd += ["--perms", "1777", "--size", tmp_bytes, "--tmpfs", "/tmp",
                "--perms", "0755", "--dir", "/home",
                "--perms", "0777", "--size", tmp_bytes, "--tmpfs", HOME]
        made: set[Path] = {Path("/"), Path("/tmp"), Path("/home"), Path(HOME)}
        roots = python_roots()
        for root in roots:
            for parent in reversed(root.parents):
                if parent not in made and not parent.is_relative_to("/usr"):
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            if not root.is_relative_to("/usr"):
                cmd += ["--ro-bind", str(root), str(root)]
        hidden = [Path(p.rstrip("/")) for p in local_environment().hidden_paths(spec.hide_modules)]
        for mask in [*spec.masks, *hidden]:
            mask = mask.resolve()
            if mask.exists() and any(mask.is_relative_to(r) for r in roots + [Path("/usr")]):
                cmd += ["--tmpfs", str(mask)] if mask.is_dir() else ["--ro-bind", "/dev/null", str(mask)]
        if spec.gpu:
            # The device nodes; the driver's libraries live under /usr, which is already bound.
            for node in sorted(Path("/dev").glob("nvidia*")):
                cmd += ["--dev-bind", str(node), str(node)]
        cmd += ["--perms", "0755", "--dir", WORKER_DIR, "--ro-bind", str(stage / "worker"), WORKER_DIR]
        if spec.data_dir:
            cmd += ["--ro-bind", str(spec.data_dir), f"{HOME}/data"]
        cmd += ["--chdir", HOME, "--clearenv"]
        env = {"PATH": "/usr/bin:/bin", "HOME": HOME, "USER": "student", "LOGNAME": "student",
               "DLGRADE_PRIVATE_PIDS": "1", **self._worker_env(spec)}
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += [sys.executable, "-s", f"{WORKER_DIR}/untrusted_worker.py", "--fd", str(fd)]
        if as_root:
            cmd += ["--uid", str(uid)]
        return cmd
