"""Throughput of the batch engines on one class: local pool -j1/-j2, Dask LocalCluster, Slurm.

    .venv/bin/python bench/cluster_scaling.py [--students 40] [--slurm] [--out bench/cluster_scaling.json]

Grades the same generated class of correct backprop submissions (distinct bytes, so nothing
is "unchanged") with each engine into its own fresh gradebook, and reports submissions per
minute, the per-submission overhead of each engine over the local pool at the same
parallelism, and the time to the first result (from the gradebook's graded_at stamps).
`--slurm` also runs `--cluster slurm` with 2 jobs (needs tests/services/slurm-up.sh first).
Numbers, not assertions: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def run(folder: Path, work: Path, name: str, *extra: str) -> dict:
    from grader.gradebook.api import Gradebook

    db = f"sqlite:///{work / (name + '.db')}"
    started = time.monotonic()
    wall_start = time.time()
    r = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(folder), "--assignment", "backprop",
                        "--db", db, "--out", str(work / f"{name}-out"), "--json", *extra],
                       capture_output=True, text=True, timeout=3600)
    elapsed = time.monotonic() - started
    if r.returncode:
        raise SystemExit(f"{name}: grade batch failed: {r.stderr[-2000:]}")
    summary = json.loads(r.stdout)
    gb = Gradebook.open(db)
    try:
        stamps = sorted(row.graded_at.timestamp() for row in gb.students("backprop") if row.graded_at)
    finally:
        gb.dispose()
    first = (stamps[0] - wall_start) if stamps else float("nan")
    n = summary["graded"] + summary["invalid"] + summary["error"]
    return {"engine": name, "submissions": n, "seconds": round(elapsed, 2),
            "per_minute": round(60 * n / elapsed, 1), "first_result_s": round(first, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--slurm", action="store_true", help="also grade through --cluster slurm (2 jobs)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    from batch_class import small_class, write_folder

    work = Path(tempfile.mkdtemp(prefix="dlgrade-cluster-bench-"))
    folder = write_folder(work / "class", small_class(args.students))
    rows = [run(folder, work, "pool-j1", "-j", "1"), run(folder, work, "pool-j2", "-j", "2"),
            run(folder, work, "dask-local-2", "--cluster", "local:2")]
    if args.slurm:
        cfg = work / "cluster.toml"
        cfg.write_text(f'[cluster.slurm]\nqueue = "debug"\ncores = 1\nmemory = "3GB"\njobs = 2\n'
                       f'python = "{sys.executable}"\ninterface = "lo"\nlog_directory = "{work / "logs"}"\n')
        rows.append(run(folder, work, "slurm-2", "--cluster", "slurm", "--cluster-config", str(cfg)))
    base = next(r for r in rows if r["engine"] == "pool-j2")
    for r in rows:
        per = r["seconds"] / r["submissions"]
        ref = (base if r["engine"] != "pool-j1" else r)["seconds"] / base["submissions"]
        r["overhead_vs_pool_same_j"] = round(per / ref - 1, 3)
    print(f"{'engine':14s} {'subs':>5s} {'seconds':>8s} {'subs/min':>9s} {'first (s)':>9s} {'vs pool -j2':>11s}")
    for r in rows:
        print(f"{r['engine']:14s} {r['submissions']:5d} {r['seconds']:8.1f} {r['per_minute']:9.1f} "
              f"{r['first_result_s']:9.1f} {100 * r['overhead_vs_pool_same_j']:+10.1f}%")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
