"""Docker: torch hidden where torch is forbidden or refused, capabilities from the image's files.

The Docker twins of tests/test_hostile_torch_bypass.py and tests/test_sandbox_capabilities.py:
the image's environment is probed by the judge (a container of the image, no student code in
it); forbidden packages are masked with empty read-only tmpfs mounts over their folders.
"""

from __future__ import annotations

import pytest
from capability_cases import faking_notebook, torchvision_only
from docker_env import docker_ready, skip_module_without_docker  # noqa: F401  (docker_ready: autouse)
from hostile_torch import BACKPROP_FAST, CNN, backprop_attack, cnn_attack, refused_tests

from grader.judge.pipeline import grade

pytestmark = pytest.mark.docker
skip_module_without_docker()
DOCKER = "docker"


def test_image_environment_is_probed_by_the_judge():
    from grader.sandbox.docker import DockerBackend

    env = DockerBackend().environment()
    assert env.has("torch") and env.has("numpy") and not env.has("torchvision")
    assert all(p.startswith("/opt/venv/") for p in env.hidden_paths(("torch",)))


def test_backprop_without_the_import_blocker_earns_nothing():
    result = grade(backprop_attack(), BACKPROP_FAST, sandbox=DOCKER)
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]
    assert result.sandbox.startswith("docker")


@pytest.mark.slow
def test_cnn_by_hand_layers_through_setprofile_and_threads_earn_nothing():
    result = grade(cnn_attack("both"), CNN, sandbox=DOCKER)
    refused = refused_tests(result)
    assert len(refused) >= 10 and all(t.score == 0 for t in refused), [(t.name, t.score) for t in refused if t.score]
    assert result.score <= result.max_score - sum(t.max_score for t in refused)


def test_a_faked_torchvision_does_not_make_its_test_run(tmp_path):
    result = grade(faking_notebook(), torchvision_only(tmp_path), sandbox=DOCKER)
    (test,) = result.tests
    assert (test.status, test.score, test.max_score) == ("skipped", 0.0, 0.0), (test.status, test.message)
