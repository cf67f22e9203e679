"""The proof of training (`[model.proof]`, issue #23; docs/models.md, docs/security.md).

One honest training run and its forgeries (tests/proof_class.py, made once per session in this
process by the notebook's own code) go through `grade batch` in a Canvas zip, with their
checkpoints: the honest run passes; each forgery of the acceptance list fails on the segment
that shows it (a fine-tune of a classmate's weights at its start, a larger learning rate,
another data order and interpolated checkpoints at the first replayed segment, a spliced-in
final state at the last one); hostile checkpoint files (missing, reordered, a header bomb, NaN,
an optimizer state of the wrong shape) each end in a one-line result in bounded time. The honest
run is then replayed, every segment, under the four instruction-set settings of the project.
The distance ratios and the replay times are printed (`-s`) for the record.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cli_run
import numpy as np
import pytest
from proof_class import ID, SECRET, make_course, notebook_bytes, runs, write_canvas_zip

from grader.course.assignment import load_assignment
from grader.judge import model_scoring
from grader.judge.model_proof import choose_segments

pytestmark = pytest.mark.slow

ISA_SETTINGS = {"default": {}, "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
                "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"}}


@pytest.fixture(scope="session")
def proof_course(tmp_path_factory):  # noqa: ANN001, ANN201
    work = tmp_path_factory.mktemp("proof-class")
    course = make_course(work / "course")
    return work, course, runs(work / "runs")


@pytest.fixture(scope="session")
def graded(proof_course):  # noqa: ANN001, ANN201
    work, course, subs = proof_course
    zpath = write_canvas_zip(work / "prf_submissions.zip", subs)
    r = cli_run.grade("batch", str(zpath), "--assignment", ID, "-j", "2", "--db", f"sqlite:///{work / 'c.db'}",
                      "--out", str(work / "out"), "--json", timeout=900,
                      env={"GRADER_SECRET": SECRET, "DLGRADE_COURSE": str(course)})
    assert r.returncode == 0, r.stderr[-3000:]
    return {s.uid: json.loads((work / "out" / s.uid / "result.json").read_text()) for s in subs}


def _private(result: dict) -> dict:
    return next(t for t in result["tests"] if t["name"] == model_scoring.PRIVATE_TEST)


def test_honest_run_passes_the_proof(proof_course, graded):  # noqa: ANN001
    _, course, subs = proof_course
    honest = next(s for s in subs if s.kind == "honest")
    result = graded[honest.uid]
    proof = result["extra"]["model"]["proof"]
    settings = load_assignment(ID, course).model.proof
    assert proof["ok"] and _private(result)["score"] == 10, _private(result)
    chosen = choose_segments(6, settings.segments, SECRET, ID, honest.uid)
    assert [d["segment"] - 1 for d in proof["segments"]] == chosen and chosen[-1] == 5
    assert max(d["ratio"] for d in proof["segments"]) <= settings.factor / 10, proof
    print("\nhonest:", [(d["from"], d["to"], d["ratio"], d["seconds"]) for d in proof["segments"]])


def test_each_forgery_fails_on_the_segment_that_shows_it(proof_course, graded):  # noqa: ANN001
    _, course, subs = proof_course
    factor = load_assignment(ID, course).model.proof.factor
    for s in (s for s in subs if s.kind in ("finetuned", "lr", "order", "splice", "interpolated")):
        result = graded[s.uid]
        private = _private(result)
        assert private["score"] == 0 and private["message"].startswith("proof of training failed"), private
        assert s.expect in private["message"], (s.kind, private["message"])
        if s.kind == "finetuned":  # trained on from a classmate's weights: not the notebook's start
            assert "checkpoint 0 (step 0)" in private["message"], private["message"]
            continue
        chosen = choose_segments(6, 3, SECRET, ID, s.uid)
        failing = 6 if s.kind == "splice" else chosen[0] + 1  # a splice shows in the last segment only
        assert f"segment {failing} of 6" in private["message"], (s.kind, chosen, private["message"])
        segments = result["extra"]["model"]["proof"]["segments"]
        assert segments[-1]["segment"] == failing and segments[-1]["ratio"] > 5 * factor, (s.kind, segments)
        assert all(d["ratio"] <= factor / 10 for d in segments[:-1]), (s.kind, segments)  # honest ones before
        print(f"\n{s.kind}: segment {failing}, ratio {segments[-1]['ratio']}")


def test_hostile_checkpoints_end_in_a_clear_bounded_result(proof_course, graded):  # noqa: ANN001
    _, _, subs = proof_course
    for s in (s for s in subs if s.uid.startswith("51")):
        result = graded[s.uid]
        private = _private(result)
        text = json.dumps(result)
        assert private["score"] == 0 and s.expect in private["message"], (s.kind, private["message"])
        assert "\n" not in private["message"] and len(private["message"]) < 600, private["message"]
        assert "Traceback" not in text and len(text) < 64_000, s.kind
        assert result["duration"] < 90 and not result["extra"].get("grading_failed"), (s.kind, result["duration"])


def test_segments_are_drawn_by_the_course_secret():
    """The last segment always; the others differ between students and secrets, never between regrades."""
    draws = {uid: choose_segments(10, 3, SECRET, ID, uid) for uid in map(str, range(20))}
    assert all(d == choose_segments(10, 3, SECRET, ID, uid) for uid, d in draws.items())
    assert all(len(d) == 3 and d[-1] == 9 and len(set(d)) == 3 for d in draws.values())
    assert len({tuple(d) for d in draws.values()}) > 5
    assert any(choose_segments(10, 3, "another secret", ID, uid) != d for uid, d in draws.items())
    assert choose_segments(1, 3, SECRET, ID, "x") == [0]


def test_checkpoints_keep_at_most_k_evenly_spaced(tmp_path):
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grader" / "worker"))
    from dlgrade_training import Checkpoints

    from grader.judge.untrusted_checkpoints import read_checkpoints

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ckpt = Checkpoints(tmp_path / "c.safetensors", every=2, keep=5)
    for step in range(37):
        ckpt.save(step, model, opt)
        opt.zero_grad()
        model(torch.ones(4, 3)).sum().backward()
        opt.step()
    ckpt.finish(37, model, opt)
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    run = read_checkpoints(tmp_path / "c.safetensors", 1 << 20, 6, weights)
    assert run.steps == (0, 8, 16, 24, 32, 37), run.steps
    assert np.array_equal(run.checkpoints[-1].model["weight"], weights["weight"])


def test_honest_replay_holds_under_the_four_isa_settings(proof_course, tmp_path, monkeypatch):  # noqa: ANN001
    """Every segment of the honest run replayed in the worker under each instruction-set setting:
    the distance ratio stays far below the tolerance."""
    from grader.judge.pipeline import grade

    _, course, subs = proof_course
    honest = next(s for s in subs if s.kind == "honest")
    spec = load_assignment(ID, course)
    every = dataclasses.replace(spec.model.proof, segments=6)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, proof=every))
    files = {}
    for name, data in honest.files.items():
        (tmp_path / name).write_bytes(data)
        files[name] = tmp_path / name
    monkeypatch.setenv("GRADER_SECRET", SECRET)
    nb = json.loads(notebook_bytes())
    worst = {}
    for label, isa in ISA_SETTINGS.items():
        result = grade(nb, spec, notebook_name="prf.ipynb", mode="submit", files=files, cpu_isa=isa)
        proof = result.extra["model"]["proof"]
        assert proof["ok"] and len(proof["segments"]) == 6, (label, proof)
        worst[label] = max(d["ratio"] for d in proof["segments"])
        assert worst[label] <= spec.model.proof.factor / 10, (label, proof)
    print("\nworst honest ratio per ISA setting:", worst)
