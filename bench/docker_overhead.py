"""Per-submission overhead of the sandboxes: docker vs process vs a bare `python` run.

    python bench/docker_overhead.py [--runs 10] [--grade]

Each run executes the same code three ways and times it end to end:

- bare:    `python -c <the notebook's code cells>` in a subprocess, no sandbox, no judge
           (one BLAS thread, as in the sandboxes);
- process: a judge session on the process sandbox (bubblewrap) running the cells, then closed;
- docker:  the same session on the docker sandbox (container start, connect, run, remove).

The notebook is the backprop example submission. With --grade, whole `grade()` calls
(cells and all public and hidden tests) are timed for process and docker as well. Medians
and ratios are printed (one JSON object at the end too); nothing is asserted: it is a record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course import datasets  # noqa: E402
from grader.course.assignment import load_assignment  # noqa: E402
from grader.course.notebook import code_cells, read_notebook  # noqa: E402
from grader.judge.pipeline import grade, worker_spec  # noqa: E402
from grader.judge.session import WorkerSession  # noqa: E402
from grader.sandbox import get_backend  # noqa: E402

ASSIGNMENT = load_assignment("backprop")
NOTEBOOK = ASSIGNMENT.root / "examples" / "submission.ipynb"
WORK = Path(tempfile.mkdtemp(prefix="dlgrade-bench-"))
DATA = WORK / "data"  # the public data, as the sandboxes mount it at ./data


def time_bare(source: str) -> float:
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}  # as the sandboxes run it (one thread)
    proc = subprocess.run([sys.executable, "-s", "-c", source], capture_output=True, text=True, timeout=600,
                          cwd=WORK, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bare run failed: {proc.stderr[-2000:]}")
    return elapsed


def time_session(sandbox: str, nb: dict) -> float:
    backend = get_backend(sandbox)
    t0 = time.perf_counter()
    session = WorkerSession(backend, worker_spec(ASSIGNMENT, DATA), code_cells(nb),
                            forbidden=ASSIGNMENT.forbidden_imports)
    try:
        runs = session.run_notebook()
    finally:
        session.close()
    elapsed = time.perf_counter() - t0
    bad = [r for r in runs if r.status not in ("ok", "error")]
    if bad:
        raise SystemExit(f"{sandbox}: cells did not run: {[(r.index, r.status, r.message) for r in bad]}")
    return elapsed


def time_grade(sandbox: str, nb: dict) -> float:
    t0 = time.perf_counter()
    result = grade(nb, ASSIGNMENT, sandbox=sandbox)
    elapsed = time.perf_counter() - t0
    if not result.tests:
        raise SystemExit(f"{sandbox}: no tests ran")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--grade", action="store_true", help="also time whole grade() calls")
    args = parser.parse_args()

    datasets.write_public(ASSIGNMENT.datasets, DATA)
    nb = read_notebook(NOTEBOOK)
    cells = code_cells(nb)
    source = "\n".join(c.source for c in cells)
    times: dict[str, list[float]] = {"bare": [], "process": [], "docker": []}
    if args.grade:
        times.update({"grade_process": [], "grade_docker": []})
    # one warm-up of each, not counted (page cache, image layers, imports)
    time_bare(source)
    time_session("process", nb)
    time_session("docker", nb)
    for i in range(args.runs):
        times["bare"].append(time_bare(source))
        times["process"].append(time_session("process", nb))
        times["docker"].append(time_session("docker", nb))
        if args.grade:
            times["grade_process"].append(time_grade("process", nb))
            times["grade_docker"].append(time_grade("docker", nb))
        print(f"run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{NOTEBOOK.name}: {len(cells)} code cells; median of {args.runs} runs "
          f"({platform.node()}, {platform.machine()}, python {platform.python_version()})")
    for k, v in med.items():
        print(f"  {k:14} {v:6.2f} s   (min {min(times[k]):.2f}, max {max(times[k]):.2f})")
    ratios = {
        "docker/bare": med["docker"] / med["bare"],
        "process/bare": med["process"] / med["bare"],
        "docker/process": med["docker"] / med["process"],
    }
    overhead = {"docker-bare": med["docker"] - med["bare"], "process-bare": med["process"] - med["bare"]}
    if args.grade:
        ratios["grade docker/process"] = med["grade_docker"] / med["grade_process"]
    for k, v in ratios.items():
        print(f"  ratio {k:22} {v:5.2f}x")
    for k, v in overhead.items():
        print(f"  overhead {k:19} {v:+5.2f} s per submission")
    print(json.dumps({"runs": args.runs, "median_s": med, "ratios": ratios, "overhead_s": overhead}))


if __name__ == "__main__":
    main()
