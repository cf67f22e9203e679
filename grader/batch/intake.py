"""Intake: find each student's submission in a folder or an LMS archive, safely.

Layouts (grader.batch.layouts decides on the whole structure; `--layout` names one): `folder`
(notebooks, the id is the file stem), `students` (one folder per student, the id is the folder
name), `canvas` ("Download Submissions" zip: `name[_LATE]_userid_attachmentid_file`), `moodle`
(`Full Name_12345_assignsubmission_file/...` and `..._assignsubmission_file_name`), and
`gradescope` (export zip: `submission_<id>/` folders and `submission_metadata.yml` at its root).

Whatever one student submits cannot change how anyone else's submission is read:
- ids are normalised once (Unicode NFC, surrounding whitespace; letter case where a roster
  lists the id in another case). Two spellings that meet in one id (`alice` and `alice `, NFC
  and NFD `josé`) are a collision: that id gets status invalid with a reason naming both
  sources, and neither notebook is graded under it until the instructor removes the wrong one;
- budgets are per student (entries listed; one notebook read, at most `max_entry_mb`), with a
  separate cap for the whole intake whose refusal names the student who spent the most of it;
- names are neutralised before anything keeps them (lone surrogates from names that are not
  UTF-8 become U+FFFD; grader.textsafe.storable).

Archives are never extracted to disk: entries are read into memory, each one checked first.
Refused per entry, one line each: `..` or absolute paths, links, special files, encrypted
entries, nested archives, copies of one name whose contents differ (identical copies are read
once, with a note), compression ratios past the limit, entries past a budget. Folder intakes
refuse links and special files the same way. Only notebooks are read, and the files named in
`keep` (an assignment's `[model]` weights and predictions; Canvas's renamed copies such as
`model-1.safetensors` match by their original name): those travel with their student's
notebook, read only when graded, under their own size cap. Other files are reported and skipped.

Calls only the standard library and grader.batch.layouts; callers: grader.batch.driver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from grader.batch.layouts import KINDS, METADATA, IntakeError, detect, gradescope_meta, gradescope_root, place
from grader.textsafe import one_line, storable

__all__ = ["KINDS", "REFUSE", "Found", "Intake", "IntakeError", "Limits", "Picked", "canonical_id", "read_intake"]

#: A reader's answer starting with this refuses the entry (the student keeps no row for it);
#: any other text answer makes the submission invalid with that reason.
REFUSE = "refuse: "
NESTED = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".whl", ".jar")
_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")
MAX_ID_CHARS = 128  # the gradebook's students.id column
MAX_ID_BYTES = 255  # OUT/<student>/ must be a valid file name


@dataclass(frozen=True)
class Limits:
    """What an intake may hold before entries are refused (zip bombs, floods)."""

    max_entries: int = 20_000  # entries kept from the whole intake; past it, refused (naming who spent it)
    max_student_entries: int = 1000  # entries kept from one student (notebooks first)
    max_total_mb: int = 4096  # uncompressed bytes read from one archive, in all
    max_entry_mb: int = 50  # one notebook (grade submit refuses larger ones too)
    max_ratio: float = 200.0  # uncompressed / compressed size, for entries over 1 MiB


@dataclass(frozen=True)
class Found:
    """One file of one student's submission; `data` is read for notebooks only."""

    student: str
    name: str  # file name inside the submission (LMS prefixes removed)
    source: str  # the entry or path as found in the intake (neutralised)
    data: bytes | Callable[[], bytes | str] | None = None
    size: int = 0
    late_flag: bool = False
    submitted_at: datetime | None = None
    person: str = ""  # the name the LMS put in the entry, if any
    origin: str = ""  # what named the student, as spelled in the intake (collisions compare these)
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
    skipped: list[str] = field(default_factory=list)  # extra files and notes, reported


def read_intake(path: Path, assignment: str, kind: str | None = None, limits: Limits = Limits(),
                exclude: Path | None = None, roster_ids: Iterable[str] = (), keep: tuple[str, ...] = ()) -> Intake:
    """Read the submissions at `path` (a folder or a zip); see the module docstring.

    `kind` None (or "auto") detects the layout; `roster_ids` are the roster's ids (for letter case);
    `keep`: file names that travel with each student's notebook (Picked.files)."""
    path = Path(path)
    if kind not in (None, "auto", *KINDS):
        raise IntakeError(f"unknown layout {kind!r} (known: auto, {', '.join(KINDS)})")
    if not path.exists():
        raise IntakeError(f"{path}: no such file or folder")
    if path.is_dir():
        entries, refused, notes = _folder_entries(path, limits, exclude)
        is_zip = False
    elif zipfile.is_zipfile(path):
        entries, refused, notes = _zip_entries(path, limits)
        is_zip = True
    else:
        raise IntakeError(f"{path}: neither a folder nor a zip archive")
    paths = [e.path for e in entries]
    kind = detect(paths, is_zip) if kind in (None, "auto") else kind
    intake = Intake(kind, refused=refused, skipped=notes)
    root = gradescope_root(paths) if kind == "gradescope" else ""
    meta_entry = next((e for e in entries if e.path == root + METADATA), None) if kind == "gradescope" else None
    meta = gradescope_meta(meta_entry.read()) if meta_entry is not None else {}
    fold = _case_map(roster_ids)
    found: list[Found] = []
    for e in entries:
        if e is meta_entry:
            continue
        placed = place(kind, e.path, e.raw, meta, root)
        if isinstance(placed, str):
            intake.skipped.append(f"{one_line(e.path)}: skipped: {placed}")
            continue
        student = canonical_id(placed.student)
        problem = _bad_id(student)
        if problem:
            intake.refused.append(f"{one_line(e.path, 160)}: refused: {one_line(student, 60)!r} cannot be a student "
                                  f"id ({problem})")
            continue
        student = student if student in fold.values() else fold.get(student.casefold(), student)
        found.append(Found(student, placed.name, e.path, size=e.size, late_flag=placed.late,
                           submitted_at=placed.submitted_at, person=placed.person, origin=placed.origin,
                           data=e.read if placed.name.lower().endswith(".ipynb") else None))
        if keep and found[-1].data is None and kept_name(placed.name, keep):
            found[-1] = dataclasses.replace(found[-1], keep=kept_name(placed.name, keep), reader=e.read)
    by_student: dict[str, list[Found]] = {}
    for f in _budget(found, limits, intake):
        by_student.setdefault(f.student, []).append(f)
    for student, files in by_student.items():
        picked = _collision(student, files) or _pick(student, files, assignment, intake)
        if picked is not None:
            intake.picked[student] = picked
    return intake


# --------------------------------------------------------------------------- ids


def canonical_id(raw: str) -> str:
    """A student id as every part of the grader compares it: NFC, no surrounding whitespace,
    lone surrogates made visible (U+FFFD, which no id may hold)."""
    return unicodedata.normalize("NFC", storable(raw)).strip()


def _bad_id(student: str) -> str:
    """Why `student` cannot be an id ("" if it can): letters, marks, digits, space and _ . @ + -,
    starting with a letter, digit or _; at most 128 characters and 255 bytes (a file name)."""
    if not student or student in (".", ".."):
        return "empty"
    if len(student) > MAX_ID_CHARS or len(student.encode()) > MAX_ID_BYTES:
        return f"longer than {MAX_ID_CHARS} characters or {MAX_ID_BYTES} bytes"
    if not (student[0] == "_" or unicodedata.category(student[0])[0] in "LN"):
        return "it must start with a letter, a digit or _"
    if any(not (c in "_ .@+-" or unicodedata.category(c)[0] in "LMN") for c in student):
        return "letters, digits, space and _ . @ + - only"
    return ""


def _case_map(roster_ids: Iterable[str]) -> dict[str, str]:
    """casefolded id -> the roster's spelling, when the roster's ids differ by more than case
    (a roster with `Ann` and `ann` says case matters: then no id is folded)."""
    out: dict[str, str] = {}
    for rid in roster_ids:
        rid = canonical_id(rid)
        if out.setdefault(rid.casefold(), rid) != rid:
            return {}
    return out


def _collision(student: str, files: list[Found]) -> Picked | None:
    """Status invalid for an id two different sources claim, naming both; None if one does."""
    origins = sorted({f.origin for f in files})
    if len(origins) < 2:
        return None
    first = files[0]
    marker = hashlib.sha256(("collision\0" + "\0".join(sorted(f.source for f in files))).encode()).hexdigest()
    shown = " and ".join(one_line(ascii(o), 80) for o in origins[:2])
    more = f" (and {len(origins) - 2} more)" if len(origins) > 2 else ""
    return Picked(student, first.source, first.name, b"", marker, person=first.person,
                  reason=f"{len(origins)} different submissions claim the id {one_line(student, 60)!r}: {shown}{more}; "
                         "none is graded under it until the wrong one is removed from the intake")


# --------------------------------------------------------------------------- budgets


def _budget(found: list[Found], limits: Limits, intake: Intake) -> list[Found]:
    """Per student at most `max_student_entries` (notebooks first), then at most `max_entries` in
    all; each refusal is one line that names the student."""
    mine: dict[str, list[Found]] = {}
    for f in found:
        mine.setdefault(f.student, []).append(f)
    keep: set[int] = set()
    for student, files in mine.items():
        files = sorted(files, key=lambda f: f.data is None)  # stable: notebooks first
        over = files[limits.max_student_entries:]
        if over:
            intake.refused.append(f"{one_line(over[0].source, 160)}: refused: student {one_line(student, 60)!r} has "
                                  f"{len(files)} files, more than the limit of {limits.max_student_entries} per "
                                  f"student; this one and the {len(over) - 1} after it were not read")
        keep.update(id(f) for f in files[:limits.max_student_entries])
    kept = [f for f in found if id(f) in keep]
    if len(kept) <= limits.max_entries:
        return kept
    spent: dict[str, int] = {}
    for f in kept[:limits.max_entries]:
        spent[f.student] = spent.get(f.student, 0) + 1
    who, most = max(spent.items(), key=lambda kv: kv[1], default=("", 0))
    rest = kept[limits.max_entries:]
    intake.refused.append(f"{one_line(rest[0].source, 160)}: refused: the intake's limit of {limits.max_entries} "
                          f"entries was reached (student {one_line(who, 60)!r} spent the most of it: {most}); this "
                          f"one and the {len(rest) - 1} after it were not read")
    return kept[:limits.max_entries]


# --------------------------------------------------------------------------- entries


@dataclass
class _Entry:
    path: str  # posix, relative, NFC, neutralised: what layouts and people see
    raw: str  # as the intake spells it (collisions compare this)
    size: int
    read: Callable[[], bytes | str]  # a str is a refusal reason


def _norm(name: str) -> str:
    return unicodedata.normalize("NFC", storable(name).replace("\\", "/"))


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


def _zip_entries(path: Path, limits: Limits) -> tuple[list[_Entry], list[str], list[str]]:
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise IntakeError(f"{path}: cannot read the zip archive: {one_line(storable(e))}") from None
    refused: list[str] = []
    notes: list[str] = []
    entries: list[_Entry] = []
    copies: dict[str, list[tuple[int, zipfile.ZipInfo]]] = {}
    for n, info in enumerate(infos, start=1):
        copies.setdefault(_norm(info.filename), []).append((n, info))
    budget = [limits.max_total_mb * 2**20]
    for n, info in enumerate(infos, start=1):
        name, raw = _norm(info.filename), info.filename.replace("\\", "/")
        shown = one_line(name, 160)
        if info.is_dir():
            continue
        mode = info.external_attr >> 16
        same = copies[name]
        reason = _bad_path(raw)
        if not reason and stat.S_ISLNK(mode):
            reason = "symbolic link"
        elif not reason and mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            reason = "not a regular file"
        elif not reason and info.flag_bits & 0x1:
            reason = "encrypted entry"
        elif not reason and len(same) > 1 and len({(i.CRC, i.file_size) for _, i in same}) > 1:
            (a, ia), (b, ib) = same[0], next(c for c in same if (c[1].CRC, c[1].file_size) != (same[0][1].CRC,
                                                                                          same[0][1].file_size))
            reason = (f"{len(same)} entries have this name and they differ (entry {a}: {ia.file_size} bytes, "
                      f"entry {b}: {ib.file_size} bytes); none is read")
        elif not reason and len(same) > 1 and same[0][0] != n:
            notes.append(f"{shown}: entry {n} is an identical copy of entry {same[0][0]}; read once")
            continue
        elif not reason and _nested(name):
            reason = "nested archive (unpack it and give its contents)"
        elif not reason and info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            reason = (f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}:1 is past the limit "
                      f"of {limits.max_ratio:g}:1 (zip bomb?)")
        if reason:
            refused.append(f"{shown}: refused: {reason}")
            continue
        read = _zip_reader(zf, info, limits, budget)
        if len(same) > 1:  # copies that only look identical (CRC-32 is easy to forge) are compared byte for byte
            read = _same_reader([(k, _zip_reader(zf, i, limits, budget)) for k, i in same])
        entries.append(_Entry(name, raw, info.file_size, read))
    return entries, refused, notes


def _same_reader(copies: list[tuple[int, Callable[..., bytes | str]]]) -> Callable[..., bytes | str]:
    """The first copy's bytes if every copy holds the same, else a refusal naming two that differ."""
    def read(cap_mb: int | None = None) -> bytes | str:
        first = copies[0][1](cap_mb)
        for k, reader in copies[1:]:
            other = reader(cap_mb)
            if isinstance(first, str) or isinstance(other, str):
                return first if isinstance(first, str) else other
            if other != first:
                return (REFUSE + f"{len(copies)} entries have this name and the same size and checksum but "
                        f"differ (entries {copies[0][0]} and {k}); none is read")
        return first

    return read
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


def _folder_entries(root: Path, limits: Limits, exclude: Path | None) -> tuple[list[_Entry], list[str], list[str]]:
    """The files under `root`, links and special files refused. The walk itself keeps to the
    budgets (one student's million files are not listed): at most `max_student_entries` files
    under each top-level item (notebooks first; under the one top-level folder of a wrapped
    export, each of its items) and `max_entries` in all."""
    entries: list[_Entry] = []
    refused: list[str] = []
    skip = exclude.resolve() if exclude is not None else None
    spent: dict[str, int] = {}
    stopped: set[str] = set()
    done = [False]

    def children(folder: Path, rel: str) -> list[tuple[Path, int]]:
        try:
            found = [(c, c.lstat().st_mode) for c in folder.iterdir() if not c.name.startswith(".")]
        except OSError as e:
            refused.append(f"{one_line(storable(rel or '.'))}: refused: cannot list: {one_line(e.strerror or e)}")
            return []
        return sorted(found, key=lambda cm: (stat.S_ISDIR(cm[1]), not cm[0].name.lower().endswith(".ipynb"),
                                             cm[0].name))

    top = children(root, "")
    wrapped = len(top) == 1 and stat.S_ISDIR(top[0][1]) and (skip is None or top[0][0].resolve() != skip)
    owner_depth = 1 if wrapped else 0

    def walk(listing: list[tuple[Path, int]], rel: str, depth: int, owner: str) -> None:
        for child, mode in listing:
            if done[0] or owner in stopped:
                return
            who = _norm(child.name) if depth == owner_depth else owner
            name = f"{rel}{child.name}"
            shown = one_line(_norm(name))
            if stat.S_ISLNK(mode):
                refused.append(f"{shown}: refused: symbolic link")
            elif stat.S_ISDIR(mode):
                if skip is not None and child.resolve() == skip:
                    continue
                if depth >= 4:
                    refused.append(f"{shown}: refused: folders nested too deep")
                else:
                    walk(children(child, name), name + "/", depth + 1, who)
            elif not stat.S_ISREG(mode):
                refused.append(f"{shown}: refused: not a regular file")
            elif len(entries) >= limits.max_entries:
                most = max(spent.items(), key=lambda kv: kv[1], default=("", 0))
                refused.append(f"{shown}: refused: the intake's limit of {limits.max_entries} files was reached "
                               f"({one_line(most[0], 60)!r} spent the most of it: {most[1]}); the rest were not read")
                done[0] = True
            elif depth > owner_depth and spent.get(who, 0) >= limits.max_student_entries:
                refused.append(f"{shown}: refused: {one_line(who, 60)!r} holds more than "
                               f"{limits.max_student_entries} files, the limit per student; the rest were not read")
                stopped.add(who)
            else:
                spent[who] = spent.get(who, 0) + 1
                entries.append(_Entry(_norm(name), name, child.lstat().st_size, _file_reader(child, limits)))

    walk(top, "", 0, "")
    return entries, refused, []


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


def kept_name(name: str, keep: tuple[str, ...]) -> str:
    """The name in `keep` that file `name` stands for: itself, or an LMS's renamed copy of it
    (Canvas: `model-1.safetensors` for a second `model.safetensors`); "" for none."""
    base = PurePosixPath(name).name
    for wanted in keep:
        w = PurePosixPath(wanted)
        if base == wanted or re.fullmatch(re.escape(w.stem) + r"-\d+" + re.escape(w.suffix), base):
            return wanted
    return ""


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
