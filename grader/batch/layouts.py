"""Which layout an intake has, and which student each of its files belongs to.

The layout is decided on the archive's structure as a whole, from its top-level items only (what
the LMS or the instructor named), never from a file inside a student's submission:

- an LMS layout (`canvas`, `moodle`, `gradescope`) is chosen when it explains every top-level
  item (files that are neither notebooks nor LMS-named, a `readme.txt`, are neutral);
- two LMS layouts that both explain everything, or LMS-named items beside items no LMS layout
  explains, make the intake ambiguous: IntakeError with one line that names an example and says
  to pass `--layout`;
- otherwise `students` (top-level folders, no top-level notebooks) or `folder` (top-level
  notebooks, no folder holding notebooks); both at once is ambiguous too.

Gradescope's `submission_metadata.yml` is read only at the export's root (the archive's top, or
inside its one top-level folder), where Gradescope writes it; a student's own copy inside
`submission_<id>/` is one of their files. LMS ids are ASCII digits (`[0-9]`, never `\\d`).

Standard library only; callers: grader.batch.intake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from grader.textsafe import one_line

KINDS = ("folder", "students", "canvas", "moodle", "gradescope")
METADATA = "submission_metadata.yml"
CANVAS = re.compile(r"^(?:(?P<name>[a-z0-9]*)_)?(?:(?P<late>LATE)_)?(?P<uid>[0-9]+|anon_[A-Za-z0-9]+)_"
                    r"(?P<att>[0-9]+)_(?P<file>.+)$")
CANVAS_ANON = re.compile(r"^(?:(?P<late>LATE)_)?(?P<uid>anon_[A-Za-z0-9]+)_(?P<att>[0-9]+)_(?P<file>.+)$")
MOODLE_DIR = re.compile(r"^(?P<name>.+?)_(?P<uid>[0-9]+)_assignsubmission_(?P<plugin>[a-z]+)$")
MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<uid>[0-9]+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
GS_DIR = re.compile(r"^submission_(?P<sid>[0-9]+)$")


class IntakeError(Exception):
    """The intake cannot be read at all (one line)."""


@dataclass(frozen=True)
class Placed:
    """Where the layout puts one entry: its student (as written, before normalisation), the
    `origin` that named the student (two origins for one id are a collision), and LMS fields."""

    student: str
    origin: str
    name: str
    late: bool = False
    person: str = ""
    submitted_at: datetime | None = None


def _tops(paths: list[str]) -> dict[str, bool]:
    """Top-level item -> is a folder."""
    tops: dict[str, bool] = {}
    for p in paths:
        head, sep, _ = p.partition("/")
        tops[head] = tops.get(head, False) or bool(sep)
    return tops


def gradescope_root(paths: list[str]) -> str:
    """The export's root as a prefix: "FOLDER/" when everything is inside one folder that holds
    Gradescope's items (its export zip does this), else "" (the archive's top)."""
    tops = _tops(paths)
    if len(tops) == 1:
        (only, is_dir), = tops.items()
        if is_dir and not GS_DIR.match(only):
            inner = _tops([p.partition("/")[2] for p in paths])
            if METADATA in inner or any(GS_DIR.match(t) for t, d in inner.items() if d):
                return only + "/"
    return ""


def _neutral(name: str) -> bool:
    """A top-level file no layout needs to explain (not a notebook, not LMS-named)."""
    return not name.lower().endswith(".ipynb") and not (CANVAS.match(name) or MOODLE_FILE.match(name))


def detect(paths: list[str], is_zip: bool) -> str:
    """The one layout that explains the whole intake; IntakeError when none or several do."""
    if not paths:
        return "folder"
    root = gradescope_root(paths)
    inner = [p[len(root):] for p in paths if p.startswith(root)]
    tops = _tops(inner)
    explains: dict[str, bool] = {}
    evidence: dict[str, str] = {}

    def lms(kind: str, ok_dir: Any, ok_file: Any) -> None:
        good, bad = [], []
        for name, is_dir in tops.items():
            if is_dir:
                (good if ok_dir(name) else bad).append(name)
            elif ok_file(name):
                good.append(name)
            elif not _neutral(name):
                bad.append(name)
        if good:
            evidence[kind] = good[0]
            explains[kind] = not bad

    lms("gradescope", lambda n: bool(GS_DIR.match(n)), lambda n: n == METADATA)
    if not root:
        lms("moodle", lambda n: bool(MOODLE_DIR.match(n)), lambda n: bool(MOODLE_FILE.match(n)))
        lms("canvas", lambda n: False, lambda n: bool(CANVAS_ANON.match(n) or CANVAS.match(n)))
    fits = [k for k, ok in explains.items() if ok]
    hint = "pass --layout folder|students|canvas|moodle|gradescope to say which it is"
    if len(fits) == 1:
        return fits[0]
    if len(fits) > 1:
        raise IntakeError(f"the layout is ambiguous: every item fits both {fits[0]} and {fits[1]} "
                          f"(e.g. {one_line(evidence[fits[0]], 80)!r}); {hint}")
    if evidence:
        kind, example = next(iter(evidence.items()))
        raise IntakeError(f"the layout is mixed: {one_line(example, 80)!r} is named like a {kind} export but "
                          f"other items are not; {hint}")
    notebooks_at_top = [n for n, d in tops.items() if not d and n.lower().endswith(".ipynb")]
    folders_with_notebooks = {p.split("/")[0] for p in inner if "/" in p and p.lower().endswith(".ipynb")}
    if notebooks_at_top and folders_with_notebooks:
        raise IntakeError(f"the layout is mixed: notebooks at the top ({one_line(notebooks_at_top[0], 60)!r}) "
                          f"and in folders ({one_line(sorted(folders_with_notebooks)[0], 60)!r}); {hint}")
    if folders_with_notebooks or (not notebooks_at_top and any(tops.values())):
        return "students"
    return "folder"


def place(kind: str, path: str, raw: str, meta: dict[str, dict], root: str) -> Placed | str:
    """Where entry `path` (normalised; `raw` as the intake spelled it) belongs under `kind`, or
    why it is skipped (a str)."""
    parts = PurePosixPath(path).parts
    raw_parts = raw.split("/")
    if kind == "folder":
        if len(parts) != 1:
            return "not at the top of the folder"
        return Placed(PurePosixPath(path).stem, PurePosixPath(raw).stem, parts[0])
    if kind == "students":
        if len(parts) < 2:
            return "not inside a student's folder"
        return Placed(parts[0], raw_parts[0], "/".join(parts[1:]))
    if kind == "canvas":
        if len(parts) != 1:
            return "not at the top of the archive (Canvas's download is flat)"
        m = CANVAS_ANON.match(parts[0]) or CANVAS.match(parts[0])
        if not m:
            return "not named like a Canvas submission"
        return Placed(m["uid"], m["uid"], m["file"], late=bool(m["late"]), person=m.groupdict().get("name") or "")
    if kind == "moodle":
        m = MOODLE_DIR.match(parts[0]) if len(parts) > 1 else MOODLE_FILE.match(parts[0])
        if not m:
            return "not named like a Moodle submission"
        name = "/".join(parts[1:]) if len(parts) > 1 else m["file"]
        return Placed(m["uid"], m["uid"], name, person=m["name"])
    if kind == "gradescope":
        if not path.startswith(root):
            return "outside the export's folder"
        inner = parts[len(PurePosixPath(root).parts):] if root else parts
        if len(inner) < 2 or not GS_DIR.match(inner[0]):
            return "not inside a submission_<id> folder at the export's root"
        info = meta.get(inner[0], {})
        student = info.get("sid") or info.get("email") or inner[0].removeprefix("submission_")
        return Placed(student, inner[0], "/".join(inner[1:]), person=info.get("name", ""),
                      submitted_at=info.get("created_at"))
    raise IntakeError(f"unknown layout {kind!r} (known: {', '.join(KINDS)})")


def gradescope_meta(raw: bytes | str | None) -> dict[str, dict]:
    """submission_<id> -> {sid, email, name, created_at} from the export's submission_metadata.yml
    (a tolerant line reader for Gradescope's Ruby-style YAML: `submission_1:`, `:submitters:`,
    `- :name: X`)."""
    if not isinstance(raw, bytes):
        return {}
    out: dict[str, dict] = {}
    current = None
    for line in raw.decode("utf-8", "replace").splitlines():
        top = re.match(r"^:?([A-Za-z0-9_]+):\s*$", line)
        if top:
            current = out.setdefault(top.group(1), {})
            continue
        kv = re.match(r"^\s*-?\s*:?(sid|email|name|created_at):\s*(.*?)\s*$", line)
        if current is not None and kv:
            key, value = kv.group(1), kv.group(2).strip().strip("'\"")
            if key == "created_at":
                if "created_at" not in current and line.startswith("  :created_at"):
                    when = _timestamp(value)
                    if when is not None:
                        current["created_at"] = when
            elif key not in current and value:
                current[key] = value
    return out


def _timestamp(value: str) -> datetime | None:
    """`2026-12-02 10:00:00.123456789 +00:00` (Ruby's YAML) or ISO 8601, with a zone; else None."""
    m = re.match(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?\s*"
                 r"(Z|[+-][0-9]{2}:?[0-9]{2})$", value.strip())
    if not m:
        return None
    zone = "+00:00" if m[4] == "Z" else (m[4] if ":" in m[4] else f"{m[4][:3]}:{m[4][3:]}")
    try:
        return datetime.fromisoformat(f"{m[1]}T{m[2]}.{(m[3] or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None
