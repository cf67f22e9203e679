"""What does cnn's proof of training cost, and how far apart are honest and forged runs?

    .venv/bin/python bench/proof_replay.py            # all four ISA settings
    .venv/bin/python bench/proof_replay.py --isa default

Runs the cnn solution's code cells here (without the "check your layers" cell) three times, in
temporary folders: as written (honest), with another learning rate in build_optimizer, and with
another SHUFFLE_SEED; each run writes model.safetensors and checkpoints.safetensors. Then grades
the solution notebook with each run's files, every segment replayed ([model.proof] segments set
to all), the honest run under each of the project's four instruction-set settings (the worker
gets them, as `grade submit` passes its own), the forged runs under the default. Prints and
writes bench/results/proof_replay.json (not committed): per grading, each segment's distance
ratio and replay seconds. Compare timings only at similar loads (the load average is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ISA_SETTINGS = {"default": {}, "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
                "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "onednn-sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"}}
FORGERIES = {"lr_1e-2": ("lr=5e-3", "lr=1e-2"), "shuffle_seed_2": ("SHUFFLE_SEED = 1\n", "SHUFFLE_SEED = 2\n")}


def run_solution(folder: Path, edit: tuple[str, str] | None = None) -> dict[str, Path]:
    """Exec the solution's code cells in `folder` (public data written there); its model files."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "grader" / "worker"))
    from grader.course import datasets

    nb = json.loads((ROOT / "assignments" / "cnn" / "solution.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    cells = [c for c in cells if "numeric_gradient" not in c]  # the slow self-check cell
    datasets.write_public(("digits",), folder / "data", ())
    here = os.getcwd()
    os.chdir(folder)
    try:
        ns: dict = {}
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            for source in cells:
                if edit and edit[0] in source:
                    source = source.replace(*edit)
                exec(compile(source, "<cell>", "exec"), ns)
    finally:
        os.chdir(here)
    return {n: folder / n for n in ("model.safetensors", "checkpoints.safetensors")}


def grade_all_segments(files: dict[str, Path], isa: dict[str, str]) -> list[dict]:
    from grader.course.assignment import load_assignment
    from grader.course.notebook import read_notebook
    from grader.judge.pipeline import grade

    spec = load_assignment("cnn", ROOT)
    proof = dataclasses.replace(spec.model.proof, segments=spec.model.proof.keep, seconds=600.0)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, proof=proof))
    nb = read_notebook(ROOT / "assignments" / "cnn" / "solution.ipynb")
    nb["cells"] = [c for c in nb["cells"] if "numeric_gradient" not in "".join(c["source"])]
    result = grade(nb, spec, notebook_name="cnn.ipynb", mode="submit", files=files, cpu_isa=isa)
    return result.extra["model"].get("proof", {}).get("segments", [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", choices=list(ISA_SETTINGS), action="append")
    args = parser.parse_args()
    os.environ.setdefault("GRADER_SECRET", "bench-proof")
    out: dict = {"load": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        honest = run_solution(Path(tmp) / "honest")
        out["training_seconds"] = round(time.monotonic() - began, 2)
        for label in args.isa or list(ISA_SETTINGS):
            out[f"honest/{label}"] = grade_all_segments(honest, ISA_SETTINGS[label])
            print(label, [(d["ratio"], d["seconds"]) for d in out[f"honest/{label}"]], flush=True)
        for label, edit in FORGERIES.items():
            forged = run_solution(Path(tmp) / label, edit)
            out[f"forged/{label}"] = grade_all_segments(forged, {})
            print(label, [(d["ratio"], d["seconds"]) for d in out[f"forged/{label}"]], flush=True)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "proof_replay.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
