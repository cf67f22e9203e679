"""How fast is `grade check`? Wall time of the real CLI, a fresh process per run.

    .venv/bin/python bench/check_speed.py              # 10 runs of each command (make bench)
    .venv/bin/python bench/check_speed.py --runs 3
    .venv/bin/python bench/check_speed.py --profile    # where one `grade check` spends its time

Timed commands, interleaved round by round after one untimed warm-up each:

  check   grade check NB --out TMP       (public tests only; the target is < 3 s wall)
  submit  grade submit NB --out TMP      (public + hidden tests)
  bare    python -c '<exec NB's code cells>'   (the notebook's own work and nothing else)

Prints median/min/max per command and each median's ratio to the bare run's, and writes
bench/results/check_speed.json (not committed). `--profile` instead runs one `grade check`
under `python -X importtime` and prints the 15 slowest imports, then one instrumented
`grade check` in a fresh process that times each stage of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NOTEBOOK = REPO / "assignments" / "backprop" / "solution.ipynb"
RESULTS = REPO / "bench" / "results" / "check_speed.json"
TARGET_SECONDS = 3.0

#: Runs the notebook's code cells in order in one namespace, from a folder holding data/.
BARE = """\
import json, sys
nb = json.load(open(sys.argv[1], encoding="utf-8"))
ns = {"__name__": "__main__"}
for i, cell in enumerate(nb["cells"]):
    if cell["cell_type"] == "code":
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        exec(compile(src, f"<cell {i}>", "exec"), ns)
"""


#: `--checkout DIR`: time that checkout's grader (its course, its templates) with this venv.
CHECKOUT: Path | None = None


def grade_argv() -> list[str]:
    """The installed `grade` console script next to this interpreter, else `python -m grader.cli`;
    with `--checkout`, this interpreter running that checkout's grader.cli."""
    if CHECKOUT is not None:
        code = f"import sys; sys.path.insert(0, {str(CHECKOUT)!r}); from grader.cli import main; main()"
        return [sys.executable, "-c", code]
    script = Path(sys.executable).with_name("grade")
    return [str(script)] if script.exists() else [sys.executable, "-m", "grader.cli"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONIMPORTTIME")}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the descendants it reaped)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"check_speed: {' '.join(argv)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed, _children_cpu() - cpu


def prepare_workdir(work: Path, assignment: str) -> None:
    """The bare run reads data/<name>_train.npz like the notebook does in the sandbox."""
    proc = subprocess.run([*grade_argv(), "data", assignment, str(work / "data")], env=clean_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"check_speed: grade data {assignment} failed:\n{proc.stderr}")


def assignment_of(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("dlgrade", {}).get("assignment", "backprop")


def summarize(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def benchmark(notebook: Path, runs: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as tmp:
        work = Path(tmp)
        prepare_workdir(work, assignment_of(notebook))
        commands = {
            "check": [*grade_argv(), "check", str(notebook), "--out", str(work / "check-out")],
            "submit": [*grade_argv(), "submit", str(notebook), "--out", str(work / "submit-out")],
            "bare": [sys.executable, "-c", BARE, str(notebook)],
        }
        load_before = os.getloadavg()
        for _ in range(warmup):
            for argv in commands.values():
                run_once(argv, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(runs):
            for name, argv in commands.items():
                wall, used = run_once(argv, work)
                times[name].append(wall)
                cpu[name].append(used)
            print(f"  round {i + 1}/{runs}: " + "  ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items()),
                  file=sys.stderr)
        load_after = os.getloadavg()
    bare = statistics.median(times["bare"])
    report = {
        "notebook": str(notebook.relative_to(REPO) if notebook.is_relative_to(REPO) else notebook),
        "runs": runs,
        "warmup": warmup,
        "target_check_seconds": TARGET_SECONDS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_before": load_before,
                    "loadavg_after": load_after},
        "commands": {},
    }
    for name, argv in commands.items():
        stats = summarize(times[name])
        stats["ratio_to_bare"] = stats["median"] / bare if bare else float("nan")
        stats["cpu_median"] = statistics.median(cpu[name])
        report["commands"][name] = {"argv": [Path(argv[0]).name, *argv[1:2]], **stats,
                                    "times": [round(t, 4) for t in times[name]],
                                    "cpu_times": [round(t, 4) for t in cpu[name]]}
    report["check_under_target"] = report["commands"]["check"]["median"] < TARGET_SECONDS
    return report


def print_report(report: dict) -> None:
    m = report["machine"]
    print(f"{report['notebook']}: {report['runs']} runs each, {m['cpus']} CPUs, "
          f"load average {m['loadavg_before'][0]:.2f} -> {m['loadavg_after'][0]:.2f}")
    print(f"{'command':8} {'median':>8} {'min':>8} {'max':>8} {'x bare':>7} {'CPU median':>11}")
    for name, c in report["commands"].items():
        print(f"{name:8} {c['median']:7.2f}s {c['min']:7.2f}s {c['max']:7.2f}s {c['ratio_to_bare']:6.1f}x "
              f"{c['cpu_median']:10.2f}s")
    print("(wall times; CPU = user + system of the command and the processes it waited for, "
          "which a busy machine does not inflate as much)")
    verdict = "under" if report["check_under_target"] else "ABOVE"
    print(f"grade check median {report['commands']['check']['median']:.2f} s: {verdict} the "
          f"{report['target_check_seconds']:g} s target")


# --------------------------------------------------------------------------- --profile


def import_times(notebook: Path, top: int) -> None:
    """One `grade check` under -X importtime; the slowest imports, cumulative and self."""
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "grader.cli", "check", str(notebook),
             "--out", str(Path(tmp) / "out")],
            cwd=tmp, env=clean_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"check_speed: grade check failed:\n{proc.stderr[-2000:]}")
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        rows.append((int(self_us), int(cumulative_us), name.strip()))
    total = sum(r[0] for r in rows)
    print(f"imports in the judge process: {len(rows)} modules, {total / 1e6:.2f} s in all "
          "(the worker's imports happen in its own process and are not counted here)")
    for title, key in (("cumulative", 1), ("self", 0)):
        print(f"\n{top} slowest imports by {title} time:")
        print(f"{'cumulative':>11} {'self':>8}  module")
        for self_us, cum_us, name in sorted(rows, key=lambda r: r[key], reverse=True)[:top]:
            print(f"{cum_us / 1e6:10.3f}s {self_us / 1e6:7.3f}s  {name}")


#: Runs inside a fresh interpreter (`--stages-child`): one `grade check` with each stage timed.
def stages_child(notebook: Path) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    stages: dict[str, list[float]] = {}  # label -> [wall, CPU of this process]

    def add(label: str, wall: float, cpu: float) -> None:
        acc = stages.setdefault(label, [0.0, 0.0])
        acc[0] += wall
        acc[1] += cpu

    def timed(label: str, fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                add(label, time.perf_counter() - start, time.process_time() - cpu)
        return wrapper

    def import_stage(label: str, module: str) -> None:
        timed(label, __import__)(module)

    # The CLI imports these lazily, in this order; importing them up front moves no work around.
    import_stage("import grader.cli (click)", "grader.cli")
    import_stage("import grader.judge.pipeline (numpy, sandbox, session)", "grader.judge.pipeline")
    import_stage("import grader.judge.pytest_plugin (pytest)", "grader.judge.pytest_plugin")
    import_stage("import grader.feedback", "grader.feedback")
    for module in ("jinja2", "mistune", "pygments.lexers.python", "nh3"):
        import_stage(f"import {module} (the feedback page imports it)", module)
    from grader import cli, feedback
    from grader.judge import pipeline as judge
    from grader.judge import pytest_plugin, results, session

    judge.prepare = timed("read + validate notebook, load assignment", judge.prepare)
    judge.datasets.write_public = timed("write public data files", judge.datasets.write_public)
    session.WorkerSession._start = timed("start worker (spawn, sandbox, worker imports, setup)",
                                         session.WorkerSession._start)
    session.WorkerSession._exec = timed("run notebook cells in the worker", session.WorkerSession._exec)
    pytest_plugin.run_tests = timed("run tests (pytest start-up, collection, calls)", pytest_plugin.run_tests)
    session.WorkerSession.close = timed("stop worker", session.WorkerSession.close)
    results.GradingResult.write = timed("write result.json", results.GradingResult.write)
    feedback.build_feedback = timed("render feedback.html (grader.feedback.build_feedback)",
                                    feedback.build_feedback)
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as tmp:
        saved = sys.stderr
        sys.stderr = open(os.devnull, "w")
        try:
            cli.main(["check", str(notebook), "--out", str(Path(tmp) / "out")], standalone_mode=False)
        finally:
            sys.stderr.close()
            sys.stderr = saved
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    add("other (in-process, not in a stage above)", total - sum(w for w, _ in stages.values()),
        total_cpu - sum(c for _, c in stages.values()))
    print(json.dumps({"total_in_process": total, "cpu_in_process": total_cpu, "stages": stages}))


def stage_times(notebook: Path) -> None:
    startup = []
    for code in ("pass", "import numpy"):
        ts = [run_once([sys.executable, "-c", code], REPO)[0] for _ in range(3)]
        startup.append((f"python -c '{code}'", statistics.median(ts)))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stages-child", str(notebook)],
                          env=clean_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"check_speed: the instrumented run failed:\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nstages of one instrumented `grade check` (fresh process, {wall:.2f} s wall, "
          f"load average {os.getloadavg()[0]:.2f}):")
    print(f"{'wall':>8} {'judge CPU':>10}  stage")
    for label, (seconds, cpu) in data["stages"].items():
        print(f"{seconds:7.3f}s {cpu:9.3f}s  {label}")
    print(f"{wall - data['total_in_process']:7.3f}s {'':>10}  interpreter start-up and exit "
          f"(python -c 'pass' alone: {startup[0][1]:.3f} s)")
    print(f"for scale: {startup[1][0]} takes {startup[1][1]:.3f} s wall (median of 3); "
          "worker-side stages show only the judge's CPU, the worker's is its own")


# --------------------------------------------------------------------------- main


def finish(report: dict, out: Path, show: Callable[[dict], None]) -> int:
    """Print `report` with `show` and write it to `out` as JSON (the bench scripts' last step)."""
    show(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per command first (default 1)")
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="notebook to grade")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing: the 15 slowest imports of one `grade check`, "
                             "and its stages")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="time another checkout's grader (e.g. a worktree of an older commit) with this venv")
    parser.add_argument("--stages-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global CHECKOUT
    CHECKOUT = args.checkout.resolve() if args.checkout else None
    notebook = args.notebook.resolve()
    if args.stages_child:
        stages_child(args.stages_child)
        return 0
    if args.profile:
        import_times(notebook, 15)
        stage_times(notebook)
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return finish(benchmark(notebook, args.runs, args.warmup), args.out, print_report)


if __name__ == "__main__":
    sys.exit(main())
