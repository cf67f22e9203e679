"""`grade sandbox build`: the Docker sandbox image, built without a container registry.

By default (no --base-image) the build needs no registry at all:

1. base: a Debian bookworm rootfs from `debootstrap --variant=minbase --include=python3,python3-pip`,
   turned into an image with `docker import` (dlgrade-sandbox-base:bookworm; made once, reused);
2. wheels: `pip download` on the host, into a cached wheelhouse, for the image's Python
   (CPython 3.11, manylinux): torch==2.13.0 (the CPU build; with --gpu, PyPI's CUDA build)
   and numpy at the judge's own version;
3. image: `docker build` of the top-level sandbox/ folder, the wheels installed with
   `pip install --no-index --find-links` (pip inside a container cannot reach an index).

With --base-image (python:3.11-slim, an nvidia/cuda image, ...) the build is the ordinary kind
for machines that can pull: pip inside the build downloads the pinned packages itself.

The image holds Python and those packages only: the worker's own files, the public data and
the socket are mounted at run time, so one image serves every assignment. Its labels say which
grader and which sandbox/ folder built it (grader.sandbox.docker_image.stale_reason checks them).
Rebuilding reuses the base, the wheelhouse and Docker's layer cache.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.sandbox.base import PACKAGE_DIR, SandboxError
from grader.sandbox.docker_image import (
    DEFAULT_IMAGE,
    GPU_IMAGE,
    connect,
    fit_labels,
    sandbox_dir,
    short_error,
)

TORCH = "torch==2.13.0"
SUITE = "bookworm"
BASE_IMAGE = f"dlgrade-sandbox-base:{SUITE}"
BASE_PYTHON = ("3.11", "cp311")  # bookworm's python3
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ONLINE_BASE = "python:3.11-slim"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Which files of the rootfs the base image leaves out: apt's downloaded packages and lists.
TAR_EXCLUDES = ("./var/cache/apt/archives/*.deb", "./var/lib/apt/lists/*", "./dev/*", "./proc/*", "./sys/*")


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "dlgrade"


@dataclass
class BuildPlan:
    """What one build does; `plan()` makes it, `build()` carries it out."""

    tag: str
    gpu: bool
    base: str  # the FROM image
    offline: bool  # base from debootstrap, wheels from the host's wheelhouse
    requirements: list[str]
    pip_args: str
    labels: dict[str, str] = field(default_factory=dict)


def numpy_version() -> str:
    import numpy

    return numpy.__version__


def plan(*, gpu: bool = False, base_image: str | None = None, tag: str | None = None) -> BuildPlan:
    """The build for these options (pure but for reading sandbox/ and numpy's version)."""
    folder = sandbox_dir()
    if folder is None:
        raise SandboxError(f"no sandbox/ folder with a Dockerfile beside {PACKAGE_DIR}")
    offline = base_image is None
    reqs = [line.split("#")[0].strip() for line in (folder / "requirements.txt").read_text().splitlines()]
    reqs = [r for r in reqs if r]
    torch = [r for r in reqs if re.match(r"^torch\b", r)]
    if torch != [TORCH]:
        raise SandboxError(f"{folder / 'requirements.txt'} must pin {TORCH} (found {torch or 'none'})")
    if offline:
        # numpy as the judge has it; the CPU torch wheel by its local version label, since a
        # plain torch==2.13.0 from PyPI is the multi-GB CUDA build.
        reqs = [f"numpy=={numpy_version()}" if r == "numpy" else r for r in reqs]
        if not gpu:
            reqs = [f"{TORCH}+cpu" if r == TORCH else r for r in reqs]
        pip_args = "--no-index --find-links /wheelhouse"
    else:
        pip_args = "" if gpu else f"--index-url {CPU_INDEX} --extra-index-url https://pypi.org/simple"
    labels = {
        **fit_labels(folder),
        "dlgrade.gpu": "1" if gpu else "0",
        "dlgrade.base": base_image or BASE_IMAGE,
        "dlgrade.requirements": " ".join(reqs),
    }
    return BuildPlan(tag=tag or (GPU_IMAGE if gpu else DEFAULT_IMAGE), gpu=gpu,
                     base=base_image or BASE_IMAGE, offline=offline, requirements=reqs,
                     pip_args=pip_args, labels=labels)


# ---------------------------------------------------------------- step 1: the base image


def ensure_base_image(client: Any, log: Callable[[str], None], mirror: str | None = None) -> str:
    """dlgrade-sandbox-base:bookworm, made with debootstrap + `docker import` unless it exists."""
    import docker

    try:
        image = client.images.get(BASE_IMAGE)
        if (image.labels or {}).get("dlgrade.base") == SUITE:
            log(f"base image {BASE_IMAGE}: present ({image.short_id})")
            return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    debootstrap = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.path.exists(p)), None)
    if debootstrap is None:
        raise SandboxError("building the base image offline needs debootstrap (apt-get install debootstrap); "
                           "or pass --base-image IMAGE on a machine that can pull images")
    if os.geteuid() != 0:
        raise SandboxError("debootstrap needs root: run `grade sandbox build` as root, "
                           "or pass --base-image IMAGE on a machine that can pull images")
    mirror = mirror or os.environ.get("DLGRADE_DEBIAN_MIRROR") or DEFAULT_MIRROR
    work = Path(tempfile.mkdtemp(prefix="dlgrade-rootfs-", dir=_big_tmp()))
    try:
        rootfs = work / "rootfs"
        log(f"base image: debootstrap {SUITE} from {mirror} (about a minute)")
        t0 = time.monotonic()
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", "--include=python3,python3-pip", SUITE, str(rootfs), mirror],
            capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise SandboxError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        log(f"base image: debootstrap done in {time.monotonic() - t0:.0f} s; docker import")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner",
                                *[f"--exclude={x}" for x in TAR_EXCLUDES], "-c", "."],
                               stdout=subprocess.PIPE)
        try:
            repo, tag = BASE_IMAGE.split(":")
            client.api.import_image_from_stream(
                tar.stdout, repository=repo, tag=tag,
                changes=[f"LABEL dlgrade.base={SUITE}", 'CMD ["/bin/sh"]'])
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            if tar.wait() != 0:
                raise SandboxError("tar of the debootstrap rootfs failed")
        log(f"base image {BASE_IMAGE}: imported")
        return BASE_IMAGE
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _big_tmp() -> str:
    """/var/tmp where it exists (a rootfs of ~300 MB may not fit a tmpfs /tmp)."""
    return "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else tempfile.gettempdir()


# ---------------------------------------------------------------- step 2: the wheelhouse


def target_platform_args() -> list[str]:
    """pip options for wheels that run on the base image: CPython 3.11, glibc 2.36, this arch."""
    machine = platform.machine() or "x86_64"
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)
    args = ["--only-binary=:all:", "--python-version", BASE_PYTHON[0], "--implementation", "cp",
            "--abi", BASE_PYTHON[1], "--abi", "abi3", "--abi", "none"]
    for minor in range(36, 16, -1):  # pip does not widen a manylinux tag to the older ones itself
        args += ["--platform", f"manylinux_2_{minor}_{arch}"]
    return args + ["--platform", f"manylinux2014_{arch}", "--platform", "any"]


def fill_wheelhouse(build: BuildPlan, log: Callable[[str], None], root: Path | None = None) -> Path:
    """Download the wheels `build` needs on the host (reused when they are there already)."""
    house = (root or cache_dir()) / f"wheelhouse-{'gpu' if build.gpu else 'cpu'}"
    manifest = house / "manifest.json"
    want = {"requirements": build.requirements, "platform": target_platform_args()}
    if manifest.is_file():
        try:
            have = json.loads(manifest.read_text())
            if have.get("want") == want and all((house / f).is_file() for f in have.get("files", [])):
                log(f"wheelhouse {house}: up to date ({len(have['files'])} wheels)")
                return house
        except (OSError, ValueError):
            pass
    house.mkdir(parents=True, exist_ok=True)
    for old in house.glob("*.whl"):
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
           "-d", str(house), *target_platform_args(), *build.requirements]
    env = dict(os.environ)
    if build.gpu:
        # PyPI's torch==2.13.0 is the CUDA build; a site pip.conf may point at a local CPU wheel
        # (find-links) that pip would prefer, so the GPU download ignores pip's config.
        env["PIP_CONFIG_FILE"] = os.devnull
        env.pop("PIP_FIND_LINKS", None)
        env.pop("PIP_CONSTRAINT", None)
    log(f"wheelhouse {house}: pip download {' '.join(build.requirements)}")
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 and not build.gpu:
        # Not on this machine's disk or index: the CPU wheel lives on PyTorch's own index.
        log(f"wheelhouse: retrying with {CPU_INDEX}")
        proc = subprocess.run(cmd + ["--extra-index-url", CPU_INDEX], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored" not in ln]
        raise SandboxError("pip download of the sandbox's wheels failed:\n" + "\n".join(lines[-10:]))
    files = sorted(p.name for p in house.glob("*.whl"))
    manifest.write_text(json.dumps({"want": want, "files": files}, indent=1))
    log(f"wheelhouse: {len(files)} wheels in {time.monotonic() - t0:.0f} s")
    return house


# ---------------------------------------------------------------- step 3: the image


def make_context(build: BuildPlan, wheelhouse: Path | None, directory: Path) -> Path:
    """The docker build context: sandbox/ (Dockerfile, ...), requirements.txt as planned, wheels."""
    folder = sandbox_dir()
    assert folder is not None
    for path in folder.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copyfile(path, directory / path.name)
    (directory / "requirements.txt").write_text("\n".join(build.requirements) + "\n")
    wheels = directory / "wheelhouse"
    wheels.mkdir()
    (wheels / "README").write_text("wheels for `pip install --no-index` (empty for online builds)\n")
    if wheelhouse is not None:
        for whl in sorted(wheelhouse.glob("*.whl")):
            try:
                os.link(whl, wheels / whl.name)
            except OSError:
                shutil.copyfile(whl, wheels / whl.name)
    return directory


def build(*, gpu: bool = False, base_image: str | None = None, tag: str | None = None,
          log: Callable[[str], None] = print, client: Any = None) -> tuple[str, str]:
    """Build the sandbox image; returns (tag, image id). Raises SandboxError with the reason."""
    import docker

    client = client or connect(timeout=1800)
    build_plan = plan(gpu=gpu, base_image=base_image, tag=tag)
    wheelhouse = None
    if build_plan.offline:
        ensure_base_image(client, log)
        wheelhouse = fill_wheelhouse(build_plan, log)
    log(f"image {build_plan.tag}: docker build from {build_plan.base}"
        + (" (offline: --no-index)" if build_plan.offline else " (online: pip downloads in the build)"))
    with tempfile.TemporaryDirectory(prefix="dlgrade-build-", dir=_big_tmp()) as ctx:
        make_context(build_plan, wheelhouse, Path(ctx))
        lines: list[str] = []
        image_id = ""
        try:
            stream = client.api.build(
                path=ctx, tag=build_plan.tag, rm=True, forcerm=True, pull=False, decode=True,
                buildargs={"BASE": build_plan.base, "PIP_ARGS": build_plan.pip_args},
                labels=build_plan.labels)
            for chunk in stream:
                if "error" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    tail = "\n".join(lines[-15:])
                    raise SandboxError(f"docker build failed: {detail.strip()}\n{tail}")
                text = chunk.get("stream", "")
                for line in text.splitlines():
                    if line.strip():
                        lines.append(line.rstrip())
                        if line.startswith(("Step ", "numpy ")):
                            log("  " + line.strip()[:140])
                match = re.search(r"Successfully built ([0-9a-f]+)", text)
                if match:
                    image_id = match.group(1)
                if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
                    image_id = chunk["aux"]["ID"]
        except docker.errors.APIError as e:
            raise SandboxError(f"docker build failed: {short_error(e)}") from None
    cached = sum("Using cache" in line for line in lines)
    steps = sum(line.startswith("Step ") for line in lines)
    log(f"image {build_plan.tag}: {cached} of {steps} steps from the cache")
    image = client.images.get(build_plan.tag)
    return build_plan.tag, image.short_id or image_id
