"""The Docker sandbox image as both sides see it: its names, its labels, the daemon's client.

`grade sandbox build` (grader.sandbox.docker_build) writes the labels that say which grader
and which sandbox/ folder built an image; the backend (grader.sandbox.docker) reads them back
with `check_image` before it grades. Both reach the daemon through `connect`. This module
imports neither of them, so the two stay free of an import circle.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from grader.sandbox.base import PACKAGE_DIR, SandboxError
from grader.version import __version__

IMAGE_ENV = "DLGRADE_DOCKER_IMAGE"
DEFAULT_IMAGE = "dlgrade-sandbox:cpu"
GPU_IMAGE = "dlgrade-sandbox:gpu"


def short_error(e: BaseException) -> str:
    """A Docker or requests error as one short line."""
    text = getattr(e, "explanation", None) or str(e) or type(e).__name__
    text = " ".join(str(text).split())
    return text[:300]


def connect(timeout: int = 120) -> Any:  # noqa: ANN401 - docker.DockerClient, imported lazily
    """A docker-py client for the local daemon, or SandboxError saying what to do."""
    try:
        import docker
    except ImportError:
        raise SandboxError("the docker sandbox needs the 'docker' Python package (pip install docker)") from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:  # DockerException, requests errors: the daemon is not there
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise SandboxError(f"cannot reach the Docker daemon at {where} ({short_error(e)}); "
                           "start dockerd, or grade with --sandbox process") from None
    return client


def image_name(gpu: bool = False) -> str:
    """The image graded with: $DLGRADE_DOCKER_IMAGE, else dlgrade-sandbox:cpu (or :gpu)."""
    return os.environ.get(IMAGE_ENV) or (GPU_IMAGE if gpu else DEFAULT_IMAGE)


def sandbox_dir() -> Path | None:
    """The sandbox/ folder (Dockerfile and requirements): packaged copy first, then the checkout."""
    for folder in (PACKAGE_DIR / "_sandbox", PACKAGE_DIR.parent / "sandbox"):
        if (folder / "Dockerfile").is_file():
            return folder
    return None


def sandbox_digest(folder: Path) -> str:
    """A hash of what in sandbox/ goes into the image (so a changed Dockerfile marks it stale)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            h.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def fit_labels(folder: Path) -> dict[str, str]:
    """The labels an image built from `folder` by this grader carries (`stale_reason` reads them)."""
    return {"dlgrade.sandbox": "1", "dlgrade.version": __version__, "dlgrade.sandbox-digest": sandbox_digest(folder)}


def stale_reason(labels: dict[str, str]) -> str:
    """Why an image with these labels does not fit this grader ("" when it does)."""
    if labels.get("dlgrade.sandbox") != "1":
        return "it was not built by `grade sandbox build` (no dlgrade labels)"
    built = labels.get("dlgrade.version", "?")
    if built != __version__:
        return f"it was built for dlgrade {built}, this is dlgrade {__version__}"
    folder = sandbox_dir()
    if folder is not None and labels.get("dlgrade.sandbox-digest") != sandbox_digest(folder):
        return f"{folder} changed since it was built"
    return ""


def check_image(client: Any, name: str, gpu: bool = False) -> Any:  # noqa: ANN401 - docker's Image
    """The image `name`, or SandboxError when it is missing, not ours, or stale."""
    import docker

    build = "grade sandbox build" + (" --gpu" if gpu else "") + (
        f" --tag {name}" if name not in (DEFAULT_IMAGE, GPU_IMAGE) else "")
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"no sandbox image '{name}': build it with `{build}`") from None
    except docker.errors.APIError as e:
        raise SandboxError(f"cannot inspect the sandbox image '{name}': {short_error(e)}") from None
    problem = stale_reason(image.labels or {})
    if problem:
        raise SandboxError(f"the sandbox image '{name}' is stale: {problem}; rebuild it with `{build}`")
    return image
