"""`grade kit ASSIGNMENT`: the student's kit, built from the course (judge side).

Only these go in: the starter notebook, tests/public/ (every file but caches), the public
data (each dataset's training part, the `[data] files`), dlgrade_training.py (the student-side
training helpers, where the assignment takes a model), a reduced assignment.toml and the
manifest. The builder refuses a public test file that is byte-equal to a hidden one, and a
starter that still holds solution markers.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import fields
from pathlib import Path

from grader.course.assignment import Assignment, Limits, course_digest
from grader.version import __version__

KIT_FORMAT = 1
MANIFEST = "kit.json"
#: grader.authoring.assign's markers (not imported: authoring's validate calls grader.kit).
_SOLUTION_MARKERS = (b"# BEGIN SOLUTION", b"# SOLUTION")
#: The student-side helpers (grader/worker/dlgrade_training.py: data order, safetensors), in the
#: kits of assignments that take a trained model; the sandbox has the same file next to the worker.
TRAINING_HELPERS = "dlgrade_training.py"
_SKIP = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
#: Fixed zip entry time, so the same kit gives the same bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class KitError(Exception):
    """A kit cannot be built or read; one line for people."""


def compatible_versions(version: str = __version__) -> str:
    """The grader versions a kit built now works with: the same MAJOR.MINOR (a PEP 440 specifier)."""
    parts = (version.split("+")[0].split(".") + ["0", "0"])[:2]
    major, minor = int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    return f">={major}.{minor},<{major}.{minor + 1}"


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def kit_toml(spec: Assignment, data_files: list[str]) -> str:
    """assignment.toml for the kit: what a local check needs, none of the judge's own keys."""
    lines = [f"id = {_toml_string(spec.id)}", f"title = {_toml_string(spec.title)}",
             f"gpu = {_toml_string(spec.gpu)}",
             f"forbidden_imports = [{', '.join(_toml_string(m) for m in spec.forbidden_imports)}]",
             f"by_hand_forbids = [{', '.join(_toml_string(m) for m in spec.by_hand_forbids)}]",
             f"due = {_toml_string(spec.due)}", "", "[limits]"]
    for f in fields(Limits):
        lines.append(f"{f.name} = {getattr(spec.limits, f.name)!r}")
    lines += ["", "[data]", f"datasets = [{', '.join(_toml_string(d) for d in spec.datasets)}]",
              f"files = [{', '.join(_toml_string(f) for f in data_files)}]", ""]
    if spec.model is not None:  # public: which files, the builder, the cutoffs (the held-out set stays with the judge)
        lines += _toml_table("model", spec.model)
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _toml_table(name: str, settings: object) -> list[str]:
    """`[name]` with every field of the frozen dataclass `settings`; nested ones as `[name.field]`."""
    lines, nested = [f"[{name}]"], []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if hasattr(value, "__dataclass_fields__"):
            nested.append((f"{name}.{f.name}", value))
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    lines.append("")
    for sub, value in nested:
        lines += _toml_table(sub, value)
    return lines


def _walk(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and not _SKIP & set(p.relative_to(folder).parts)
            and p.suffix != ".pyc"]


def kit_files(spec: Assignment) -> dict[str, bytes]:
    """kit path -> bytes, the manifest included."""
    from grader.course import datasets

    if not spec.starter.is_file():
        raise KitError(f"assignment '{spec.id}' has no starter notebook ({spec.starter})")
    starter = spec.starter.read_bytes()
    if any(marker in starter for marker in _SOLUTION_MARKERS):
        raise KitError(f"{spec.starter} still holds solution markers; run `grade assign` on the solution")
    files: dict[str, bytes] = {f"{spec.id}.ipynb": starter}
    if spec.model is not None:  # the student-side training helpers the notebook imports (docs/models.md)
        files[TRAINING_HELPERS] = (Path(__file__).resolve().parents[1] / "worker" / TRAINING_HELPERS).read_bytes()
    hidden = {p.read_bytes() for p in _walk(spec.hidden_tests)}
    for path in _walk(spec.public_tests):
        data = path.read_bytes()
        if data in hidden:
            raise KitError(f"{path} is byte-equal to a hidden test file; it cannot go in a kit")
        files[f"tests/public/{path.relative_to(spec.public_tests).as_posix()}"] = data
    for name in spec.datasets:
        split = datasets.load(name)
        buf = io.BytesIO()
        import numpy as np

        np.savez(buf, X=split.X_train, y=split.y_train)
        files[f"data/{name}_train.npz"] = buf.getvalue()
    data_files = []
    for path in spec.public_files:
        rel = f"data/{path.name}"
        files[rel] = path.read_bytes()
        data_files.append(rel)
    files["assignment.toml"] = kit_toml(spec, data_files).encode()
    manifest = {
        "format": KIT_FORMAT,
        "assignment": spec.id,
        "title": spec.title,
        "course_digest": course_digest(spec.course),
        "grader": {"built_with": __version__, "compatible": compatible_versions()},
        "notebook": f"{spec.id}.ipynb",
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return files


def write_kit(spec: Assignment, out: Path) -> Path:
    """Write the kit to `out`: a zip when it ends in .zip, else a new (or empty) folder."""
    from grader.outputs import ensure_dir, write_bytes

    files = kit_files(spec)
    out = Path(out)
    if out.suffix.lower() == ".zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, data in sorted(files.items()):
                info = zipfile.ZipInfo(f"{spec.id}/{rel}", _ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return write_bytes(ensure_dir(out.parent), out.name, buf.getvalue())
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KitError(f"{out} exists and is not an empty folder; choose a new one")
    folder = ensure_dir(out)
    for rel, data in sorted(files.items()):
        parts = rel.split("/")
        write_bytes(ensure_dir(folder.joinpath(*parts[:-1])), parts[-1], data)
    return folder
