"""Gradescope: the autograder zip (`grade gradescope build`) and what runs inside it.

Zip (root = /autograder/source on Gradescope): setup.sh and run_autograder at the root, the
grader's source, requirements.txt (or wheels/ with --offline), course/ (one assignment's files)
and dlgrade.json (which assignment, how hidden tests show). setup.sh runs once at image build
(grader.lms.bundle says what it installs). For each submission, run_autograder (as root) makes
source/, submission/ and results/ root-only, then runs `python -m grader.lms.gradescope`, which
grades the one notebook in /autograder/submission with the process sandbox (the worker under an
unprivileged uid) and writes /autograder/results/results.json last, in one atomic write.

results.json follows Gradescope's spec (gradescope/autograder_samples docs/specs.md): score,
execution_time, output, output_format, tests[] with name, score, max_score, status, output,
output_format, visibility; extra_data for what the instructor may want later. Whatever happens,
a results.json is written (score 0 and the reason when the input cannot be graded).

Calls grader.judge.pipeline, grader.judge.results, grader.outputs, grader.lms.bundle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

from grader.judge.results import GradingResult
from grader.textsafe import clean_text

TEST_OUTPUT_CHARS = 8_000
#: Gradescope cuts outputs at 100,000 characters; we stay below that in total.
TOTAL_OUTPUT_CHARS = 90_000
HIDDEN_DETAILS = "Details of this test are shown to instructors only."
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------- submission_metadata.json


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        try:  # e.g. "2026-12-01T10:00:00.123456-08:00" with more digits than Python 3.10 takes
            moment = dt.datetime.fromisoformat(text[:19] + text[-6:]) if len(text) > 25 else None
        except ValueError:
            moment = None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def read_metadata(path: Path) -> tuple[dict[str, Any], list[str]]:
    """submission_metadata.json (tolerant: Gradescope says its fields may change); (data, notes)."""
    try:
        raw = path.read_bytes()[:2_000_000]
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data, []
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as e:
        return {}, [f"submission_metadata.json unreadable ({type(e).__name__}); lateness not checked"]


def lateness(metadata: dict[str, Any], default_due: str = "") -> tuple[float | None, str]:
    """(seconds after the due date, or None when unknown; a note for the output, "" when on time)."""
    created = _parse_time(metadata.get("created_at"))
    assignment = metadata.get("assignment") if isinstance(metadata.get("assignment"), dict) else {}
    due = _parse_time(assignment.get("due_date")) or _parse_time(default_due)
    if created is None or due is None:
        return None, ""
    late = (created - due).total_seconds()
    if late <= 0:
        return 0.0, ""
    hours, rest = divmod(int(late), 3600)
    note = f"Submitted {hours} h {rest // 60} min after the due date ({due.isoformat()})."
    late_due = _parse_time(assignment.get("late_due_date"))
    if late_due is not None and created > late_due:
        note += " This is also after the late due date."
    return late, note


def users(metadata: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for u in metadata.get("users") or []:
        if isinstance(u, dict):
            out.append({k: clean_text(u.get(k, ""), 200) for k in ("id", "name", "email") if k in u})
    return out


# ---------------------------------------------------------------- results.json


def _visibility(test: Any, hidden_visibility: str) -> str:
    if test.suite == "hidden":
        return hidden_visibility
    return "after_due_date" if test.visibility == "after_due_date" else "visible"


def results_json(result: GradingResult, *, hidden_visibility: str = "after_published",
                 metadata: dict[str, Any] | None = None, default_due: str = "",
                 execution_time: float | None = None, notes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Gradescope's results.json for a graded notebook."""
    metadata = metadata or {}
    late, late_note = lateness(metadata, default_due)
    lines = [f"Score: {result.score:g} / {result.max_score:g}"]
    lines += [late_note] if late_note else []
    lines += [f"note: {clean_text(e, 1000)}" for e in (*notes, *result.errors)]
    tests, budget = [], TOTAL_OUTPUT_CHARS
    for t in result.tests:
        message = t.message if t.visibility == "visible" or (
            t.visibility == "after_due_date" and t.suite == "public") else (HIDDEN_DETAILS if t.message else "")
        head = f"{t.description}\n" if t.description and t.description != t.name else ""
        output = clean_text(head + message, min(TEST_OUTPUT_CHARS, max(budget, 200)))
        budget -= len(output)
        tests.append({
            "name": clean_text(t.name, 300),
            "score": round(t.score, 6),
            "max_score": round(t.max_score, 6),
            "status": "passed" if t.status == "passed" else "failed",
            "output": output,
            "output_format": "text",
            "visibility": _visibility(t, hidden_visibility),
            "tags": [t.suite],
        })
    model = result.extra.get("model") if isinstance(result.extra, dict) else None
    board = []
    if isinstance(model, dict) and isinstance(model.get("public"), (int, float)):
        # Gradescope's own leaderboard (under its pseudonyms): the public part's score only.
        board = [{"name": clean_text(str(model.get("metric", "score")), 40), "value": round(model["public"], 6),
                  "order": "desc" if model.get("higher_is_better", True) else "asc"}]
    return {
        **({"leaderboard": board} if board else {}),
        "score": round(result.score, 6),
        "execution_time": round(execution_time if execution_time is not None else result.duration, 3),
        "output": clean_text("\n".join(lines), 10_000),
        "output_format": "text",
        "test_output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"dlgrade": {
            "assignment": result.assignment, "max_score": round(result.max_score, 6),
            "grader_version": result.grader_version, "late_seconds": late,
            "users": [u.get("id", "") for u in users(metadata)], "sandbox": result.sandbox}},
    }


def failure_json(reason: str, execution_time: float = 0.0) -> dict[str, Any]:
    """results.json for a submission that could not be graded: score 0 and why."""
    return {"score": 0.0, "execution_time": round(execution_time, 3),
            "output": clean_text(f"Not graded: {reason}", 10_000), "output_format": "text", "tests": []}


def instructor_details(result: GradingResult) -> str:
    """What only instructors see (run_autograder's stdout): every message of a hidden test."""
    lines = []
    for t in result.tests:
        if t.message and t.visibility != "visible":
            lines.append(f"[{t.suite}] {t.name}: {t.score:g}/{t.max_score:g} {t.status}\n  "
                         + clean_text(t.message, 4000).replace("\n", "\n  "))
    return "\n".join(lines)


# ---------------------------------------------------------------- inside the container


def run(root: Path, course: Path | None = None, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Grade /autograder/submission and write /autograder/results/results.json; returns it."""
    from grader.judge.pipeline import BadInput, grade, prepare
    from grader.lms.bundle import pick_notebook
    from grader.outputs import write_bytes

    started = time.monotonic()
    config: dict[str, Any] = {}
    try:
        config = json.loads((root / "source" / "dlgrade.json").read_text())
        metadata, notes = read_metadata(root / "submission_metadata.json")
        notebook = pick_notebook(root / "submission", config.get("assignment"))
        nb, spec = prepare(notebook, config.get("assignment"), course)
        from grader.course.submission_files import files_beside

        result = grade(nb, spec, notebook_name=notebook.name, mode="submit", sandbox="process",
                       files=files_beside(notebook))
        data = results_json(result, hidden_visibility=config.get("hidden_visibility", "after_published"),
                            metadata=metadata, default_due=spec.due,
                            execution_time=time.monotonic() - started, notes=tuple(notes))
        details = instructor_details(result)
        if details:
            out(details)
    except BadInput as e:
        data = failure_json(str(e), time.monotonic() - started)
    except Exception as e:  # noqa: BLE001 - every submission gets a results.json
        import traceback

        out(traceback.format_exc())
        data = failure_json(f"the grader failed ({type(e).__name__}: {e}); please tell your instructor",
                            time.monotonic() - started)
    # Written last, in one atomic write, by the judge (root) into a folder only root can write.
    write_bytes(root / "results", "results.json", (json.dumps(data, indent=1) + "\n").encode())
    out(f"dlgrade: score {data['score']:g}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.lms.gradescope",
                                     description="Grade a Gradescope submission (run by run_autograder).")
    parser.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's /autograder.")
    args = parser.parse_args(argv)
    run(args.root)
    return 0


# ---------------------------------------------------------------- grade gradescope build


def build(assignment: str, out: Path, *, course: Path | None = None, offline: bool = False,
          hidden_visibility: str | None = None, log: Callable[[str], None] = print) -> Path:
    """Write the autograder zip; entries sorted, fixed times: the same inputs give the same bytes."""
    from grader.lms import LmsError, bundle
    from grader.outputs import ensure_dir, write_bytes

    spec = bundle.load(assignment, course)
    visibility = hidden_visibility or spec.lms.gradescope_hidden_visibility
    files: dict[str, Path | bytes] = dict(bundle.install_files(offline, log))
    files["run_autograder"] = bundle.read_file("run_autograder").encode()
    files.update({f"course/{k}": v for k, v in bundle.course_files(spec).items()})
    files["dlgrade.json"] = (json.dumps({"assignment": spec.id, "hidden_visibility": visibility},
                                        indent=1) + "\n").encode()
    folder = ensure_dir(out.parent if str(out.parent) else Path("."))
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(files):
            src = files[name]
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".whl") else zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as dest:
                if isinstance(src, bytes):
                    dest.write(src)
                else:
                    with open(src, "rb") as f:
                        while chunk := f.read(1 << 20):
                            dest.write(chunk)
    data = buffer.getvalue()
    if not data:
        raise LmsError("the zip came out empty")
    return write_bytes(folder, out.name, data)


if __name__ == "__main__":
    sys.exit(main())
