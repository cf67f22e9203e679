"""The Docker sandbox: each worker in its own container, the judge on the host.

One image (`grade sandbox build`) serves every assignment: Python, numpy and torch. What a
worker needs beyond that reaches its container at run time as read-only bind mounts: the
worker's two files plus the socket it connects back on (one per-worker host folder, at
/opt/dlgrade), and the assignment's public data (at ~/data). Nothing else from the host is
visible, so hidden tests, reference code and held-out data never are.

Each container runs as an unprivileged uid, with no network (`network_mode="none"`; the unix
socket in the mounted folder still works), a read-only root filesystem with size-limited tmpfs
for /tmp and the home folder, every capability dropped, no-new-privileges, limits on pids,
memory (swap equal, so none), CPU (nano_cpus), file size, CPU time and core dumps, and a capped
log. Deadlines stay with the judge (grader/judge/session.py), which calls `Worker.kill`; containers
are removed on every path out, and carry the label `dlgrade=1` so that `grade sandbox prune`
finds any that a killed judge left behind.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader.sandbox.base import SandboxError, Worker, WorkerSpec, describe_exit, stage_worker_files
from grader.sandbox.docker_image import check_image, connect, image_name, short_error
from grader.sandbox.environment import SandboxEnvironment
from grader.sandbox.gpu import GpuRequest, device_requests

LABEL = "dlgrade"  # every container we start has dlgrade=1
JUDGE_LABEL = "dlgrade.judge"  # "<hostname>:<pid>" of the judge that started it

HOME = "/home/student"
WORKER_DIR = "/opt/dlgrade"
PYTHON = "/opt/venv/bin/python"
SOCKET_NAME = "worker.sock"
STAGE_PREFIX = "dlgrade-docker-"
CONNECT_SECONDS = 60.0  # from `docker run` to the worker's connect(): ~1 s here
LOG_MAX_SIZE = "1m"  # what the container may write to its log (the worker captures its output)


def judge_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ------------------------------------------------------------------ containers we still own

_live: dict[str, Any] = {}  # container id -> container, until removed
_live_lock = threading.Lock()


def _remove(container: Any) -> None:
    """Kill and remove `container`; tolerant of it being gone already."""
    import docker

    for attempt in range(3):
        try:
            container.remove(force=True)
            break
        except docker.errors.NotFound:
            break
        except docker.errors.APIError as e:
            if "already in progress" in str(e):
                break
            if attempt == 2:
                import warnings

                warnings.warn(f"could not remove container {container.name}: {short_error(e)}; "
                              "`grade sandbox prune` removes it", stacklevel=2)
            time.sleep(0.5)
        except Exception:  # the daemon went away: prune will find it later
            break
    with _live_lock:
        _live.pop(container.id, None)


@atexit.register
def _remove_leftovers() -> None:
    """On interpreter exit (Ctrl-C included), remove every container still ours."""
    with _live_lock:
        left = list(_live.values())
    for container in left:
        _remove(container)


# ------------------------------------------------------------------ the backend


class DockerWorker(Worker):
    """A worker in a container: the judge's socket end and the container behind it."""

    def __init__(self, sock: socket.socket, container: Any, description: str, cleanup: Any,
                 memory_mb: int) -> None:
        super().__init__(sock, None, description, cleanup)  # type: ignore[arg-type]
        self.container = container
        self.memory_mb = memory_mb
        self._removed = False

    def alive(self) -> bool:
        if self._removed:
            return False
        try:
            self.container.reload()
        except Exception:
            return False
        return self.container.status in ("created", "running")

    def kill(self) -> None:
        """Kill and remove the container and everything in it; safe to call twice."""
        try:
            self.sock.close()
        except OSError:
            pass
        if not self._removed:
            self._removed = True
            _remove(self.container)
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()

    def exit_reason(self) -> str:
        """Why the container ended, in words for the student (OOM kills and daemon errors too)."""
        import docker
        import requests

        if self._removed:
            return "was stopped"
        try:
            # An HTTP read timeout, not a deadline: the worker has ended already, or is ending.
            self.container.wait(timeout=3)
            self.container.reload()
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return "stopped answering"
        except docker.errors.NotFound:
            return "ended: its container disappeared (removed from outside the grader)"
        except docker.errors.APIError as e:
            return f"ended: the Docker daemon reported an error ({short_error(e)})"
        state = self.container.attrs.get("State", {})
        if state.get("OOMKilled"):
            return f"killed: out of memory (the sandbox's {self.memory_mb} MB memory limit)"
        if state.get("Error"):
            return f"ended: the Docker daemon reported an error ({short_error(Exception(state['Error']))})"
        return describe_exit(int(state.get("ExitCode", -1)))


class DockerBackend:
    """Starts each worker in its own container from the sandbox image."""

    name = "docker"

    def __init__(self, gpus: GpuRequest | None = None, image: str | None = None,
                 client: Any = None) -> None:
        self.client = client or connect()
        self.gpus = gpus
        self.image_name = image or image_name(gpu=gpus is not None)
        self.image = check_image(self.client, self.image_name, gpu=gpus is not None)
        try:
            security = self.client.info().get("SecurityOptions") or []
        except Exception:
            security = []
        # With user namespaces (userns-remap, rootless) container uids are not host uids, so the
        # worker's folder cannot be handed to its uid: it is made world-readable instead, inside
        # a folder whose random name only the judge knows.
        self.remapped = any("userns" in s or "rootless" in s for s in security)
        self._gpu_checked = False
        if gpus is not None:
            self.check_gpus()

    # -- GPUs ------------------------------------------------------------------------------
    def check_gpus(self) -> None:
        """`nvidia-smi -L` in a container with the requested GPUs, before any grading."""
        import docker

        container = None
        try:
            container = self.client.containers.create(
                self.image_name, ["nvidia-smi", "-L"], network_mode="none",
                user="65534:65534", read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                environment={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
                labels={LABEL: "1", JUDGE_LABEL: judge_id()}, device_requests=device_requests(self.gpus))
            with _live_lock:
                _live[container.id] = container
            container.start()
            status = container.wait(timeout=120).get("StatusCode", -1)
            output = container.logs().decode("utf-8", "replace").strip()
        except docker.errors.APIError as e:
            raise SandboxError(f"--gpus {self.gpus}: Docker could not give the sandbox a GPU "
                               f"({short_error(e)}); is the NVIDIA Container Toolkit installed?") from None
        except Exception as e:
            raise SandboxError(f"--gpus {self.gpus}: the GPU check failed ({short_error(e)})") from None
        finally:
            if container is not None:
                _remove(container)
        if status != 0 or "GPU " not in output:
            raise SandboxError(f"--gpus {self.gpus}: nvidia-smi inside the sandbox sees no GPU "
                               f"(exit {status}: {' '.join(output.split())[:200] or 'no output'})")
        self._gpu_checked = True

    # -- what the image holds ---------------------------------------------------------------
    def environment(self) -> SandboxEnvironment:
        """The image's site-packages, from a probe container of the image (no student code in it)."""
        return image_environment(self.client, self.image)

    # -- starting a worker -----------------------------------------------------------------
    def container_options(self, spec: WorkerSpec, uid: int, worker_dir: Path, name: str) -> dict[str, Any]:
        """The docker-py `containers.run` arguments for one worker (a pure function of its inputs)."""
        from docker.types import LogConfig, Mount, Ulimit

        from grader.sandbox.process import ProcessBackend

        limits = spec.limits
        tmp_mb = max(16, limits.max_file_mb)
        # tmpfs pages count against the container's memory: the worker keeps its full memory_mb.
        memory = f"{limits.memory_mb + 3 * tmp_mb}m"
        gpu = spec.gpu and self.gpus is not None
        env = {"PATH": "/opt/venv/bin:/usr/bin:/bin", "HOME": HOME, "DLGRADE_PRIVATE_PIDS": "1",
               **ProcessBackend._worker_env(None, spec)}  # type: ignore[arg-type]  # the same env as bwrap
        if gpu:
            env["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
            env.pop("CUDA_VISIBLE_DEVICES", None)
        mounts = [Mount(WORKER_DIR, str(worker_dir), type="bind", read_only=True)]
        if spec.data_dir:
            mounts.append(Mount(f"{HOME}/data", str(spec.data_dir), type="bind", read_only=True))
        tmpfs = {"/tmp": f"rw,exec,nosuid,nodev,size={tmp_mb}m,mode=1777",
                 HOME: f"rw,exec,nosuid,nodev,size={tmp_mb}m,mode=0777"}
        if spec.hide_modules:  # a forbidden package is not in the image as this container sees it
            for path in self.environment().hidden_paths(spec.hide_modules):
                if path.endswith("/"):
                    tmpfs[path.rstrip("/")] = "ro,nosuid,nodev,noexec,size=4k,mode=0755"
                else:
                    mounts.append(Mount(path, "/dev/null", type="bind", read_only=True))
        # RLIMIT_AS as in the process backend (docker has no --ulimit for it), so that a huge
        # allocation fails with MemoryError there and here alike; the cgroup limit caps the sum
        # over all processes. CUDA reserves address space wholesale: no RLIMIT_AS with a GPU.
        address_kb = "unlimited" if gpu else str(limits.memory_mb * 1024)
        # No working_dir: docker would create it in the container's layer as root 0755 before
        # mounting, and the home tmpfs would take that mode (not writable for the worker).
        command = ["/bin/sh", "-c", f'ulimit -v "$1" || exit 97; cd {HOME} || exit 96; shift; exec "$@"',
                   "sh", address_kb,
                   PYTHON, "-s", f"{WORKER_DIR}/untrusted_worker.py", "--connect", f"{WORKER_DIR}/{SOCKET_NAME}"]
        cpu_seconds = int(limits.notebook_seconds + 20 * limits.call_seconds + 60)
        file_bytes = limits.max_file_mb * 1024 * 1024
        options: dict[str, Any] = dict(
            image=self.image_name, command=command, name=name, detach=True,
            user=f"{uid}:{uid}", environment=env, hostname="sandbox",
            network_mode="none", read_only=True,
            tmpfs=tmpfs, mounts=mounts, shm_size=f"{tmp_mb}m",
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            pids_limit=limits.max_processes + 2,  # + docker-init and the worker itself
            mem_limit=memory, memswap_limit=memory, oom_score_adj=500,
            nano_cpus=int(min(max(1, limits.cpus), os.cpu_count() or 1) * 1_000_000_000),  # docker refuses more
            ulimits=[Ulimit(name="core", soft=0, hard=0),
                     Ulimit(name="fsize", soft=file_bytes, hard=file_bytes),
                     Ulimit(name="cpu", soft=cpu_seconds, hard=cpu_seconds + 5),
                     Ulimit(name="nofile", soft=1024, hard=1024)],
            log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": LOG_MAX_SIZE, "max-file": "1"}),
            labels={LABEL: "1", JUDGE_LABEL: judge_id(), "dlgrade.slot": str(spec.slot)},
            init=True, stdin_open=False, tty=False,
        )
        if gpu:
            options["device_requests"] = device_requests(self.gpus)
        return options

    def start(self, spec: WorkerSpec) -> Worker:
        import docker

        from grader.sandbox.process import claim_uid

        uid, lock = claim_uid(spec.slot)
        stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-"))
        token = secrets.token_hex(16)
        name = f"dlgrade-{os.getpid()}-{uid}-{token[:8]}"
        container = None
        listener = None

        def cleanup() -> None:
            shutil.rmtree(stage, ignore_errors=True)
            try:
                os.close(lock)
            except OSError:
                pass

        try:
            os.chmod(stage, 0o711)  # others may pass through, not list: the inner name is secret
            inner = stage / token
            inner.mkdir(mode=0o700)
            stage_worker_files(inner)
            sock_path = inner / SOCKET_NAME
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(sock_path))
            listener.listen(4)
            owned = os.geteuid() == 0 and not self.remapped
            if owned:  # only the worker's uid (and root) can read the files or connect
                for path in (inner, *inner.iterdir()):
                    os.chown(path, uid, uid)
                for path in inner.iterdir():
                    os.chmod(path, 0o600 if path.name == SOCKET_NAME else 0o400)
                os.chmod(inner, 0o500)
            else:
                for path in inner.iterdir():
                    os.chmod(path, 0o777 if path.name == SOCKET_NAME else 0o644)
                os.chmod(inner, 0o755)
            options = self.container_options(spec, uid, inner, name)
            options.pop("detach")
            # create + start, never `run`: run pulls a missing image from a registry.
            container = self.client.containers.create(**options)
            with _live_lock:
                _live[container.id] = container
            container.start()
            sock = self._accept(listener, container, uid if owned else None)
        except BaseException as e:  # Ctrl-C included: nothing is left behind
            if container is not None:
                _remove(container)
            else:
                self._remove_by_name(name)
            cleanup()
            if isinstance(e, docker.errors.DockerException) or _is_connection_error(e):
                raise SandboxError(f"the Docker daemon could not start the sandbox: {short_error(e)}") from None
            raise
        finally:
            if listener is not None:
                listener.close()
        description = f"docker container ({self.image_name}, image {self.image.short_id.split(':')[-1]})"
        return DockerWorker(sock, container, description, cleanup, spec.limits.memory_mb)

    def _remove_by_name(self, name: str) -> None:
        """After an interrupted `run`, the container may exist though we never got its handle."""
        try:
            _remove(self.client.containers.get(name))
        except Exception:
            pass

    def _accept(self, listener: socket.socket, container: Any, uid: int | None) -> socket.socket:
        """Wait for the worker to connect, watching the container in case it dies first."""
        deadline = time.monotonic() + CONNECT_SECONDS
        listener.settimeout(0.2)
        next_check = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                conn = None
            if conn is not None:
                if uid is None or _peer_uid(conn) == uid:
                    conn.settimeout(None)
                    return conn
                conn.close()  # someone else on this host: not our worker
                continue
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.5
                container.reload()
                if container.status not in ("created", "running"):
                    raise SandboxError(self._early_exit(container))
        raise SandboxError(f"the sandbox container did not connect within {CONNECT_SECONDS:g} s")

    @staticmethod
    def _early_exit(container: Any) -> str:
        state = container.attrs.get("State", {})
        try:
            log = container.logs(tail=5).decode("utf-8", "replace").strip()
        except Exception:
            log = ""
        code = int(state.get("ExitCode", -1))
        why = "out of memory" if state.get("OOMKilled") else (
            state.get("Error") or {97: "could not set its memory limit", 96: "could not enter its home folder"}.get(
                code, describe_exit(code)))
        detail = f": {' '.join(log.split())[-300:]}" if log else ""
        return f"the sandbox container stopped before the worker connected ({why}){detail}"


_environments: dict[str, SandboxEnvironment] = {}  # image id -> what it holds


def image_environment(client: Any, image: Any) -> SandboxEnvironment:
    """What `image`'s Python holds: probed once per image id in a locked-down container.

    The probe runs grader/sandbox/environment.py's `describe()` with the image's own Python;
    the image is the judge's (built by `grade sandbox build`), and no student code runs there.
    """
    import docker

    key = image.id
    if key in _environments:
        return _environments[key]
    from grader.course.datasets import cache_dir
    from grader.sandbox.environment import SandboxEnvironment, parse_probe, probe_source

    cached = cache_dir() / f"image-env-{key.split(':')[-1][:32]}.json"
    try:
        _environments[key] = SandboxEnvironment.from_json(json.loads(cached.read_text(encoding="utf-8")))
        return _environments[key]
    except (OSError, ValueError, KeyError):
        pass

    container = None
    try:
        container = client.containers.create(
            image.id, [PYTHON, "-s", "-c", probe_source()], network_mode="none", user="65534:65534",
            read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            labels={LABEL: "1", JUDGE_LABEL: judge_id()}, mem_limit="512m", pids_limit=16)
        with _live_lock:
            _live[container.id] = container
        container.start()
        status = container.wait(timeout=120).get("StatusCode", -1)
        output = container.logs(stdout=True, stderr=False)
        if status != 0:
            raise SandboxError(f"the sandbox image's environment probe exited with {status}")
        env = parse_probe(output)
    except (docker.errors.DockerException, ValueError, KeyError) as e:
        raise SandboxError(f"cannot list the packages of the sandbox image: {short_error(e)}") from None
    finally:
        if container is not None:
            _remove(container)
    _environments[key] = env
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(env.to_json()), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home only costs a probe per run
    return env


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _is_connection_error(e: BaseException) -> bool:
    try:
        import requests
    except ImportError:
        return False
    return isinstance(e, requests.exceptions.RequestException)


# ------------------------------------------------------------------ leftovers


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _judge_gone(judge: str) -> bool:
    host, _, pid = judge.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's judge, or no label: only --all removes it
    return not _pid_alive(int(pid))


def prune(client: Any = None, everything: bool = False) -> list[str]:
    """Remove containers labelled dlgrade=1 whose judge is gone (all of them with `everything`),
    and the host folders such judges left. Returns the names of the containers removed."""
    client = client or connect()
    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        judge = (container.labels or {}).get(JUDGE_LABEL, "")
        if everything or _judge_gone(judge):
            _remove(container)
            removed.append(container.name)
    for stage in Path(tempfile.gettempdir()).glob(f"{STAGE_PREFIX}*"):
        pid = stage.name[len(STAGE_PREFIX):].split("-")[0]
        if pid.isdigit() and (not _pid_alive(int(pid)) or (everything and int(pid) != os.getpid())):
            shutil.rmtree(stage, ignore_errors=True)
    return removed
