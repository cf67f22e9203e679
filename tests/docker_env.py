"""What the Docker tests share: is an engine with the sandbox image here, and did we leave anything.

Without a daemon or image the Docker tests skip, all with the one reason line below; with
REQUIRE_DOCKER=1 (CI) they fail instead.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from grader.sandbox import SandboxError

REQUIRED = os.environ.get("REQUIRE_DOCKER") == "1"


@functools.lru_cache(maxsize=1)
def unavailable() -> str:
    """Why the docker sandbox cannot run here ("" when it can)."""
    try:
        from grader.sandbox.docker_image import check_image, connect, image_name

        check_image(connect(timeout=30), image_name())
    except SandboxError as e:
        return str(e)
    return ""


def skip_module_without_docker() -> None:
    """Called at the top of each Docker test module: without an engine, skip the module.

    Raised from this one line, so `pytest -ra` folds every module's skip into one reason line.
    With REQUIRE_DOCKER=1 nothing is skipped: each test then fails in `docker_ready`.
    """
    reason = unavailable()
    if reason and not REQUIRED:
        pytest.skip(f"docker sandbox unavailable (set REQUIRE_DOCKER=1 to fail instead): {reason}",
                    allow_module_level=True)


def require_docker() -> None:
    reason = unavailable()
    if reason and REQUIRED:
        pytest.fail(f"REQUIRE_DOCKER=1 but the docker sandbox cannot run: {reason}", pytrace=False)
    if reason:
        pytest.skip(f"docker sandbox unavailable (set REQUIRE_DOCKER=1 to fail instead): {reason}")


def client():
    from grader.sandbox.docker_image import connect

    return connect(timeout=60)


def our_containers(all_judges: bool = False) -> list:
    """Containers labelled dlgrade=1 (started by this test process unless `all_judges`)."""
    from grader.sandbox.docker import JUDGE_LABEL, LABEL, judge_id

    labels = [f"{LABEL}=1"] + ([] if all_judges else [f"{JUDGE_LABEL}={judge_id()}"])
    return client().containers.list(all=True, filters={"label": labels})


def docker_ps_a(label: str) -> list[str]:
    """`docker ps -a --filter label=...` with the real CLI, as a person would check."""
    out = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label={label}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.fixture(autouse=True)
def docker_ready():
    """Every test here needs the engine and image, and must leave no container behind."""
    require_docker()
    yield
    from grader.sandbox.docker import JUDGE_LABEL, judge_id

    left = docker_ps_a(f"{JUDGE_LABEL}={judge_id()}")
    assert left == [], f"containers left behind: {left}"
