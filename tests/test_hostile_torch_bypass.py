"""Undoing "write it without torch" from inside the student's process gains nothing.

The sandbox enforces it: backprop (which forbids torch) runs in a worker whose sandbox has no
torch files at all, and cnn's by-hand layers, graded through `submission.refusing("torch")`,
run in a second worker without torch, fed the same cells. So removing the import blocker from
sys.meta_path, `sys.setprofile(None)`, or running torch in a thread earns no more than the
honest outcome: the same notebook with its torch calls simply refused. The controls show the
attacks are real: with torch visible, the same backprop layers pass their tests.
Process sandbox here; Docker in tests/test_docker_sandbox_visibility.py.
"""

from __future__ import annotations

import dataclasses

import pytest
from hostile_torch import BACKPROP_FAST, CNN, backprop_attack, cnn_attack, refused_tests

from grader.judge.pipeline import grade


def test_backprop_without_the_import_blocker_earns_nothing():
    result = grade(backprop_attack(), BACKPROP_FAST)
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]
    layer = next(t for t in result.tests if t.name == "test_affine_forward")
    assert layer.status == "error" and "torch" in layer.message, layer.message
    assert "Traceback" not in layer.message


@pytest.mark.slow
def test_backprop_attack_is_real_where_torch_is_visible():
    """The control: the same cell, torch neither forbidden nor hidden, passes the layer tests."""
    visible = dataclasses.replace(BACKPROP_FAST, forbidden_imports=(), limits=dataclasses.replace(
        BACKPROP_FAST.limits, memory_mb=4096))
    result = grade(backprop_attack(), visible)
    passed = {t.name for t in result.tests if t.status == "passed"}
    assert {"test_affine_forward", "test_affine_backward_dx", "test_relu_forward", "test_tanh_backward"} <= passed
    assert result.score >= 20, result.score


@pytest.fixture(scope="module")
def honest():
    """The cnn starter with its layers in plain torch: every by-hand call is refused."""
    return grade(cnn_attack("plain"), CNN)


@pytest.mark.slow
@pytest.mark.parametrize("bypass", ["setprofile", "thread"])
def test_cnn_by_hand_layers_through_a_bypass_earn_no_more_than_honest(honest, bypass):
    result = grade(cnn_attack(bypass), CNN)
    assert result.score <= honest.score, (result.score, honest.score)
    refused = refused_tests(result)
    assert len(refused) >= 10 and all(t.score == 0 for t in refused), [(t.name, t.score) for t in refused if t.score]
    assert all(t.status in ("error", "failed") for t in refused)
    assert honest.score < 6, honest.score  # as many points as the public checks give, no more
