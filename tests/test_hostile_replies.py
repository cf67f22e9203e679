"""Forged and malformed replies written onto the channel by student code (process sandbox).

Each attack gets one result (exit 0, result.json written), earns no more than honest work,
stays within the stated bounds (wall time, the judge's peak RSS, result.json size), leaks
nothing and prints no traceback. The starter earns 0, so any point on it would be forged; the
solution must keep its full marks, so the attack must not cost the cells and tests around it.
"""

from __future__ import annotations

from hostile_cases import FAST, SOLUTION, STARTER, with_cell
from judge_attacks import assert_graded_safely, forge_cell, forge_function, grade_cli

import grader.judge.pipeline
from grader.judge.pipeline import grade

FULL = 45.0  # backprop's points; the solution earns them all (tests/test_hostile.py checks it)
LIMITS = ("--limit", "cell_seconds=4", "--limit", "notebook_seconds=60", "--limit", "call_seconds=5")
#: Bounds for one graded attack: a backprop grading takes ~2-3 s here.
WALL_S, RESULT_BYTES, JUDGE_RSS_MB = 60, 2_000_000, 1024

MALFORMED = {
    "a 5000-digit integer": b'{"ok": true, "status": "ok", "outputs": [], "n": ' + b"9" * 5000 + b"}",
    "an unhashable dtype": b'{"ok": true, "status": "ok", "outputs": [], "arrays": [{"dtype": {"x": 1}, "shape": [1]}]}',
    "an empty array whose shape overflows": (
        b'{"ok": true, "status": "ok", "outputs": [], '
        b'"arrays": [{"dtype": "<f8", "shape": [0, 536870912, 536870912, 536870912]}]}'),
    "JSON nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}


def test_malformed_replies_in_cells_crash_only_those_cells(tmp_path):
    """One cell per kind of malformed reply (one grading keeps the suite fast)."""
    nb = SOLUTION
    for header in MALFORMED.values():
        nb = with_cell(nb, forge_cell(header, then="time.sleep(1)"))
    run = grade_cli(nb, tmp_path, *LIMITS, "--limit", f"max_restarts={len(MALFORMED)}")
    result = assert_graded_safely(run, FULL, wall=WALL_S, result_bytes=RESULT_BYTES, judge_rss_mb=JUDGE_RSS_MB)
    assert result["score"] == FULL, [(t["name"], t["message"]) for t in result["tests"] if t["status"] != "passed"]
    crashed = [c for c in result["cells"] if c["status"] == "crashed"]
    assert len(crashed) == len(MALFORMED) and all("malformed reply" in c["message"] for c in crashed), crashed


def test_a_malformed_reply_during_a_test_fails_that_call(tmp_path):
    cheat = forge_function("affine_forward", MALFORMED["a 5000-digit integer"])
    run = grade_cli(with_cell(STARTER, cheat, before_training=False), tmp_path, *LIMITS)
    result = assert_graded_safely(run, 0.0, wall=WALL_S, result_bytes=RESULT_BYTES, judge_rss_mb=JUDGE_RSS_MB)
    assert any("malformed" in t["message"] for t in result["tests"] if "affine_forward" in t["message"]), [
        t["message"] for t in result["tests"]]


def test_a_forged_passing_reply_earns_nothing(tmp_path):
    """The forged frame answers a get/call with a value; the judge's tests still decide."""
    forged = b'{"ok": true, "value": {"$tuple": [{"$nd": 0}, null]}, "arrays": [{"dtype": "<f8", "shape": [2, 3]}]}'
    cheat = forge_function("affine_forward", forged, then="return None") + "\n"
    run = grade_cli(with_cell(STARTER, cheat, before_training=False), tmp_path, *LIMITS)
    assert_graded_safely(run, 0.0, wall=WALL_S, result_bytes=RESULT_BYTES, judge_rss_mb=JUDGE_RSS_MB)


def test_an_unexpected_judge_error_still_gives_one_result(monkeypatch):
    """The last-resort guard: a bug on the judge's side is a result with an error, not an exception."""
    def broken(nb):  # noqa: ANN001, ANN202
        raise RuntimeError("a bug in the judge")

    monkeypatch.setattr(grader.judge.pipeline, "defining_cells", broken)
    result = grade(SOLUTION, FAST)
    assert result.score == 0 and result.extra["grading_failed"] is True
    assert len(result.errors) == 1 and "RuntimeError: a bug in the judge" in result.errors[0]
    assert "\n" not in result.errors[0]
