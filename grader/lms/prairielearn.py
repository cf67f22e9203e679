"""PrairieLearn's external grader: results.json from a GradingResult, and `grade prairielearn build`.

results.json (PrairieLearn docs/externalGrading.md): `score` in [0, 1] (the only required key
for a gradable submission), `gradable` (false: the submission is marked invalid, no attempt
is used, `format_errors` says why), `message`, `output`, and `tests[]` with `name`,
`description`, `points`, `max_points`, `message`, `output`. The whole file stays under 1 MB.

PrairieLearn shows every field to the student, so a test whose message is for instructors
only (visibility "hidden" or "after_due_date") carries no message here.

The build writes an image context (grader + dependencies only, nothing secret: such images
usually sit in a public registry) and a question folder whose `tests/` holds the assignment's
course files; PrairieLearn copies that to /grade/tests, which the entrypoint makes root-only
before grading /grade/student/*.ipynb into /grade/results/results.json.

Calls grader.judge.results, grader.outputs and grader.lms.bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.judge.results import GradingResult
from grader.textsafe import clean_text

#: PrairieLearn rejects larger results; we stay well below.
MAX_BYTES = 1_000_000
BUDGET = 900_000
TEST_MESSAGE_CHARS = 4_000
TEST_OUTPUT_CHARS = 4_000
MESSAGE_CHARS = 20_000


def _cap(text: str, limit: int) -> str:
    return clean_text(text, limit)


def results_json(result: GradingResult) -> dict[str, Any]:
    """PrairieLearn's results.json for a graded notebook (always gradable)."""
    score = result.score / result.max_score if result.max_score > 0 else 0.0
    lines = [f"Score: {result.score:g} / {result.max_score:g}"]
    lines += [f"note: {e}" for e in result.errors]
    tests = []
    for t in result.tests:
        shown = t.visibility == "visible"
        entry = {
            "name": _cap(t.name, 300),
            "description": _cap(t.description or t.name, 1_000),
            "points": round(t.score, 6),
            "max_points": round(t.max_score, 6),
            "message": _cap(t.message, TEST_MESSAGE_CHARS) if shown else
            ("Details are shown after grading is reviewed." if t.message else ""),
            "output": f"{t.status} ({t.suite} test)",
        }
        tests.append(entry)
    out: dict[str, Any] = {
        "gradable": True,
        "score": round(min(max(score, 0.0), 1.0), 6),
        "message": _cap("\n".join(lines), MESSAGE_CHARS),
        "output": "",
        "tests": tests,
        "dlgrade": {"points": round(result.score, 6), "max_points": round(result.max_score, 6),
                    "assignment": result.assignment, "grader_version": result.grader_version},
    }
    return _fit(out)


def ungradable_json(reason: str) -> dict[str, Any]:
    """results.json for input that could not be graded at all: no attempt used, the reason shown."""
    reason = _cap(reason, MESSAGE_CHARS)
    return {"gradable": False, "score": 0.0, "message": reason, "format_errors": [reason], "tests": []}


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    """Drop test messages from the end until the file fits PrairieLearn's 1 MB limit."""
    size = len(json.dumps(data).encode())
    tests = data["tests"]
    i = len(tests) - 1
    while size > BUDGET and i >= 0:
        tests[i]["message"] = "(cut: results.json would exceed PrairieLearn's 1 MB)"
        size = len(json.dumps(data).encode())
        i -= 1
    if size > BUDGET:
        data["message"] = data["message"][:1_000]
        data["tests"] = tests[:1_000]
    return data


def encode(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=1) + "\n").encode("utf-8")


def write(folder: Path, data: dict[str, Any]) -> Path:
    """`folder/results.json`, written atomically, no links followed."""
    from grader.outputs import write_bytes

    return write_bytes(folder, "results.json", encode(data))


# ---------------------------------------------------------------- grade prairielearn build

ENTRYPOINT = "/grade/tests/dlgrade-grade.sh"


def build(assignment: str, out: Path, *, course: Path | None = None, offline: bool = False,
          log: Any = print) -> Path:
    """Write `out/image/` (docker build context) and `out/question/` (info.json, tests/)."""
    from grader.lms import bundle
    from grader.outputs import ensure_dir, write_text

    spec = bundle.load(assignment, course)
    out = ensure_dir(out)
    image = ensure_dir(out / "image")
    bundle.write_install(image, offline=offline, log=log)
    write_text(image, "Dockerfile", bundle.read_file("prairielearn.Dockerfile"))
    question = ensure_dir(out / "question")
    tests = ensure_dir(question / "tests")
    bundle.copy_course(spec, tests / "course")
    write_bytes_exec(tests, "dlgrade-grade.sh", bundle.read_file("prairielearn-grade.sh"))
    info = {
        "uuid": "REPLACE-WITH-A-UUID",
        "title": spec.title,
        "topic": "Notebooks",
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": f"YOUR-REGISTRY/dlgrade-{spec.id}:latest",
            "entrypoint": ENTRYPOINT,
            "timeout": min(600, int(spec.limits.notebook_seconds + 120)),
        },
    }
    write_text(question, "info.json", json.dumps(info, indent=2) + "\n")
    return out


def write_bytes_exec(folder: Path, name: str, text: str) -> Path:
    from grader.outputs import write_bytes

    return write_bytes(folder, name, text.encode(), mode=0o755)


# ---------------------------------------------------------------- inside the grading image


def run(student: Path, out: Path, course: Path | None = None) -> dict[str, Any]:
    """Grade the notebook in /grade/student into /grade/results/results.json; returns it."""
    from grader.course.assignment import AssignmentError, list_assignments
    from grader.judge.pipeline import BadInput, grade, prepare
    from grader.lms.bundle import pick_notebook

    try:
        try:
            specs = list_assignments(course)
        except AssignmentError as e:
            raise BadInput(str(e)) from None
        only = specs[0].id if len(specs) == 1 else None
        notebook = pick_notebook(student, only)
        nb, spec = prepare(notebook, only, course)
        data = results_json(grade(nb, spec, notebook_name=notebook.name, mode="submit", sandbox="process"))
    except BadInput as e:
        data = ungradable_json(str(e))
    except Exception as e:  # noqa: BLE001 - every submission gets a results.json
        import traceback

        traceback.print_exc()
        data = ungradable_json(f"the grader failed ({type(e).__name__}: {e}); please tell your instructor")
    write(out, data)
    return data


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.lms.prairielearn",
                                     description="Grade a PrairieLearn submission (the image's entrypoint).")
    parser.add_argument("--student", type=Path, default=Path("/grade/student"), help="The student's files.")
    parser.add_argument("--out", type=Path, default=Path("/grade/results"), help="Where results.json goes.")
    args = parser.parse_args(argv)
    data = run(args.student, args.out)
    print(f"dlgrade: gradable={data['gradable']} score={data['score']:g}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
