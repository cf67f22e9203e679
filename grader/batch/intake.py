"""Intake: find each student's submission in a folder or an LMS archive, safely.

Layouts (auto-detected; `--intake` forces one): `folder` (notebooks, the id is the file stem),
`students` (one folder per student, the id is the folder name), `canvas` ("Download
Submissions" zip: `name[_LATE]_userid_attachmentid_file`), `moodle` (both layouts:
`Full Name_12345_assignsubmission_file/...` and `..._assignsubmission_file_name`), and
`gradescope` (export zip: `submission_<id>/` folders and `submission_metadata.yml`).

Archives are never extracted to disk: entries are read into memory, each one checked first.
Refused per entry, one line each: `..` or absolute paths, links, special files, encrypted
entries, nested archives, duplicate names, compression ratios past the limit, entries past the
entry-count or total-size limit. Folder intakes refuse links and special files the same way.
Only notebooks are read, and the files named in `keep` (an assignment's `[model]` weights and
predictions; Canvas's renamed copies such as `model-1.safetensors` match by their original
name): those travel with their student's notebook, read only when graded, under their own size
cap. Other files are reported and skipped.

Calls only the standard library; callers: grader.batch.driver.
"""

from __future__ import annotations

import hashlib
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from grader.textsafe import one_line

#: A reader's answer starting with this refuses the entry (the student keeps no row for it);
#: any other text answer makes the submission invalid with that reason.
REFUSE = "refuse: "
KINDS = ("folder", "students", "canvas", "moodle", "gradescope")
NESTED = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".whl", ".jar")
_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")
_ID_RE = re.compile(r"^\w[\w .@+-]{0,127}$")
_CANVAS = re.compile(r"^(?:(?P<name>[a-z0-9]*)_)?(?:(?P<late>LATE)_)?(?P<uid>\d+|anon_[A-Za-z0-9]+)_"
                     r"(?P<att>\d+)_(?P<file>.+)$")
_CANVAS_ANON = re.compile(r"^(?:(?P<late>LATE)_)?(?P<uid>anon_[A-Za-z0-9]+)_(?P<att>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:/|_)(?P<file>.+)$")
_GS_DIR = re.compile(r"^submission_(?P<sid>\d+)$")


@dataclass(frozen=True)
class Limits:
    """What an archive may hold before entries are refused (zip bombs, floods)."""

    max_entries: int = 5000  # entries past this count are refused
    max_total_mb: int = 4096  # uncompressed bytes read from one archive, in all
    max_entry_mb: int = 50  # one notebook (grade submit refuses larger ones too)
    max_ratio: float = 200.0  # uncompressed / compressed size, for entries over 1 MiB


@dataclass(frozen=True)
class Found:
    """One file of one student's submission; `data` is read for notebooks only."""

    student: str
    name: str  # file name inside the submission (LMS prefixes removed)
    source: str  # the entry or path as found in the intake
    data: bytes | None = None
    size: int = 0
    late_flag: bool = False
    submitted_at: datetime | None = None
    person: str = ""  # the name the LMS put in the entry, if any
    keep: str = ""  # for a kept file: its original name (one of read_intake's `keep`)
    reader: object = None  # for a kept file: (cap_mb) -> bytes | str (a str says why it cannot be read)


@dataclass(frozen=True)
class KeptFile:
    """A file that travels with a student's notebook (model weights, predictions), unread until graded."""

    name: str  # the name the assignment expects (Canvas's -1 suffix removed)
    source: str  # the entry or path as found in the intake
    size: int
    read: object  # (cap_mb) -> bytes | str: the bytes, or why they cannot be read (too large...)


@dataclass(frozen=True)
class Picked:
    """The submission chosen for one student, or why none can be graded (`reason`)."""

    student: str
    source: str
    name: str
    data: bytes
    content_hash: str
    reason: str = ""  # non-empty: status invalid, with this line
    late_flag: bool = False
    submitted_at: datetime | None = None
    person: str = ""
    files: tuple[KeptFile, ...] = ()  # the kept files of this student's submission


@dataclass
class Intake:
    """What an intake yielded: one Picked per student, and lines for the instructor."""

    kind: str
    picked: dict[str, Picked] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # "ENTRY: refused: REASON"
    skipped: list[str] = field(default_factory=list)  # extra files, reported


class IntakeError(Exception):
    """The intake cannot be read at all (one line)."""


def read_intake(path: Path, assignment: str, kind: str | None = None, limits: Limits = Limits(),
                exclude: Path | None = None, keep: tuple[str, ...] = ()) -> Intake:
    """Read the submissions at `path` (a folder or a zip); see the module docstring.

    `keep`: file names that travel with each student's notebook (Picked.files)."""
    path = Path(path)
    if not path.exists():
        raise IntakeError(f"{path}: no such file or folder")
    if path.is_dir():
        entries, refused = _folder_entries(path, limits, exclude)
        is_zip = False
    elif zipfile.is_zipfile(path):
        entries, refused = _zip_entries(path, limits)
        is_zip = True
    else:
        raise IntakeError(f"{path}: neither a folder nor a zip archive")
    kind = kind or _detect(entries, is_zip)
    if kind not in KINDS:
        raise IntakeError(f"unknown intake {kind!r} (known: {', '.join(KINDS)})")
    intake = Intake(kind, refused=refused)
    found = [_kept(f, keep) for f in _layout(kind, entries, intake)] if keep else _layout(kind, entries, intake)
    by_student: dict[str, list[Found]] = {}
    for f in found:
        by_student.setdefault(f.student, []).append(f)
    for student, files in by_student.items():
        picked = _pick(student, files, assignment, intake)
        if picked is not None:
            intake.picked[student] = picked
    return intake


# --------------------------------------------------------------------------- entries


@dataclass
class _Entry:
    path: str  # posix, relative
    size: int
    read: object  # () -> bytes | str (a str is a refusal reason)


def _norm(name: str) -> str:
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _bad_path(name: str) -> str:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "path leaves the archive ('..')"
    if any(ord(c) < 32 for c in name):
        return "control characters in the name"
    return ""


def _nested(name: str, head: bytes = b"") -> bool:
    low = name.lower()
    return low.endswith(NESTED) or any(head.startswith(m) for m in _MAGIC)


def _zip_entries(path: Path, limits: Limits) -> tuple[list[_Entry], list[str]]:
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise IntakeError(f"{path}: cannot read the zip archive: {one_line(e)}") from None
    refused: list[str] = []
    entries: list[_Entry] = []
    counts: dict[str, int] = {}
    for info in infos:
        counts[_norm(info.filename)] = counts.get(_norm(info.filename), 0) + 1
    budget = [limits.max_total_mb * 2**20]
    for n, info in enumerate(infos):
        name = _norm(info.filename)
        shown = one_line(name, 160)
        if n >= limits.max_entries:
            rest = len(infos) - n
            refused.append(f"{shown}: refused: the archive has {len(infos)} entries, more than the limit of "
                           f"{limits.max_entries}; this one and the {rest - 1} after it were not read")
            break
        if info.is_dir():
            continue
        mode = info.external_attr >> 16
        reason = _bad_path(name)
        if not reason and stat.S_ISLNK(mode):
            reason = "symbolic link"
        elif not reason and mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            reason = "not a regular file"
        elif not reason and info.flag_bits & 0x1:
            reason = "encrypted entry"
        elif not reason and counts[name] > 1:
            reason = f"duplicate name: the archive holds {counts[name]} entries called this"
        elif not reason and _nested(name):
            reason = "nested archive (unpack it and give its contents)"
        elif not reason and info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            reason = (f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}:1 is past the limit "
                      f"of {limits.max_ratio:g}:1 (zip bomb?)")
        if reason:
            refused.append(f"{shown}: refused: {reason}")
            continue
        entries.append(_Entry(name, info.file_size, _zip_reader(zf, info, limits, budget)))
    return entries, refused


def _zip_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, budget: list[int]):  # noqa: ANN202
    def read(cap_mb: int | None = None) -> bytes | str:
        cap_mb = cap_mb or limits.max_entry_mb
        cap = cap_mb * 2**20
        if info.file_size > cap:
            return f"larger than {cap_mb} MiB"
        out = bytearray()
        try:
            with zf.open(info) as f:  # the header's size may lie: count what really comes out
                while chunk := f.read(1 << 20):
                    out += chunk
                    if len(out) > cap:
                        return f"larger than {cap_mb} MiB once uncompressed"
                    if len(out) > budget[0]:
                        return f"past the archive's total limit of {limits.max_total_mb} MiB uncompressed"
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            return f"cannot be read: {one_line(e, 120)}"
        except Exception as e:  # zlib.error and friends: the entry is corrupt
            return f"cannot be read: {type(e).__name__}"
        budget[0] -= len(out)
        if _nested(info.filename, bytes(out[:8])):
            return REFUSE + "nested archive (unpack it and give its contents)"
        return bytes(out)

    return read


def _folder_entries(root: Path, limits: Limits, exclude: Path | None) -> tuple[list[_Entry], list[str]]:
    entries: list[_Entry] = []
    refused: list[str] = []
    skip = exclude.resolve() if exclude is not None else None

    def walk(folder: Path, rel: str, depth: int) -> None:
        try:
            children = sorted(folder.iterdir())
        except OSError as e:
            refused.append(f"{one_line(rel or '.')}: refused: cannot list: {one_line(e.strerror or e)}")
            return
        for child in children:
            name = f"{rel}{child.name}"
            if len(entries) + len(refused) >= limits.max_entries:
                refused.append(f"{one_line(name)}: refused: more than {limits.max_entries} files; the rest were "
                               "not read")
                return
            st = child.lstat()
            if stat.S_ISLNK(st.st_mode):
                refused.append(f"{one_line(name)}: refused: symbolic link")
            elif stat.S_ISDIR(st.st_mode):
                if child.name.startswith(".") or (skip is not None and child.resolve() == skip):
                    continue
                if depth >= 4:
                    refused.append(f"{one_line(name)}: refused: folders nested too deep")
                else:
                    walk(child, name + "/", depth + 1)
            elif not stat.S_ISREG(st.st_mode):
                refused.append(f"{one_line(name)}: refused: not a regular file")
            elif not child.name.startswith("."):
                entries.append(_Entry(name, st.st_size, _file_reader(child, limits)))

    walk(root, "", 0)
    return entries, refused


def _file_reader(path: Path, limits: Limits):  # noqa: ANN202
    def read(cap_mb: int | None = None) -> bytes | str:
        cap_mb = cap_mb or limits.max_entry_mb
        cap = cap_mb * 2**20
        try:
            with open(path, "rb") as f:
                data = f.read(cap + 1)
        except OSError as e:
            return f"cannot be read: {one_line(e.strerror or e)}"
        return f"larger than {cap_mb} MiB" if len(data) > cap else data

    return read


# --------------------------------------------------------------------------- layouts


def _detect(entries: list[_Entry], is_zip: bool) -> str:
    names = [e.path for e in entries]
    if any(PurePosixPath(n).name == "submission_metadata.yml" for n in names) or \
            any(_GS_DIR.match(p) for n in names for p in PurePosixPath(n).parts[:2]):
        return "gradescope"
    if any(_MOODLE.match(n) for n in names):
        return "moodle"
    if any(_CANVAS.match(PurePosixPath(n).name) for n in names):
        return "canvas"
    if not is_zip and names and all("/" in n for n in names):
        return "students"
    if is_zip:
        tops = {n.split("/")[0] for n in names}
        return "students" if len(tops) > 1 and all("/" in n for n in names) else "folder"
    return "folder"


def _layout(kind: str, entries: list[_Entry], intake: Intake) -> list[Found]:
    out: list[Found] = []
    meta = _gradescope_meta(entries) if kind == "gradescope" else {}
    for e in entries:
        parts = PurePosixPath(e.path).parts
        student, name, late, person, when = "", parts[-1], False, "", None
        if kind == "folder":
            if len(parts) != 1:
                intake.skipped.append(f"{one_line(e.path)}: skipped: not at the top of the folder")
                continue
            student = PurePosixPath(name).stem
        elif kind == "students":
            if len(parts) < 2:
                intake.skipped.append(f"{one_line(e.path)}: skipped: not inside a student's folder")
                continue
            student, name = parts[0], "/".join(parts[1:])
        elif kind == "canvas":
            m = _CANVAS_ANON.match(parts[-1]) or _CANVAS.match(parts[-1])
            if not m:
                intake.skipped.append(f"{one_line(e.path)}: skipped: not named like a Canvas submission")
                continue
            student, name, late = m["uid"], m["file"], bool(m["late"])
            person = m.groupdict().get("name") or ""
        elif kind == "moodle":
            m = _MOODLE.match(e.path)
            if not m:
                intake.skipped.append(f"{one_line(e.path)}: skipped: not named like a Moodle submission")
                continue
            student, name, person = m["uid"], m["file"], m["name"]
        elif kind == "gradescope":
            if PurePosixPath(e.path).name == "submission_metadata.yml":
                continue
            folder = next((p for p in parts[:-1] if _GS_DIR.match(p)), None)
            if folder is None:
                intake.skipped.append(f"{one_line(e.path)}: skipped: not inside a submission_<id> folder")
                continue
            info = meta.get(folder, {})
            student = info.get("sid") or info.get("email") or folder.removeprefix("submission_")
            person, when = info.get("name", ""), info.get("created_at")
            name = "/".join(parts[parts.index(folder) + 1:])
        student = unicodedata.normalize("NFC", student.strip())
        if not _ID_RE.match(student) or student in (".", ".."):
            intake.refused.append(f"{one_line(e.path)}: refused: {one_line(student, 60)!r} cannot be a student id "
                                  "(letters, digits, space and _ . @ + - only)")
            continue
        out.append(Found(student, name, e.path, size=e.size, late_flag=late, submitted_at=when, person=person,
                         data=e.read if name.lower().endswith(".ipynb") else None,  # type: ignore[arg-type]
                         reader=e.read))
    return out


def kept_name(name: str, keep: tuple[str, ...]) -> str:
    """The name in `keep` that file `name` stands for: itself, or an LMS's renamed copy of it
    (Canvas: `model-1.safetensors` for a second `model.safetensors`); "" for none."""
    base = PurePosixPath(name).name
    for wanted in keep:
        w = PurePosixPath(wanted)
        if base == wanted or re.fullmatch(re.escape(w.stem) + r"-\d+" + re.escape(w.suffix), base):
            return wanted
    return ""


def _kept(f: Found, keep: tuple[str, ...]) -> Found:
    wanted = kept_name(f.name, keep) if f.data is None else ""
    return Found(f.student, f.name, f.source, f.data, f.size, f.late_flag, f.submitted_at, f.person,
                 keep=wanted, reader=f.reader if wanted else None)


def _gradescope_meta(entries: list[_Entry]) -> dict[str, dict]:
    """submission_<id> -> {sid, email, name, created_at} from submission_metadata.yml (a tolerant
    line reader for Gradescope's Ruby-style YAML: `submission_1:`, `:submitters:`, `- :name: X`)."""
    entry = next((e for e in entries if PurePosixPath(e.path).name == "submission_metadata.yml"), None)
    if entry is None:
        return {}
    raw = entry.read()
    if isinstance(raw, str):
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
    m = re.match(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)$", value.strip())
    if not m:
        return None
    zone = "+00:00" if m[4] == "Z" else (m[4] if ":" in m[4] else f"{m[4][:3]}:{m[4][3:]}")
    try:
        return datetime.fromisoformat(f"{m[1]}T{m[2]}.{(m[3] or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None


# --------------------------------------------------------------------------- choosing


def _kept_files(files: list[Found]) -> tuple[KeptFile, ...]:
    """One file per kept name: the exact name if it is there, else the copy with the highest suffix."""
    chosen: dict[str, Found] = {}
    for f in files:
        if not f.keep:
            continue
        old = chosen.get(f.keep)
        if old is None or (PurePosixPath(old.name).name != f.keep and _suffix(f.name) > _suffix(old.name)) \
                or PurePosixPath(f.name).name == f.keep:
            chosen[f.keep] = f
    return tuple(KeptFile(k, f.source, f.size, f.reader) for k, f in sorted(chosen.items()))


def _suffix(name: str) -> int:
    m = re.search(r"-(\d+)\.[^.]*$", PurePosixPath(name).name)
    return int(m.group(1)) if m else 0


def _base(name: str) -> str:
    """A file name without a Canvas/LMS duplicate suffix (-1, -2) and extension, lower-cased."""
    stem = PurePosixPath(name).stem.lower()
    return re.sub(r"-\d+$", "", stem)


def _pick(student: str, files: list[Found], assignment: str, intake: Intake) -> Picked | None:
    notebooks = [f for f in files if f.data is not None]
    for f in files:
        if f.data is None and not f.keep:
            intake.skipped.append(f"{one_line(f.source)}: skipped: not a notebook (student {one_line(student)})")
    first = files[0]
    common = dict(late_flag=any(f.late_flag for f in files), submitted_at=first.submitted_at,
                  person=first.person, files=_kept_files(files))
    if not notebooks:
        listed = ", ".join(one_line(f.name, 60) for f in files[:5])
        marker = hashlib.sha256(("no-notebook\0" + "\0".join(sorted(f.source for f in files))).encode()).hexdigest()
        return Picked(student, first.source, first.name, b"", marker,
                      reason=f"no notebook (.ipynb) in the submission; found: {listed}", **common)
    chosen = notebooks
    if len(notebooks) > 1:
        chosen = [f for f in notebooks if assignment.lower() in _base(f.name)]
        if len(chosen) > 1:  # several match: the plain name (no -1 suffix) wins if there is one
            exact = [f for f in chosen if PurePosixPath(f.name).stem.lower() == assignment.lower()]
            chosen = exact if len(exact) == 1 else chosen
    if len(chosen) != 1:
        names = ", ".join(one_line(f.name, 60) for f in notebooks[:5])
        marker = hashlib.sha256(("ambiguous\0" + "\0".join(sorted(f.source for f in notebooks))).encode()).hexdigest()
        return Picked(student, notebooks[0].source, notebooks[0].name, b"", marker,
                      reason=f"ambiguous: {len(notebooks)} notebooks ({names}) and not exactly one named after "
                             f"'{assignment}'", **common)
    f = chosen[0]
    data = f.data() if callable(f.data) else f.data
    if isinstance(data, str) and data.startswith(REFUSE):
        intake.refused.append(f"{one_line(f.source, 160)}: refused: {data.removeprefix(REFUSE)}")
        return None
    if isinstance(data, str):  # the entry could not be read after all
        marker = hashlib.sha256(("unreadable\0" + f.source).encode()).hexdigest()
        return Picked(student, f.source, f.name, b"", marker, reason=f"{one_line(f.name)}: {data}", **common)
    return Picked(student, f.source, f.name, data, hashlib.sha256(data).hexdigest(), **common)
