"""Grading images laid out like Gradescope's and PrairieLearn's, on the real Docker engine.

No registry here: the stand-in for `gradescope/autograder-base` (and for a PrairieLearn base
image) is the offline Debian base that `grade sandbox build` makes (debootstrap + docker
import; Python 3.11). Builds run with no network (everything comes from the bundle's wheels)
and Docker's layer cache makes a second build take seconds. Each submission gets a fresh
container, started the way the LMS does: files copied in, the script run as root.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

REQUIRED = os.environ.get("REQUIRE_DOCKER") == "1"
LABEL = "dlgrade-lms-test"
SCHEMAS = Path(__file__).parent / "schemas"


def docker_client():
    """A docker client with the offline base image present, or skip (fail with REQUIRE_DOCKER=1)."""
    try:
        from grader.sandbox.docker_build import ensure_base_image
        from grader.sandbox.docker_image import connect

        client = connect(timeout=600)
        ensure_base_image(client, log=lambda m: None)
        return client
    except Exception as e:  # noqa: BLE001 - any reason Docker cannot run here
        if REQUIRED:
            pytest.fail(f"REQUIRE_DOCKER=1 but Docker cannot run: {e}", pytrace=False)
        pytest.skip(f"docker unavailable (set REQUIRE_DOCKER=1 to fail instead): {e}")


def build_image(client, context: Path, tag: str, buildargs: dict[str, str] | None = None) -> float:
    """docker build with no network; returns the seconds it took (cached: a few)."""
    t0 = time.monotonic()
    lines = []
    for chunk in client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, pull=False,
                                  decode=True, network_mode="none", buildargs=buildargs or {},
                                  labels={LABEL: "1"}):
        if "error" in chunk:
            raise AssertionError(f"docker build failed: {chunk['error']}\n" + "\n".join(lines[-30:]))
        lines += [ln for ln in chunk.get("stream", "").splitlines() if ln.strip()]
    return time.monotonic() - t0


def tar_of(files: dict[str, bytes], mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = set()
        for name in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_from(container, path: str) -> bytes | None:
    """A file's bytes from a (stopped) container, or None when it is not there."""
    import docker

    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        f = tar.extractfile(member) if member else None
        return f.read() if f else None


def run_container(client, image: str, command: list[str], files: dict[str, dict[str, bytes]],
                  timeout: float = 240, mem: str = "1536m", volumes: dict | None = None,
                  want: tuple[str, ...] = ()) -> tuple[str, dict[str, bytes | None]]:
    """A fresh container: `files` copied in (folder -> {name: bytes}), `command` run as root.

    Returns (its output, {path: bytes} for the `want` paths read after it stopped). The deadline
    is kept by a timer here (container.wait's timeout is only an HTTP read timeout).
    """
    container = client.containers.create(image, command=command, network_mode="none", mem_limit=mem,
                                         memswap_limit=mem, pids_limit=512, labels={LABEL: "1"},
                                         volumes=volumes or {}, working_dir="/")
    try:
        for folder, content in files.items():
            container.put_archive(folder, tar_of(content))
        timer = threading.Timer(timeout, lambda: container.kill())
        timer.start()
        try:
            container.start()
            container.wait()
        finally:
            timer.cancel()
        logs = container.logs().decode("utf-8", "replace")
        return logs, {p: read_from(container, p) for p in want}
    finally:
        container.remove(force=True)


def validate(data: dict, schema_name: str) -> None:
    import jsonschema

    schema = json.loads((SCHEMAS / schema_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)


def leftover_containers(client) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"})]


# ---------------------------------------------------------------- the Gradescope stand-in image

GRADESCOPE_IMAGE = "dlgrade-lms-gradescope:test"
BASE = "dlgrade-sandbox-base:bookworm"
GRADESCOPE_DOCKERFILE = """\
# Gradescope's sample Dockerfile (manual_docker), with the offline Debian base standing in for
# gradescope/autograder-base and no apt-get update (the build has no network).
ARG BASE
FROM ${BASE}
COPY source /autograder/source
RUN mkdir -p /autograder/results /autograder/submission \\
    && cp /autograder/source/run_autograder /autograder/run_autograder \\
    && chmod +x /autograder/run_autograder /autograder/source/setup.sh \\
    && bash /autograder/source/setup.sh
"""
_built: dict[str, str] = {}


def gradescope_image(client, work: Path) -> str:
    """Build (once per test session; Docker's cache across sessions) the zip's image; its tag."""
    if "gradescope" in _built:
        return _built["gradescope"]
    import zipfile

    from grader.lms import gradescope

    zpath = gradescope.build("backprop", work / "autograder.zip", offline=True, log=lambda m: None)
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        assert "setup.sh" in names and "run_autograder" in names  # at the root, not in a folder
        assert any(n.startswith("wheels/torch-2.13.0") for n in names)
        assert "course/assignments/backprop/tests/hidden/test_affine.py" in names
        zf.extractall(work / "context" / "source")
    (work / "context" / "Dockerfile").write_text(GRADESCOPE_DOCKERFILE)
    seconds = build_image(client, work / "context", GRADESCOPE_IMAGE, {"BASE": BASE})
    print(f"\ngradescope stand-in image built in {seconds:.0f} s")
    _built["gradescope"] = GRADESCOPE_IMAGE
    return GRADESCOPE_IMAGE


def run_all(fn, cases: dict, workers: int = 3) -> dict:
    """fn(case) for every case, a few containers at a time (they mostly wait on Docker)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(fn, case) for name, case in cases.items()}
        return {name: f.result() for name, f in futures.items()}
