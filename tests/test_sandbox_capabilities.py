"""What the sandbox holds is decided by the judge, from the sandbox's files; never by the worker.

A faked `torchvision` in the notebook does not make the torchvision test run (process sandbox
here; Docker in tests/test_docker_sandbox_visibility.py). The description itself is checked on a
folder laid out like site-packages: a package there is found, a masked one is not.
"""

from __future__ import annotations

import dataclasses
import json

from capability_cases import faking_notebook, torchvision_only

from grader.judge.pipeline import grade
from grader.sandbox.environment import SandboxEnvironment, describe, parse_probe
from grader.sandbox.process import ProcessBackend


def test_a_faked_torchvision_does_not_make_its_test_run(tmp_path):
    result = grade(faking_notebook(), torchvision_only(tmp_path))
    (test,) = result.tests
    assert test.name == "test_torchvision_resnet18"
    assert (test.status, test.score, test.max_score) == ("skipped", 0.0, 0.0), (test.status, test.message)
    assert "not installed" in test.message
    assert all(c.status == "ok" for c in result.cells), [(c.index, c.message) for c in result.cells]


def test_the_fake_would_pass_if_trusted(tmp_path, monkeypatch):
    """The control: with the judge told torchvision is there, the faked module passes the test.

    That is what deciding on the worker's word used to do; it shows the fake is a real attack.
    """
    from grader.judge import pytest_plugin

    class Trusting(pytest_plugin.JudgePlugin):
        def __init__(self, *args, **kwargs):
            kwargs["installed"] = lambda module: True
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pytest_plugin, "JudgePlugin", Trusting)  # grade() imports it late
    result = grade(faking_notebook(), torchvision_only(tmp_path))
    (test,) = result.tests
    assert (test.status, test.score) == ("passed", 1.0), test.message


def _site(tmp_path, *names):
    site = tmp_path / "site-packages"
    site.mkdir()
    for name in names:
        (site / name).mkdir()
        (site / name / "__init__.py").write_text("")
    dist = site / "fakevision-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakevision\nVersion: 1.0\n")
    (dist / "RECORD").write_text("fakevision/__init__.py,,\nfakevision_ops/__init__.py,,\n"
                                 "fakevision-1.0.dist-info/RECORD,,\n")
    return site


def test_the_description_finds_packages_and_their_siblings(tmp_path):
    site = _site(tmp_path, "fakevision", "fakevision_ops", "other")
    env = parse_probe(json.dumps(describe([str(site)])).encode() + b"\n")
    assert env.has("fakevision") and env.has("other") and not env.has("absent")
    assert not env.has("fakevision", hidden=("fakevision",))
    hidden = env.hidden_paths(("fakevision",))
    assert hidden == sorted(f"{site}/{n}/" for n in ("fakevision", "fakevision-1.0.dist-info", "fakevision_ops"))
    assert env.has("other", hidden=("fakevision",))


def test_a_malformed_description_is_refused():
    for bad in (b"", b"not json\n", b'{"sites": 3}\n', b'{"sites": [], "entries": {"a": [1]}, "owners": {}, "files": {}}\n'):
        try:
            parse_probe(bad)
        except (ValueError, KeyError):
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_the_process_sandbox_describes_the_judges_environment():
    env = ProcessBackend().environment()
    assert isinstance(env, SandboxEnvironment)
    assert env.has("torch") and env.has("numpy")
    assert not env.has("torch", hidden=("torch",))
    assert any(p.rstrip("/").endswith("/torch") for p in env.hidden_paths(("torch",)))
    assert dataclasses.is_dataclass(env)
