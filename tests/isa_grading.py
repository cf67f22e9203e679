"""Grade notebooks under this interpreter's instruction-set settings; for tests/test_scores_across_isa.py.

    python tests/isa_grading.py JOBS.json OUT.json

JOBS.json: [[label, notebook path], ...]. OUT.json: {label: {"score", "max_score", "tests":
{name: [status, score]}, "cells": [status, ...]}}. Run it with ATEN_CPU_CAPABILITY /
ONEDNN_MAX_CPU_ISA / OPENBLAS_CORETYPE set: torch reads them at import, in this (judge) process,
and the judge passes them on to the worker (grader.judge.pipeline.cpu_isa_env).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(jobs_path: str, out_path: str) -> int:
    from grader.judge.pipeline import grade_notebook

    results = {}
    for label, notebook in json.loads(Path(jobs_path).read_text(encoding="utf-8")):
        # a [model] part scores the files the notebook saved (cnn: its weights, and its checkpoints
        # replayed under the same setting)
        result = grade_notebook(Path(notebook), mode="submit", files_from_notebook=True)
        results[label] = {
            "score": result.score, "max_score": result.max_score,
            "tests": {t.name: [t.status, t.score] for t in result.tests},
            "messages": {t.name: t.message for t in result.tests if t.message},
            "cells": [c.status for c in result.cells], "seconds": result.duration,
            "cell_seconds": round(sum(c.duration for c in result.cells), 2),
        }
    Path(out_path).write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
