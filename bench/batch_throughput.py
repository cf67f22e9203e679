"""How fast does `grade batch` grade a class? Submissions per minute at -j 1 and -j 2, and the
per-submission cost against a standalone `grade submit` and a bare `python` run of the notebook.

    .venv/bin/python bench/batch_throughput.py                 # 40 submissions, 3 standalone runs
    .venv/bin/python bench/batch_throughput.py --students 60 --runs 5

The class: the backprop solution, copies of it with a student's own markdown cell, its correct
alternatives and its one-mistake variants (tests/batch_class.py), no hostile or malformed ones
(their time limits would dominate). Each `grade batch` is the real CLI on a fresh gradebook,
timed from start to exit (start-up, intake, judge processes, every result written). The
standalone runs grade the solution with `grade submit`, a fresh process each, as a loop over a
class would; the bare run execs the solution's code cells with `python` and nothing else.

Targets (issue 10): at -j 1 at most 60 % of a standalone `grade submit` per submission; -j 2 at
least 1.7x the throughput of -j 1 (on an otherwise idle machine with at least 2 cores: the load
average is printed; compare runs only at similar loads). Writes bench/results/batch_throughput.json
(not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = REPO / "bench" / "results" / "batch_throughput.json"

from check_speed import BARE, clean_env, grade_argv  # noqa: E402


def build(work: Path, n: int) -> Path:
    from batch_class import build_class, write_folder
    from test_backprop_variants import ALTERNATIVES, BUGS

    fixed = 1 + len(ALTERNATIVES) + len(BUGS)
    students = [s for s in build_class(work / "variants", n_copies=max(0, n - fixed))
                if s.kind in ("correct", "bug")][:n]
    folder = write_folder(work / "class", students)
    return folder


CPU: list[float] = []  # CPU seconds (user + system) of each timed command and what it reaped


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=40, help="class size (at least 40 for the issue's figures)")
    ap.add_argument("--runs", type=int, default=3, help="standalone grade submit / bare runs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dlgrade-bench-batch-"))
    try:
        folder = build(work, args.students)
        n = len(list(folder.iterdir()))
        out: dict = {"students": n, "cpus": os.cpu_count(), "load_before": os.getloadavg()}
        batch: dict[int, float] = {}
        cpu_batch: dict[int, float] = {}
        for jobs in (1, 2):
            seconds, r = timed([*grade_argv(), "batch", str(folder), "--assignment", "backprop", "-j", str(jobs),
                                "--db", f"sqlite:///{work / f'j{jobs}.db'}", "--out", str(work / f"out{jobs}"),
                                "--json"])
            if r.returncode:
                sys.exit(f"grade batch -j {jobs} failed: {r.stderr[-2000:]}")
            summary = json.loads(r.stdout)
            assert summary["graded"] == n, summary
            batch[jobs] = seconds
            cpu_batch[jobs] = CPU[-1]
            print(f"grade batch -j {jobs}: {n} submissions in {seconds:.1f} s = {60 * n / seconds:.1f} subs/min, "
                  f"{seconds / n:.2f} s per submission", flush=True)
        solution = REPO / "assignments" / "backprop" / "solution.ipynb"
        submit, bare, cpu_submit, cpu_bare = [], [], [], []
        data = work / "bare"
        subprocess.run([*grade_argv(), "data", "backprop", str(data / "data")], check=True, capture_output=True)
        shutil.copy(solution, data / "nb.ipynb")
        for k in range(args.runs):
            s, r = timed([*grade_argv(), "submit", str(solution), "--out", str(work / f"submit{k}"), "--json"])
            if r.returncode:
                sys.exit(f"grade submit failed: {r.stderr[-2000:]}")
            submit.append(s)
            cpu_submit.append(CPU[-1])
            b, r = timed([sys.executable, "-c", BARE, "nb.ipynb"], cwd=data)
            if r.returncode:
                sys.exit(f"bare run failed: {r.stderr[-2000:]}")
            bare.append(b)
            cpu_bare.append(CPU[-1])
        sub, bar = statistics.median(submit), statistics.median(bare)
        per1, per2 = batch[1] / n, batch[2] / n
        out.update({
            "batch_seconds": batch, "subs_per_min": {j: 60 * n / s for j, s in batch.items()},
            "per_submission": {"j1": per1, "j2": per2, "standalone_submit": sub, "bare_python": bar},
            "j1_vs_submit": per1 / sub, "j2_speedup": batch[1] / batch[2], "load_after": os.getloadavg(),
            "cpu_per_submission": {"j1": cpu_batch[1] / n, "j2": cpu_batch[2] / n,
                                   "standalone_submit": statistics.median(cpu_submit),
                                   "bare_python": statistics.median(cpu_bare)},
        })
        print(f"standalone grade submit: {sub:.2f} s (median of {len(submit)}); bare python: {bar:.2f} s")
        print(f"per submission at -j 1: {per1:.2f} s = {100 * per1 / sub:.0f} % of a standalone submit "
              f"(target <= 60 %), {per1 / bar:.1f}x bare python")
        print(f"-j 2 throughput: {batch[1] / batch[2]:.2f}x -j 1 (target >= 1.7x)")
        cpu = out["cpu_per_submission"]
        print(f"CPU per submission: -j 1 {cpu['j1']:.2f} s, -j 2 {cpu['j2']:.2f} s, standalone submit "
              f"{cpu['standalone_submit']:.2f} s ({100 * cpu['j1'] / cpu['standalone_submit']:.0f} %), bare python "
              f"{cpu['bare_python']:.2f} s (CPU moves less than wall on a shared machine)")
        print(f"load average before {out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f} "
              f"on {os.cpu_count()} cores")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
