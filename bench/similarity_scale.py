"""How long `grade similarity`'s comparison takes for a large class (no gradebook, no page).

    .venv/bin/python bench/similarity_scale.py [--students 300]

Builds a class from the independent backprop solutions of tests/similarity_class.py (each
student a shuffled two-thirds of one author's code, so pairs share varying amounts) and times
fingerprinting plus all-pairs comparison. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=300)
    args = ap.parse_args()
    import similarity_class as sc

    from grader.report.similarity import compare_class, notebook_code

    bodies = [notebook_code(sc.author_notebook(a)) for a in ["ref", "functional", "verbose", "loops", "terse"]]
    rnd = random.Random(0)
    codes = {}
    for i in range(args.students):
        lines = rnd.choice(bodies).splitlines()
        rnd.shuffle(lines)
        codes[f"s{i:03d}"] = "\n".join(lines[: len(lines) * 2 // 3])
    starter = notebook_code(sc.STARTER.read_bytes())
    started = time.perf_counter()
    report = compare_class("backprop", codes, starter)
    elapsed = time.perf_counter() - started
    pairs = args.students * (args.students - 1) // 2
    print(f"{args.students} students, {pairs} pairs ({len(report.pairs)} with anything in common): "
          f"{elapsed:.1f} s, {sum(p.flagged for p in report.pairs)} flagged")


if __name__ == "__main__":
    main()
