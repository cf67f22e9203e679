"""How long does the feedback page take? Cold (fresh process: imports + first render) and warm.

    .venv/bin/python bench/feedback_render.py [--runs 20]

Pages: the hostile notebook of tests/test_feedback.py (XSS vectors, ANSI, HTML and markdown
outputs), and assignments/backprop/solution.ipynb with one stdout output per code cell.
Prints medians (wall and CPU) of 5 first renders in fresh processes (the page's lazy imports
included: jinja2, and mistune, pygments and nh3, or nbconvert in older checkouts) and of
`--runs` warm renders. Run it from any checkout
(PYTHONPATH decides which grader.feedback is timed), so two versions can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1] + "/tests")
from grader import feedback as fb
from grader.judge.results import CellRun
from test_feedback import NOW, TEMPLATES, hostile_notebook, make_result
nb = json.load(open(sys.argv[1] + "/assignments/backprop/solution.ipynb"))
solution = make_result(cells=tuple(CellRun(i, "ok", 0.01, ({"output_type": "stream", "name": "stdout",
                                                             "text": "loss 0.25\n" * 20},))
                                   for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"))
pages = {"hostile": (make_result(), hostile_notebook()), "solution": (solution, nb)}
out = sys.argv[2]
runs = int(sys.argv[3])
which = sys.argv[4]
result, notebook = pages[which]
t0, c0 = time.perf_counter(), time.process_time()
fb.render_feedback(result, notebook, __import__("pathlib").Path(out), templates=TEMPLATES, now=NOW)
cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
warm, warm_cpu = [], []
for _ in range(runs):
    t, c = time.perf_counter(), time.process_time()
    fb.render_feedback(result, notebook, __import__("pathlib").Path(out), templates=TEMPLATES, now=NOW)
    warm.append(time.perf_counter() - t)
    warm_cpu.append(time.process_time() - c)
import grader; assert grader.__file__.startswith(sys.argv[1]), grader.__file__
print(json.dumps({"cold": cold, "cold_cpu": cold_cpu, "warm": warm, "warm_cpu": warm_cpu}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose grader.feedback is timed")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.repo)}
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("hostile", "solution"):
            colds, warms, cold_cpu, warm_cpu = [], [], [], []
            for i in range(5):
                proc = subprocess.run([sys.executable, "-c", CHILD, str(args.repo), f"{tmp}/p.html",
                                       str(args.runs if i == 0 else 0), which],
                                      env=env, cwd=args.repo, capture_output=True, text=True, check=True)
                data = json.loads(proc.stdout.strip().splitlines()[-1])
                colds.append(data["cold"])
                cold_cpu.append(data["cold_cpu"])
                warms += data["warm"]
                warm_cpu += data["warm_cpu"]
            size = Path(f"{tmp}/p.html").stat().st_size
            ms = lambda xs: f"{statistics.median(xs) * 1000:6.1f} ms"  # noqa: E731
            print(f"{which:9} first render (lazy imports included): wall {ms(colds)}, CPU {ms(cold_cpu)}; "
                  f"warm ({len(warms)} renders): wall {ms(warms)}, CPU {ms(warm_cpu)}; page {size / 1000:.0f} kB; "
                  f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    t = time.perf_counter()
    rc = main()
    sys.exit(rc)
