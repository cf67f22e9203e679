"""Assignments: finding the course, reading `assignment.toml`, and the settings objects.

A *course root* is a folder holding `assignments/<id>/`, `reference/<name>.py` and
`templates/`. It is found, in this order:

1. the `course` argument (the CLI's `--course`);
2. the environment variable `DLGRADE_COURSE`;
3. the source checkout: the folder above the `grader` package, if it holds `assignments/`.

The wheel holds no course (nothing secret ships with the grader); students get a kit
(grader.kit). Page templates come from the course's `templates/`, else the grader's own copy
(`grader/_templates/` in a wheel, `templates/` in the checkout).

The file format is documented in docs/authoring.md. Every key has a default here; unknown
keys are errors, so that a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from grader.course.model_settings import MODEL_METRICS, ModelSettings, parse_model  # noqa: F401  (re-exported)
from grader.course.toml_checks import Bad as _Bad
from grader.course.toml_checks import check_keys as _check_keys
from grader.course.toml_checks import string as _string
from grader.course.toml_checks import string_list as _string_list
from grader.course.toml_checks import table as _table

GPU_MODES = ("none", "optional", "required")

#: Folder names that are valid assignment ids (also keeps ids from escaping assignments/).
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Reference module names: plain Python identifiers (reference/<name>.py).
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: forbidden_imports entries: dotted module names.
_DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_PACKAGED_TEMPLATES = _PACKAGE_DIR / "_templates"
_SOURCE_COURSE = _PACKAGE_DIR.parent


class AssignmentError(Exception):
    """A course or assignment could not be found or read. The message is one line for people."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for grading one notebook (`[limits]` in assignment.toml)."""

    cell_seconds: float = 60  # wall time for one notebook cell
    notebook_seconds: float = 300  # wall time for all cells together
    call_seconds: float = 20  # wall time for one call from a test into the student's code
    memory_mb: int = 2048  # address space of the worker process
    max_processes: int = 64  # processes (and threads) the worker may have
    max_file_mb: int = 64  # largest file the worker may write
    max_restarts: int = 3  # worker restarts after crashes before the remaining tests fail
    cpus: int = 1  # CPU cores the worker may use (thread pools are sized to this)
    # The judge's own budgets (docs/security.md); past one, grading goes on without the student.
    tests_seconds: float = 600  # wall time for all the tests' calls together (restart replays included)
    total_seconds: float = 1200  # wall time for the whole grading: cells, tests and restarts
    received_mb: int = 1024  # bytes (reply headers and arrays) the judge accepts from the worker, whole grading
    text_kb: int = 2048  # student text (cell outputs) kept in the result over the whole notebook
    result_kb: int = 8192  # the largest result.json; cell outputs, then messages are cut to fit
    # Files that come with the notebook ([model]; docs/models.md), read by the judge only.
    model_file_mb: int = 256  # the largest weights file (safetensors) a submission may carry
    predictions_kb: int = 4096  # the largest predictions file (CSV id,label)


#: Metrics of `[model]`: what the judge computes from the predictions and the labels it keeps.
#: accuracy and macro_f1 grow with quality, loss (cross-entropy of the model's logits) shrinks.
#: Gradescope's test visibilities (results.json `visibility`).
GRADESCOPE_VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


@dataclass(frozen=True)
class LmsSettings:
    """`[lms]` in assignment.toml: how the assignment is known to the LMSs (grader.lms)."""

    canvas_assignment_id: int | None = None  # Canvas's assignment id (gradebook CSV header, grade push)
    #: Gradescope visibility of the hidden suite's tests (visible tests stay "visible").
    gradescope_hidden_visibility: str = "after_published"


@dataclass(frozen=True)
class Assignment:
    """One assignment's settings, read from `assignments/<id>/assignment.toml`."""

    id: str
    title: str
    root: Path  # assignments/<id>
    reference: str | None = None  # module name in reference/, given to tests as `reference`
    gpu: str = "none"  # none | optional | required
    forbidden_imports: tuple[str, ...] = ()  # top-level or dotted module names
    #: Modules refused, beside the ones a test names, in every `submission.refusing(...)` call
    #: (the by-hand calls): e.g. scipy, whose scipy.signal.correlate is a convolution.
    by_hand_forbids: tuple[str, ...] = ()
    due: str = ""  # ISO date or date-time; "" when unset
    datasets: tuple[str, ...] = ()  # names from grader.course.datasets
    #: Files shipped with the assignment (`[data] files`, relative to `root`) that the sandbox
    #: gets as data/<file name>, e.g. a pretrained checkpoint. Absolute paths here.
    public_files: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    #: `[late]`: the late policy of batch grading (grader.gradebook.scoring.LatePolicy).
    late: Any = None
    lms: LmsSettings = field(default_factory=LmsSettings)
    #: `[regrades]`: until when, and where, students may ask for a regrade
    #: (grader.regrades.links.RegradeSettings; empty: no regrade links).
    regrades: Any = None
    #: `[model]`: the trained model part, or None when the assignment takes no model files.
    model: ModelSettings | None = None
    #: The course root holding assignments/, reference/ and templates/; when not given,
    #: the folder two levels above `root` (course/assignments/<id>).
    course: Path = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.course is None:
            object.__setattr__(self, "course", Path(self.root).parent.parent)

    @property
    def public_tests(self) -> Path:
        """pytest files students may see and run with `grade check`."""
        return self.root / "tests" / "public"

    @property
    def hidden_tests(self) -> Path:
        """pytest files only the judge runs."""
        return self.root / "tests" / "hidden"

    @property
    def starter(self) -> Path:
        """The notebook students start from."""
        return self.root / "starter.ipynb"

    @property
    def solution(self) -> Path:
        """The reference solution notebook; it must score full marks."""
        return self.root / "solution.ipynb"

    @property
    def reference_path(self) -> Path | None:
        """reference/<reference>.py in the course root, or None when the assignment has none."""
        if self.reference is None:
            return None
        return self.course / "reference" / f"{self.reference}.py"


# --------------------------------------------------------------------------- course root


def course_root(course: Path | str | None = None) -> Path:
    """The course root (see the module docstring for the search order)."""
    if course is not None and str(course) != "":
        return _checked_dir(Path(course), "course folder")
    env = os.environ.get("DLGRADE_COURSE", "")
    if env:
        return _checked_dir(Path(env), "DLGRADE_COURSE")
    if (_SOURCE_COURSE / "assignments").is_dir():
        return _SOURCE_COURSE
    raise AssignmentError(
        "no course found: the dlgrade package holds none; set DLGRADE_COURSE (or pass --course) to a "
        "folder holding assignments/, or check a notebook with its kit (grade check NB --kit DIR)"
    )


def course_digest(course: Path | str | None = None) -> str:
    """sha256 over the course's assignments/ and reference/ files (names and bytes): which course
    a cluster worker grades with (grader.cluster) and which course a kit was built from (grader.kit)."""
    import hashlib

    root = course_root(course)
    skip = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
    h = hashlib.sha256()
    for part in ("assignments", "reference"):
        base = root / part
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or skip & set(rel.parts) or path.suffix == ".pyc":
                continue
            h.update(str(rel).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def templates_dir(course: Path | str | None = None) -> Path:
    """The templates/ folder for pages: the course's own, else the grader's (no course needed)."""
    explicit = (course is not None and str(course) != "") or bool(os.environ.get("DLGRADE_COURSE"))
    try:
        root: Path | None = course_root(course)
    except AssignmentError:
        if explicit:
            raise
        root = None
    if root is not None and (root / "templates").is_dir():
        return root / "templates"
    return grader_templates()


def grader_templates() -> Path:
    """The grader's own page templates: the wheel's copy, else the checkout's templates/."""
    for folder in (_PACKAGED_TEMPLATES, _SOURCE_COURSE / "templates"):
        if (folder / "feedback.html.j2").is_file():
            return folder
    raise AssignmentError(f"no page templates: neither {_PACKAGED_TEMPLATES} nor {_SOURCE_COURSE / 'templates'}")


def _checked_dir(path: Path, what: str) -> Path:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise AssignmentError(f"{what} {path} is not a directory")
    return path


# --------------------------------------------------------------------------- loading


def _known_ids(assignments_dir: Path) -> list[str]:
    if not assignments_dir.is_dir():
        return []
    return sorted(
        p.name for p in assignments_dir.iterdir() if p.is_dir() and (p / "assignment.toml").is_file()
    )


def list_assignments(course: Path | str | None = None) -> list[Assignment]:
    """Every assignment in the course, sorted by id. A broken assignment.toml raises."""
    root = course_root(course)
    return [load_assignment(i, root) for i in _known_ids(root / "assignments")]


def load_assignment(assignment_id: str, course: Path | str | None = None) -> Assignment:
    """Read and check assignments/<assignment_id>/assignment.toml."""
    root = course_root(course)
    assignments_dir = root / "assignments"
    folder = assignments_dir / str(assignment_id)
    toml_path = folder / "assignment.toml"
    if not _ID_RE.match(str(assignment_id)) or not toml_path.is_file():
        known = ", ".join(_known_ids(assignments_dir)) or "none"
        raise AssignmentError(f"unknown assignment {assignment_id!r} (known: {known}) in {assignments_dir}")
    try:
        with toml_path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise AssignmentError(f"{toml_path}: invalid TOML: {e}") from None
    except OSError as e:
        raise AssignmentError(f"{toml_path}: cannot read: {e.strerror or e}") from None
    return _parse(data, toml_path, str(assignment_id), folder.resolve(), root)


def assignment_id_of(notebook: Mapping[str, Any]) -> str | None:
    """`metadata.dlgrade.assignment` of a notebook (a dict or nbformat node), or None."""
    try:
        value = notebook.get("metadata", {}).get("dlgrade", {}).get("assignment")
    except AttributeError:
        return None
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------------- validation

_TOP_KEYS = ("id", "title", "reference", "gpu", "forbidden_imports", "by_hand_forbids", "due", "limits", "data",
             "late", "lms", "model", "regrades")
_DATA_KEYS = ("datasets", "files")
_FILE_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_LIMIT_FIELDS = {f.name: f for f in fields(Limits)}
_SECONDS = ("cell_seconds", "notebook_seconds", "call_seconds", "tests_seconds", "total_seconds")


def _limits(table: Mapping[str, Any]) -> Limits:
    _check_keys(table, tuple(_LIMIT_FIELDS), "limits.")
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"limits.{key}"
        if key in _SECONDS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise _Bad(f"{name} must be a positive number of seconds, not {value!r}")
            if not math.isfinite(value):
                raise _Bad(f"{name} must be finite, not {value!r}")
        else:
            minimum = 0 if key == "max_restarts" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                kind = "a non-negative integer" if minimum == 0 else "a positive integer"
                raise _Bad(f"{name} must be {kind}, not {value!r}")
        values[key] = value
    return Limits(**values)


def _lms(table: Mapping[str, Any]) -> LmsSettings:
    _check_keys(table, tuple(f.name for f in fields(LmsSettings)), "lms.")
    canvas = table.get("canvas_assignment_id")
    if canvas is not None and (isinstance(canvas, bool) or not isinstance(canvas, int) or canvas <= 0):
        raise _Bad(f"lms.canvas_assignment_id must be a positive integer (Canvas's id), not {canvas!r}")
    hidden = table.get("gradescope_hidden_visibility", LmsSettings.gradescope_hidden_visibility)
    if hidden not in GRADESCOPE_VISIBILITIES:
        raise _Bad(f"lms.gradescope_hidden_visibility must be one of {', '.join(GRADESCOPE_VISIBILITIES)}, "
                   f"not {hidden!r}")
    return LmsSettings(canvas_assignment_id=canvas, gradescope_hidden_visibility=hidden)





def _due(value: Any) -> str:
    due = _string(value, "due").strip()
    if due:
        try:
            if "T" in due or " " in due:
                _dt.datetime.fromisoformat(due)
            else:
                _dt.date.fromisoformat(due)
        except ValueError:
            raise _Bad(
                f"due must be an ISO date like 2026-12-01 or 2026-12-01T23:59:00, not {due!r}"
            ) from None
    return due


def _datasets(value: Any) -> tuple[str, ...]:
    names = _string_list(value, "data.datasets", _MODULE_RE, "a dataset name")
    from grader.course.datasets import BUILDERS  # local import: keeps this module light

    for name in names:
        if name not in BUILDERS:
            raise _Bad(f"data.datasets: unknown dataset {name!r} (known: {', '.join(sorted(BUILDERS))})")
    return names


def _public_files(value: Any, root: Path, datasets: tuple[str, ...]) -> tuple[Path, ...]:
    """`[data] files`: paths below the assignment folder, outside tests/, with distinct file names."""
    entries = _string_list(value, "data.files", _FILE_RE, "a relative path such as 'data/weights.pt'")
    taken = {f"{name}_train.npz": f"dataset {name!r}" for name in datasets}
    out = []
    for entry in entries:
        parts = entry.split("/")
        if ".." in parts or "." in parts:
            raise _Bad(f"data.files: {entry!r} must stay inside the assignment folder")
        if parts[0] == "tests":
            raise _Bad(f"data.files: {entry!r} is a test file; tests never enter the sandbox")
        path = root / entry
        if not path.is_file():
            raise _Bad(f"data.files: no file {path}")
        name = parts[-1]
        if name in taken:
            raise _Bad(f"data.files: {entry!r} would be written as data/{name}, like {taken[name]}")
        taken[name] = repr(entry)
        out.append(path)
    return tuple(out)


def _late(table: Mapping[str, Any], due: str) -> Any:
    from grader.gradebook.scoring import parse_late  # pure and light; the rules live there

    try:
        return parse_late(table, due)
    except ValueError as e:
        raise _Bad(str(e)) from None


def _regrades(table: Mapping[str, Any]) -> Any:
    from grader.regrades.links import parse_regrades  # pure; the rules live there

    try:
        return parse_regrades(table)
    except ValueError as e:
        raise _Bad(str(e)) from None


def _parse(data: dict[str, Any], path: Path, folder_id: str, root: Path, course: Path) -> Assignment:
    try:
        _check_keys(data, _TOP_KEYS, "")
        aid = _string(data.get("id", folder_id), "id")
        if aid != folder_id:
            raise _Bad(f"id = {aid!r} does not match the folder name {folder_id!r}")
        title = _string(data.get("title", folder_id), "title").strip() or folder_id

        reference = data.get("reference")
        if reference is not None:
            reference = _string(reference, "reference")
            if reference == "":
                reference = None
            elif not _MODULE_RE.match(reference):
                raise _Bad(f"reference must be a module name in reference/, not {reference!r}")
            elif not (course / "reference" / f"{reference}.py").is_file():
                raise _Bad(f"reference {reference!r}: no file {course / 'reference' / (reference + '.py')}")

        gpu = _string(data.get("gpu", "none"), "gpu")
        if gpu not in GPU_MODES:
            raise _Bad(f"gpu must be one of {', '.join(GPU_MODES)}, not {gpu!r}")

        forbidden = _string_list(
            data.get("forbidden_imports", []), "forbidden_imports", _DOTTED_RE, "a module name"
        )
        by_hand = _string_list(
            data.get("by_hand_forbids", []), "by_hand_forbids", _DOTTED_RE, "a module name"
        )
        due = _due(data.get("due", ""))
        limits = _limits(_table(data.get("limits", {}), "limits"))

        data_table = _table(data.get("data", {}), "data")
        _check_keys(data_table, _DATA_KEYS, "data.")
        datasets = _datasets(data_table.get("datasets", []))
        public_files = _public_files(data_table.get("files", []), root, datasets)
        late = _late(_table(data.get("late", {}), "late"), due)
        lms = _lms(_table(data.get("lms", {}), "lms"))
        regrades = _regrades(_table(data.get("regrades", {}), "regrades"))
        model = parse_model(_table(data["model"], "model"), datasets) if "model" in data else None
    except _Bad as e:
        raise AssignmentError(f"{path}: {e}") from None

    return Assignment(
        id=aid,
        title=title,
        root=root,
        course=course,
        reference=reference,
        gpu=gpu,
        forbidden_imports=forbidden,
        by_hand_forbids=by_hand,
        due=due,
        datasets=datasets,
        public_files=public_files,
        limits=limits,
        late=late,
        lms=lms,
        regrades=regrades,
        model=model,
    )
