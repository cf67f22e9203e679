"""Grades do not depend on the CPU: the judge passes its instruction-set settings to the worker,
and the trained-model assignments score the same under four of them.

Trained floats round differently under another instruction set (oneDNN, ATen and MKL pick
kernels by ISA, OpenBLAS by CPU type), so a held-out accuracy may move by an example or two.
The judge forwards ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS, MKL_CBWR and
OPENBLAS_CORETYPE to the worker (grader.judge.pipeline.cpu_isa_env; the worker's environment is
otherwise built from scratch, so a submission cannot choose them for the judge). One
interpreter per setting (torch reads them at import) grades the solutions of backprop, cnn,
regularization, finetune and rnn and a few training-related variants (tests/isa_grading.py), and
every test must get the same status and score under all four.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_variants import Case, write_variant

from grader.course.assignment import load_assignment
from grader.judge.pipeline import CPU_ISA_VARIABLES, BadInput, cpu_isa_env, worker_spec
from grader.judge.remote import Submission
from grader.judge.session import Cell, WorkerSession
from grader.sandbox import get_backend

ROOT = Path(__file__).resolve().parents[1]


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


#: The four settings: the machine's own kernels, ATen without vector code, AVX2 at most, SSE at
#: most (oneDNN SSE4.1, MKL SSE4.2, OpenBLAS Prescott). OpenBLAS's type is forced, not capped,
#: so Haswell (AVX2) only where the CPU has AVX2.
ISA_SETTINGS = {
    "default": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             **({"OPENBLAS_CORETYPE": "Haswell"} if _has_avx2() else {})},
    "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OPENBLAS_CORETYPE": "Prescott"},
}


def isa_env(setting: dict[str, str]) -> dict[str, str]:
    """This process's environment with exactly `setting` as its instruction-set settings."""
    return {**{k: v for k, v in os.environ.items() if k not in CPU_ISA_VARIABLES}, **setting}


def test_the_judge_forwards_its_own_settings(monkeypatch):
    for key in CPU_ISA_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    assert cpu_isa_env() == ()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("MKL_CBWR", "AVX2,STRICT")
    monkeypatch.setenv("OMP_PROC_BIND", "true")  # not an ISA setting: not forwarded
    assert cpu_isa_env() == (("MKL_CBWR", "AVX2,STRICT"), ("ONEDNN_MAX_CPU_ISA", "AVX2"))
    assert cpu_isa_env({"ATEN_CPU_CAPABILITY": "default"}) == (("ATEN_CPU_CAPABILITY", "default"),)
    assert cpu_isa_env({}) == ()
    with pytest.raises(BadInput, match="LD_PRELOAD is not an instruction-set setting"):
        cpu_isa_env({"LD_PRELOAD": "x.so"})
    with pytest.raises(BadInput, match="ONEDNN_MAX_CPU_ISA='AVX2 ; rm' is not a valid setting"):
        cpu_isa_env({"ONEDNN_MAX_CPU_ISA": "AVX2 ; rm"})


def test_grade_gives_the_worker_the_judges_settings(monkeypatch, tmp_path):
    """grade() puts the settings in the worker's spec: the judge's own, or those it is given."""
    import grader.judge.pipeline as judge

    seen = []

    class Recording(WorkerSession):
        def __init__(self, backend, spec, *args, **kwargs):
            seen.append(dict(spec.env))
            super().__init__(backend, spec, *args, **kwargs)

    monkeypatch.setattr(judge, "WorkerSession", Recording)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    starter = load_assignment("backprop").root / "starter.ipynb"
    judge.grade_notebook(starter, mode="check")
    judge.grade_notebook(starter, mode="check", cpu_isa={"ONEDNN_MAX_CPU_ISA": "SSE41"})
    assert seen[0].get("ATEN_CPU_CAPABILITY") == "default" and "ONEDNN_MAX_CPU_ISA" not in seen[0]
    assert seen[1].get("ONEDNN_MAX_CPU_ISA") == "SSE41" and "ATEN_CPU_CAPABILITY" not in seen[1]


def test_the_worker_runs_under_the_settings_it_is_given():
    """Inside the sandbox, torch runs under the judge's choice (its capability is read at import)."""
    assignment = load_assignment("finetune")
    env = cpu_isa_env({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"})
    probe = ("import os, torch\ncapability = torch.backends.cpu.get_cpu_capability()\n"
             "isa = os.environ.get('ONEDNN_MAX_CPU_ISA')\n")
    session = WorkerSession(get_backend("process"), worker_spec(assignment, None, env=env), [Cell(0, probe)])
    try:
        runs = session.run_notebook()
        assert [r.status for r in runs] == ["ok"], runs
        sub = Submission(session)
        assert (sub.capability, sub.isa) == ("DEFAULT", "SSE41")
    finally:
        session.close()


# ------------------------------------------------------------------------ scores under four ISAs

#: (assignment, variant suite module, cell left out as in that suite, training-related variants):
#: each solution, plus mistakes whose trained model earns partial credit just below full marks
#: (a score that moves with any change of accuracy). Grading is the expensive part (four times
#: each notebook), so a representative few; tests/isa_grading.py measures any list by hand.
GRADED = [
    ("backprop", "test_backprop_variants", None, ["training_one_epoch"]),
    ("cnn", "test_cnn_variants", "def numeric_gradient(", []),
    ("regularization", "test_regularization_variants", None, []),
    ("finetune", "test_finetune_variants", None, ["prepare_keeps_the_pretrained_head"]),
    ("rnn", "test_rnn_variants", "rel_error(", []),
]


def _jobs(directory: Path) -> list[list[str]]:
    import importlib

    jobs = []
    for assignment, suite, drop, variants in GRADED:
        module = importlib.import_module(suite)
        cases = {c.id: c for c in module.BUGS + getattr(module, "ALTERNATIVES", [])}
        for case in [Case("solution", ()), *(cases[v] for v in variants)]:
            path = write_variant(module.SOLUTION, Case(f"{assignment}-{case.id}", case.edits), directory, drop)
            jobs.append([f"{assignment}:{case.id}", str(path)])
    return jobs


@pytest.mark.slow
def test_scores_are_identical_under_four_isa_settings(tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps(_jobs(tmp_path)), encoding="utf-8")
    results = {}
    for label, setting in ISA_SETTINGS.items():
        out = tmp_path / f"{label}.json"
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "isa_grading.py"), str(jobs), str(out)],
                              cwd=ROOT, env=isa_env(setting), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{label}: {proc.stderr[-3000:]}"
        results[label] = json.loads(out.read_text(encoding="utf-8"))
    base = results["default"]
    for label, got in results.items():
        for notebook, graded in base.items():
            other = got[notebook]
            assert all(status == "ok" for status in other["cells"]), f"{label} {notebook}: cells {other['cells']}"
            differ = {t: (graded["tests"][t], other["tests"].get(t)) for t in graded["tests"]
                      if other["tests"].get(t) != graded["tests"][t]}
            assert not differ and other["score"] == graded["score"], (
                f"{notebook} scores {other['score']} under {label}, {graded['score']} under the default: "
                f"{differ}; messages {[other['messages'].get(t) for t in differ]} vs "
                f"{[graded['messages'].get(t) for t in differ]}")
    for assignment, *_ in GRADED:
        solution = base[f"{assignment}:solution"]
        assert solution["score"] == solution["max_score"], (assignment, solution["messages"])
