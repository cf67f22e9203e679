"""Shared pieces of the suites that attack the judge itself (replies, budgets, attribution).

`forge_cell` writes raw frames onto the worker's channel from inside student code, as a
determined student can: the Worker object and its socket are in the student's own process.
`grade_cli` grades through the real command line in a child process and measures what the
acceptance asks for: the result file, the exit code, stderr (no traceback), the judge's peak
memory (its own RSS, not the worker's) and the wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: A marker put in the judge's environment as the course secret: it must never reach a result.
SECRET = "dlgrade-test-secret-8b1f0c"

_FIND_WORKER = ("import gc, json, struct, time\n"
                "_w = next(o for o in gc.get_objects() if type(o).__name__ == 'Worker' and hasattr(o, 'sock'))\n")

_RUNNER = """
import os, resource, sys
from grader.cli import main
try:
    main(sys.argv[1:], prog_name="grade")
finally:
    with open(os.environ["DLGRADE_TEST_RSS"], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def forge_cell(header: bytes | str, tail: bytes = b"", then: str = "") -> str:
    """Cell source that sends one raw frame (`header` as the JSON body, then `tail`) and runs `then`."""
    body = header.encode() if isinstance(header, str) else header
    return (_FIND_WORKER + f"_body = {body!r}\n"
            f"_w.sock.sendall(struct.pack('>I', len(_body)) + _body + {tail!r})\n" + then)


def forge_function(name: str, header: bytes | str, then: str = "return None") -> str:
    """A function `name` that, when a test calls it, sends one raw frame before answering."""
    body = header.encode() if isinstance(header, str) else header
    return (_FIND_WORKER + f"def {name}(*args, **kwargs):\n"
            f"    _body = {body!r}\n"
            f"    _w.sock.sendall(struct.pack('>I', len(_body)) + _body)\n"
            f"    {then}\n")


def forge_ok_cell(then: str) -> str:
    """Cell source that answers its own exec request with a forged "ok" (right sequence number), then runs `then`."""
    return (_FIND_WORKER + "import sys\n"
            "_f = sys._getframe()\n"
            "while 'msg' not in _f.f_locals:\n    _f = _f.f_back\n"
            "_body = json.dumps({'ok': True, 'status': 'ok', 'message': '', 'outputs': [],"
            " 'seq': _f.f_locals['msg']['seq']}).encode()\n"
            "_w.sock.sendall(struct.pack('>I', len(_body)) + _body)\n" + then)


@dataclass(frozen=True)
class CliRun:
    """One `grade` command run in a child process."""

    rc: int
    stdout: str
    stderr: str
    result: dict | None  # result.json, when written
    result_bytes: int
    judge_rss_mb: float  # peak RSS of the judge process itself
    wall: float


def grade_cli(nb: dict, tmp: Path, *args: str, mode: str = "submit", timeout: float = 120) -> CliRun:
    """`grade MODE NB --out DIR ARGS` in a child process; see the module docstring."""
    tmp.mkdir(parents=True, exist_ok=True)
    path, out, rss = tmp / "nb.ipynb", tmp / "out", tmp / "rss"
    path.write_text(json.dumps(nb))
    env = {**os.environ, "DLGRADE_TEST_RSS": str(rss), "GRADER_SECRET": SECRET}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, mode, str(path), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.monotonic() - started
    result_path = out / "result.json"
    data = result_path.read_bytes() if result_path.exists() else b""
    return CliRun(proc.returncode, proc.stdout, proc.stderr, json.loads(data) if data else None,
                  len(data), int(rss.read_text() or 0) / 1024 if rss.exists() else 0.0, wall)


def assert_graded_safely(run: CliRun, honest_score: float, *, wall: float, result_bytes: int = 2_000_000,
                         judge_rss_mb: float = 1024) -> dict:
    """The acceptance for every attack: one result, no forged points, bounded, nothing leaked."""
    assert run.rc == 0, (run.rc, run.stderr[-2000:])
    assert run.result is not None, "no result.json was written"
    assert run.result["score"] <= honest_score, run.result["score"]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.wall < wall, f"took {run.wall:.1f} s (bound {wall} s)"
    assert run.result_bytes < result_bytes, f"result.json is {run.result_bytes} bytes (bound {result_bytes})"
    assert run.judge_rss_mb < judge_rss_mb, f"judge peak RSS {run.judge_rss_mb:.0f} MiB (bound {judge_rss_mb})"
    text = json.dumps(run.result)
    for leak in (SECRET, "tests/hidden", "reference/"):
        assert leak not in text and leak not in run.stderr, leak
    assert "Traceback (most recent call last)" not in text
    return run.result
