"""Reading a kit (grader.kit.build's folder) for `grade check NB` and `grader.check()`.

`find_kit` looks for kit.json beside the notebook (or in a folder given); `load_kit` checks the
manifest (size, JSON, schema, grader version, the hashes of the tests, data and settings) and
returns the kit's `Assignment`: its root and course are the kit folder, so the judge's own
pipeline grades the notebook with the kit's public tests, as `grade check` does on the course.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from grader.course.assignment import Assignment, AssignmentError, _parse
from grader.kit.build import KIT_FORMAT, MANIFEST, KitError
from grader.version import __version__

MAX_MANIFEST_BYTES = 1_000_000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_REL_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")


def find_kit(start: Path) -> Path | None:
    """The kit folder for a notebook or folder: the one holding kit.json, or None."""
    start = Path(start)
    folder = start if start.is_dir() else start.parent
    return folder if (folder / MANIFEST).is_file() else None


def read_manifest(folder: Path) -> dict[str, Any]:
    """kit.json, bounded and checked; KitError (one line) when it is not a kit this grader reads."""
    path = Path(folder) / MANIFEST
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as e:
        raise KitError(f"{folder} is not a kit: cannot read {MANIFEST} ({e.strerror or e})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise KitError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes; not a kit manifest")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KitError(f"{path} is not valid JSON; download the kit again") from None
    if not isinstance(data, dict) or data.get("format") != KIT_FORMAT:
        raise KitError(f"{path}: not a kit of format {KIT_FORMAT}; download the kit again")
    aid, grader, files = data.get("assignment"), data.get("grader"), data.get("files")
    if not isinstance(aid, str) or not _ID_RE.match(aid):
        raise KitError(f"{path}: no valid assignment id")
    if not isinstance(grader, dict) or not isinstance(grader.get("compatible"), str):
        raise KitError(f"{path}: no grader versions")
    if not isinstance(files, dict) or not all(isinstance(k, str) and _REL_RE.match(k) and ".." not in k.split("/")
                                              and isinstance(v, str) for k, v in files.items()):
        raise KitError(f"{path}: malformed file list")
    _check_version(grader, path)
    return data


def _check_version(grader: dict[str, Any], path: Path) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        ok = Version(__version__) in SpecifierSet(grader["compatible"])
    except (InvalidSpecifier, InvalidVersion):
        raise KitError(f"{path}: unreadable grader versions {grader['compatible']!r}") from None
    if not ok:
        raise KitError(f"this kit needs dlgrade {grader['compatible']} (built with {grader.get('built_with')}); "
                       f"this is dlgrade {__version__}: pip install 'dlgrade{grader['compatible']}'")


def load_kit(folder: Path) -> Assignment:
    """The kit's Assignment (root and course: the kit folder). Raises KitError, one line."""
    folder = Path(folder).expanduser().resolve()
    if folder.suffix.lower() == ".zip" and folder.is_file():
        raise KitError(f"{folder} is a zip: unzip it and pass its folder (--kit FOLDER)")
    manifest = read_manifest(folder)
    notebook = manifest.get("notebook")
    for rel, digest in manifest["files"].items():
        if rel == notebook:
            continue  # the student's own copy: it is meant to change
        try:
            actual = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
        except OSError:
            raise KitError(f"the kit in {folder} lacks {rel}; download the kit again") from None
        if actual != digest:
            raise KitError(f"the kit's {rel} was changed; download the kit again to check against the "
                           "judge's tests")
    toml_path = folder / "assignment.toml"
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise KitError(f"{toml_path}: cannot read: {e}") from None
    if data.get("reference") is not None:
        raise KitError(f"{toml_path}: a kit has no reference module")
    try:
        return _parse(data, toml_path, manifest["assignment"], folder, folder)
    except AssignmentError as e:
        raise KitError(str(e)) from None
