"""How fast is the student loop on a tiny assignment? `grade check` / `grade submit` of three tests.

    .venv/bin/python bench/check_tiny.py               # 10 interleaved runs of each command
    .venv/bin/python bench/check_tiny.py --runs 5
    .venv/bin/python bench/check_tiny.py --profile     # -X importtime of one `grade check`
    .venv/bin/python bench/check_tiny.py --checkout /tmp/old   # an older checkout, same venv

The course is built in a temporary folder: one assignment `tiny` (three numpy functions, three
public tests, one hidden test, no datasets) and a copy of this checkout's templates/. What is
left is the grader's own fixed cost: interpreter start, imports, the sandboxed worker's start,
pytest, result.json and the feedback page. The target is a median `grade check` of at most
0.5 s wall on a 2-core machine. Results go to bench/results/check_tiny.json (not committed).
Not a test: wall times depend on the machine and its load (the load average is printed).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_speed import REPO, clean_env, finish, grade_argv, run_once  # noqa: E402

RESULTS = REPO / "bench" / "results" / "check_tiny.json"
TARGET_SECONDS = 0.5

TOML = """\
id = "tiny"
title = "Three small functions"
forbidden_imports = ["torch"]
"""

PUBLIC_TESTS = '''\
import numpy as np
import pytest


@pytest.mark.points(1)
def test_relu(submission):
    """relu is max(0, x)."""
    out = submission.relu(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(out, [0.0, 0.0, 2.0], rtol=0, atol=0)


@pytest.mark.points(1)
def test_square(submission):
    """square squares each entry."""
    out = submission.square(np.array([1.0, -3.0]))
    np.testing.assert_allclose(out, [1.0, 9.0], rtol=1e-12, atol=0)


@pytest.mark.points(1)
def test_mean(submission):
    """mean is the mean over all entries."""
    assert abs(submission.mean(np.arange(4.0)) - 1.5) <= 1e-12
'''

HIDDEN_TESTS = '''\
import numpy as np
import pytest


@pytest.mark.points(1)
def test_relu_negative(submission):
    out = submission.relu(-np.ones(5))
    np.testing.assert_allclose(out, np.zeros(5), rtol=0, atol=0)
'''

CELLS = [
    ("markdown", "# Three small functions\n\nWrite `relu`, `square` and `mean`."),
    ("code", "import numpy as np"),
    ("code", "def relu(x):\n    return np.maximum(0.0, x)"),
    ("code", "def square(x):\n    return x * x"),
    ("code", "def mean(x):\n    return float(np.mean(x))"),
]


def notebook() -> dict:
    cells = []
    for kind, src in CELLS:
        cell = {"cell_type": kind, "metadata": {}, "source": src}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"dlgrade": {"assignment": "tiny"},
                         "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}


def build_course(root: Path, checkout: Path = REPO) -> Path:
    """A course folder holding only the tiny assignment; returns the notebook to grade."""
    tiny = root / "assignments" / "tiny"
    (tiny / "tests" / "public").mkdir(parents=True)
    (tiny / "tests" / "hidden").mkdir(parents=True)
    (tiny / "assignment.toml").write_text(TOML, encoding="utf-8")
    (tiny / "tests" / "public" / "test_tiny.py").write_text(PUBLIC_TESTS, encoding="utf-8")
    (tiny / "tests" / "hidden" / "test_tiny_hidden.py").write_text(HIDDEN_TESTS, encoding="utf-8")
    (root / "reference").mkdir()
    shutil.copytree(checkout / "templates", root / "templates")
    nb = root / "work" / "tiny.ipynb"
    nb.parent.mkdir()
    text = json.dumps(notebook(), indent=1) + "\n"
    (tiny / "solution.ipynb").write_text(text, encoding="utf-8")
    nb.write_text(text, encoding="utf-8")
    return nb


def cli_argv(checkout: Path | None) -> list[str]:
    """The `grade` script, or this interpreter running another checkout's grader.cli."""
    if checkout is None:
        return grade_argv()
    code = f"import sys; sys.path.insert(0, {str(checkout)!r}); from grader.cli import main; main()"
    return [sys.executable, "-c", code]


def benchmark(runs: int, warmup: int, checkout: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="dlgrade-tiny-") as tmp:
        root = Path(tmp)
        nb = build_course(root, checkout or REPO)
        course = ["--course", str(root)]
        grade = cli_argv(checkout)
        commands = {
            "check": [*grade, "check", str(nb), "--out", str(root / "check-out"), *course],
            "submit": [*grade, "submit", str(nb), "--out", str(root / "submit-out"), *course],
            "python": [sys.executable, "-c", "import numpy"],
        }
        load_before = os.getloadavg()
        for _ in range(max(warmup, 1)):  # at least one: the check below reads its result
            for argv in commands.values():
                run_once(argv, nb.parent)
        result = json.loads((root / "check-out" / "result.json").read_text(encoding="utf-8"))
        if (result["score"], result["max_score"]) != (3, 3):
            sys.exit(f"check_tiny: the tiny solution scored {result['score']}/{result['max_score']}, not 3/3: "
                     f"{result.get('errors')}")
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(runs):
            for name, argv in commands.items():
                wall, used = run_once(argv, nb.parent)
                times[name].append(wall)
                cpu[name].append(used)
            print(f"  round {i + 1}/{runs}: " + "  ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()),
                  file=sys.stderr)
        load_after = os.getloadavg()
    report = {"runs": runs, "warmup": warmup, "target_check_seconds": TARGET_SECONDS,
              "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": load_after,
              "commands": {}}
    for name in commands:
        report["commands"][name] = {"median": statistics.median(times[name]), "min": min(times[name]),
                                    "max": max(times[name]), "cpu_median": statistics.median(cpu[name]),
                                    "times": [round(t, 4) for t in times[name]]}
    report["check_under_target"] = report["commands"]["check"]["median"] <= TARGET_SECONDS
    return report


def print_report(report: dict) -> None:
    print(f"tiny assignment (3 public tests, 1 hidden): {report['runs']} runs each, {report['cpus']} CPUs, "
          f"load average {report['loadavg_before'][0]:.2f} -> {report['loadavg_after'][0]:.2f}")
    print(f"{'command':8} {'median':>8} {'min':>8} {'max':>8} {'CPU median':>11}")
    for name, c in report["commands"].items():
        print(f"{name:8} {c['median']:7.3f}s {c['min']:7.3f}s {c['max']:7.3f}s {c['cpu_median']:10.3f}s")
    verdict = "within" if report["check_under_target"] else "ABOVE"
    print(f"grade check median {report['commands']['check']['median']:.3f} s: {verdict} the "
          f"{report['target_check_seconds']:g} s target ('python' is `python -c 'import numpy'`, for scale)")


def import_profile(top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dlgrade-tiny-") as tmp:
        root = Path(tmp)
        nb = build_course(root)
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader.cli", "check", str(nb),
                               "--out", str(root / "out"), "--course", str(root)],
                              cwd=nb.parent, env=clean_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"check_tiny: grade check failed:\n{proc.stderr[-2000:]}")
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            self_us, cum_us, name = line[len("import time:"):].split("|", 2)
            rows.append((int(self_us), int(cum_us), name.rstrip()))
    print(f"imports in the judge process: {len(rows)} modules, {sum(r[0] for r in rows) / 1e6:.3f} s")
    print(f"{'cumulative':>11}  top-level module")
    tops = [r for r in rows if not r[2].startswith("  ")]
    for _, cum_us, name in sorted(tops, key=lambda r: r[1], reverse=True)[:top]:
        print(f"{cum_us / 1e6:10.3f}s  {name.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per command first (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="time another checkout's grader (e.g. a worktree of an older commit) with this venv")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing: the slowest top-level imports of one `grade check`")
    args = parser.parse_args(argv)
    if args.profile:
        import_profile(20)
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return finish(benchmark(args.runs, args.warmup, args.checkout.resolve() if args.checkout else None), args.out,
                  print_report)


if __name__ == "__main__":
    sys.exit(main())
