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
import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from grader.course.proof_settings import ProofSettings, parse_proof

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
MODEL_METRICS = ("accuracy", "macro_f1", "loss")


@dataclass(frozen=True)
class ModelSettings:
    """`[model]` in assignment.toml: a trained model (weights and/or predictions) scored on held-out
    data the judge keeps, with grade cutoffs (docs/models.md). Absent: the assignment takes no model."""

    #: The weights file a submission carries next to its notebook ("" = none): safetensors only.
    weights: str = ""
    #: The predictions file ("" = none): CSV `id,label` over the test inputs of `grade data`.
    predictions: str = ""
    builder: str = "build_model"  # notebook function returning the untrained torch.nn.Module for the weights
    max_parameters: int = 1_000_000  # the most values the weights file may hold (parameters and buffers)
    metric: str = "accuracy"  # accuracy | macro_f1 | loss (needs weights: it reads the logits)
    dataset: str = ""  # the held-out set: a name of [data] datasets
    input_shape: tuple[int, ...] = ()  # one input as the model takes it, e.g. [1, 8, 8]; () = as stored
    batch_size: int = 128  # held-out inputs per call into the model (each call under call_seconds)
    #: (metric value, fraction of `points`) pairs, in order of growing quality; linear between
    #: them, the first fraction below the first value and the last one above the last.
    cutoffs: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 1.0))
    points: float = 10.0  # what the model part is worth
    #: The share of the held-out rows in the public part (its score is shown before the due
    #: date); the rest is private and decides the grade. Which rows: fixed by the course secret.
    public_fraction: float = 0.3
    #: Whether students may choose their leaderboard pseudonym (notebook metadata dlgrade.pseudonym).
    pseudonyms: bool = True
    #: `[model.proof]`: replay segments of the student's checkpointed training (None: no proof asked).
    proof: ProofSettings | None = None

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger metric value is a better model."""
        return self.metric != "loss"


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


class _Bad(Exception):
    pass


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f" (allowed: {', '.join(allowed)})"
            raise _Bad(f"unknown key '{prefix}{key}'{hint}")


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{key} must be a string, not {_type(value)}")
    return value


def _string_list(value: Any, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad(f"{key} must be a list of strings, not {_type(value)}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise _Bad(f"{key} must be a list of strings; found {_type(item)} {item!r}")
        if not pattern.match(item):
            raise _Bad(f"{key}: {item!r} is not {what}")
        if item not in out:
            out.append(item)
    return tuple(out)


def _type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{key} must be a table ([{key}]), not {_type(value)}")
    return value


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


_MODEL_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def _positive(value: Any, key: str, integer: bool = True) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0 or not math.isfinite(value):
        raise _Bad(f"{key} must be a positive {'integer' if integer else 'number'}, not {value!r}")
    return value


def _model(table: Mapping[str, Any], datasets: tuple[str, ...]) -> ModelSettings:
    """`[model]`: see ModelSettings and docs/models.md."""
    _check_keys(table, tuple(f.name for f in fields(ModelSettings)), "model.")
    d = ModelSettings()
    weights = _string(table.get("weights", d.weights), "model.weights")
    predictions = _string(table.get("predictions", d.predictions), "model.predictions")
    if not weights and not predictions:
        raise _Bad("[model] needs weights = \"model.safetensors\" and/or predictions = \"predictions.csv\"")
    for key, name in (("weights", weights), ("predictions", predictions)):
        if name and not _MODEL_FILE_RE.match(name):
            raise _Bad(f"model.{key} must be a plain file name, not {name!r}")
    if weights and not weights.endswith(".safetensors"):
        raise _Bad(f"model.weights must end in .safetensors (pickle-based formats are never loaded), not {weights!r}")
    if predictions and not predictions.endswith(".csv"):
        raise _Bad(f"model.predictions must end in .csv, not {predictions!r}")
    builder = _string(table.get("builder", d.builder), "model.builder")
    if not _MODULE_RE.match(builder):
        raise _Bad(f"model.builder must be a function name, not {builder!r}")
    metric = _string(table.get("metric", d.metric), "model.metric")
    if metric not in MODEL_METRICS:
        raise _Bad(f"model.metric must be one of {', '.join(MODEL_METRICS)}, not {metric!r}")
    if metric == "loss" and not weights:
        raise _Bad("model.metric = \"loss\" reads the model's logits: it needs model.weights")
    dataset = _string(table.get("dataset", d.dataset), "model.dataset")
    if dataset not in datasets:
        raise _Bad(f"model.dataset must be one of [data] datasets ({', '.join(datasets) or 'none declared'}), "
                   f"not {dataset!r}")
    shape = table.get("input_shape", [])
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            type(n) is int and n > 0 for n in shape):
        raise _Bad(f"model.input_shape must be a list of positive integers, not {shape!r}")
    cutoffs = _cutoffs(table.get("cutoffs", [list(c) for c in d.cutoffs]), metric != "loss")
    fraction = table.get("public_fraction", d.public_fraction)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise _Bad(f"model.public_fraction must be a number between 0 and 1 (exclusive), not {fraction!r}")
    pseudonyms = table.get("pseudonyms", d.pseudonyms)
    if not isinstance(pseudonyms, bool):
        raise _Bad(f"model.pseudonyms must be true or false, not {pseudonyms!r}")
    return ModelSettings(
        weights=weights, predictions=predictions, builder=builder,
        max_parameters=_positive(table.get("max_parameters", d.max_parameters), "model.max_parameters"),
        metric=metric, dataset=dataset, input_shape=tuple(shape),
        batch_size=_positive(table.get("batch_size", d.batch_size), "model.batch_size"),
        cutoffs=cutoffs, points=float(_positive(table.get("points", d.points), "model.points", integer=False)),
        public_fraction=float(fraction), pseudonyms=pseudonyms, proof=_proof(table.get("proof"), weights))


def _proof(value: Any, weights: str) -> ProofSettings | None:
    if value is None:
        return None
    if not weights:
        raise _Bad("[model.proof] replays training: it needs model.weights")
    try:
        return parse_proof(_table(value, "model.proof"))
    except ValueError as e:
        raise _Bad(str(e)) from None


def _cutoffs(value: Any, higher_is_better: bool) -> tuple[tuple[float, float], ...]:
    """[[metric, fraction], ...]: metric strictly better each step, fraction in [0, 1], never falling."""
    how = "a list of [metric value, fraction of the points] pairs"
    if not isinstance(value, list) or not value or len(value) > 50:
        raise _Bad(f"model.cutoffs must be {how} (1 to 50 of them), not {value!r}")
    out: list[tuple[float, float]] = []
    for pair in value:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in pair)):
            raise _Bad(f"model.cutoffs must be {how}; found {pair!r}")
        metric, fraction = float(pair[0]), float(pair[1])
        if not 0 <= fraction <= 1:
            raise _Bad(f"model.cutoffs: the fraction of {pair!r} must be between 0 and 1")
        if out:
            better = metric > out[-1][0] if higher_is_better else metric < out[-1][0]
            if not better or fraction < out[-1][1]:
                order = "grow" if higher_is_better else "fall (the metric is a loss)"
                raise _Bad(f"model.cutoffs: the metric values must {order} and the fractions never fall; "
                           f"{pair!r} follows {list(out[-1])!r}")
        out.append((metric, fraction))
    return tuple(out)


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
        model = _model(_table(data["model"], "model"), datasets) if "model" in data else None
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
