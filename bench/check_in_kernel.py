"""How long `check()` takes on backprop's public tests inside a warm Jupyter kernel (target: 0.3 s).

    .venv/bin/python bench/check_in_kernel.py [--runs 20]

Builds backprop's kit into a temporary folder, starts a real ipykernel there (jupyter_client),
runs the solution notebook's code cells, calls `check()` once untimed (imports pytest and the
judge's plugin), then times `--runs` calls of `check()` inside the kernel (perf_counter around
the call, display included). Prints the median, min and max, and the machine's load average:
on a shared machine the numbers move with its load. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMED = """
import time as _t
from grader import check as _check
_s = _t.perf_counter(); _check(); _e = _t.perf_counter() - _s
print("ELAPSED", _e)
"""


def _run(client, code: str) -> str:
    """Execute `code` in the kernel; its stdout (raises on an error)."""
    out = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    client.execute_interactive(code, timeout=600, output_hook=hook)
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    from jupyter_client.manager import start_new_kernel

    from grader.course.assignment import load_assignment
    from grader.kit.build import write_kit

    spec = load_assignment("backprop", ROOT)
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as tmp:
        kit = write_kit(spec, Path(tmp) / "backprop")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        km, client = start_new_kernel(kernel_name="python3", cwd=str(kit), env=env)
        try:
            nb = json.loads(spec.solution.read_text(encoding="utf-8"))
            for cell in nb["cells"]:
                if cell["cell_type"] == "code":
                    _run(client, "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"])
            _run(client, TIMED)  # warm-up
            times = []
            for _ in range(args.runs):
                text = _run(client, TIMED)
                times.append(float(text.split("ELAPSED")[-1].split()[0]))
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)
    load = os.getloadavg()
    print(f"check() on backprop's public tests in a warm kernel, {args.runs} runs: median "
          f"{statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s "
          f"(target 0.3 s; {os.cpu_count()} CPUs, load average {load[0]:.1f})")


if __name__ == "__main__":
    main()
