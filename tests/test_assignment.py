"""grader.course.assignment: finding the course, reading assignment.toml, and its errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from grader.course import assignment as A
from grader.course.assignment import (
    Assignment,
    AssignmentError,
    Limits,
    assignment_id_of,
    course_root,
    list_assignments,
    load_assignment,
    templates_dir,
)

REPO = Path(__file__).resolve().parent.parent


def make_course(root: Path, assignments: dict[str, str], references: tuple[str, ...] = ()) -> Path:
    """A course folder with one assignment.toml per id, reference modules and templates/."""
    for aid, text in assignments.items():
        folder = root / "assignments" / aid
        (folder / "tests" / "public").mkdir(parents=True)
        (folder / "tests" / "hidden").mkdir(parents=True)
        (folder / "assignment.toml").write_text(text, encoding="utf-8")
    (root / "reference").mkdir(parents=True, exist_ok=True)
    for name in references:
        (root / "reference" / f"{name}.py").write_text("X = 1\n", encoding="utf-8")
    (root / "templates").mkdir(exist_ok=True)
    return root


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("DLGRADE_COURSE", raising=False)


def load_one(tmp_path: Path, text: str, aid: str = "demo", references=("demo",)) -> Assignment:
    course = make_course(tmp_path / "course", {aid: text}, references)
    return load_assignment(aid, course)


def error_of(tmp_path: Path, text: str, aid: str = "demo") -> str:
    with pytest.raises(AssignmentError) as info:
        load_one(tmp_path, text, aid)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(tmp_path / "course" / "assignments" / aid / "assignment.toml") in message, message
    return message


# --------------------------------------------------------------------------- the documented format


def documented_toml() -> str:
    text = (REPO / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/authoring.md has no ```toml block"
    return blocks[0]


def test_documented_example_loads(tmp_path):
    a = load_one(tmp_path, documented_toml(), aid="backprop", references=("backprop",))
    assert a.id == "backprop"
    assert a.title == "Backpropagation by hand"
    assert a.reference == "backprop"
    assert a.gpu == "none"
    assert a.forbidden_imports == ("torch", "tensorflow", "jax", "autograd")
    assert a.due == ""
    assert a.datasets == ("digits",)
    assert a.limits == Limits()  # the documented values are the defaults


def test_defaults_documented_match_code():
    """Every [limits] key in docs/authoring.md exists in Limits, with the same default."""
    text = documented_toml()
    limits = dict(re.findall(r"^(\w+) = (\d+)", text.split("[limits]")[1].split("[")[0], flags=re.M))
    defaults = {f.name: f.default for f in dataclasses.fields(Limits)}
    for key, value in limits.items():
        assert defaults[key] == int(value), key


@pytest.mark.skipif(
    not (REPO / "assignments" / "backprop" / "assignment.toml").is_file(),
    reason="assignments/backprop/assignment.toml not written yet",
)
def test_real_backprop(no_env):
    a = load_assignment("backprop")
    assert a.id == "backprop"
    assert a.course == course_root()
    assert a.root == course_root() / "assignments" / "backprop"
    assert a.public_tests.is_dir()
    assert a.hidden_tests.is_dir()
    assert a.gpu in A.GPU_MODES
    if a.reference is not None:
        assert a.reference_path is not None and a.reference_path.is_file()
    assert "backprop" in [x.id for x in list_assignments()]


# --------------------------------------------------------------------------- defaults and properties


def test_empty_file_means_all_defaults(tmp_path):
    a = load_one(tmp_path, "")
    assert a.id == "demo"
    assert a.title == "demo"
    assert a.reference is None and a.reference_path is None
    assert a.gpu == "none"
    assert a.forbidden_imports == ()
    assert a.due == ""
    assert a.datasets == ()
    assert a.limits == Limits()


def test_limits_defaults():
    limits = Limits()
    assert (limits.cell_seconds, limits.notebook_seconds, limits.call_seconds) == (60, 300, 20)
    assert (limits.memory_mb, limits.max_processes, limits.max_file_mb) == (2048, 64, 64)
    assert (limits.max_restarts, limits.cpus) == (3, 1)


def test_partial_limits_keep_other_defaults(tmp_path):
    a = load_one(tmp_path, "[limits]\ncell_seconds = 1.5\nmemory_mb = 512\ncpus = 2\nmax_restarts = 0\n")
    assert a.limits == Limits(cell_seconds=1.5, memory_mb=512, cpus=2, max_restarts=0)


def test_paths(tmp_path):
    a = load_one(tmp_path, 'reference = "demo"\n')
    course = (tmp_path / "course").resolve()
    assert a.course == course
    assert a.root == course / "assignments" / "demo"
    assert a.public_tests == a.root / "tests" / "public"
    assert a.hidden_tests == a.root / "tests" / "hidden"
    assert a.starter == a.root / "starter.ipynb"
    assert a.solution == a.root / "solution.ipynb"
    assert a.reference_path == course / "reference" / "demo.py"


def test_frozen(tmp_path):
    a = load_one(tmp_path, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.limits.cell_seconds = 1  # type: ignore[misc]


def test_course_defaults_from_root(tmp_path):
    a = Assignment(id="x", title="X", root=tmp_path / "assignments" / "x")
    assert a.course == tmp_path


def test_full_settings(tmp_path):
    a = load_one(
        tmp_path,
        'id = "demo"\ntitle = "  Demo  "\ngpu = "optional"\ndue = "2026-12-01T23:59:00"\n'
        'forbidden_imports = ["torch", "torch", "os.path"]\n[data]\ndatasets = []\n',
    )
    assert a.title == "Demo"
    assert a.gpu == "optional"
    assert a.due == "2026-12-01T23:59:00"
    assert a.forbidden_imports == ("torch", "os.path")


# --------------------------------------------------------------------------- errors


def test_unknown_id(tmp_path):
    course = make_course(tmp_path / "course", {"beta": "", "alpha": ""})
    with pytest.raises(AssignmentError) as info:
        load_assignment("foo", course)
    assert str(info.value) == (
        f"unknown assignment 'foo' (known: alpha, beta) in {(tmp_path / 'course').resolve() / 'assignments'}"
    )


@pytest.mark.parametrize("bad", ["../course", "", ".", "a/b", "alpha/../alpha"])
def test_ids_cannot_escape(tmp_path, bad):
    course = make_course(tmp_path / "course", {"alpha": ""})
    with pytest.raises(AssignmentError, match="unknown assignment"):
        load_assignment(bad, course)


def test_folder_without_toml_is_unknown(tmp_path):
    course = make_course(tmp_path / "course", {"alpha": ""})
    (course / "assignments" / "notes").mkdir()
    with pytest.raises(AssignmentError, match=r"known: alpha\)"):
        load_assignment("notes", course)
    assert [a.id for a in list_assignments(course)] == ["alpha"]


def test_bad_toml(tmp_path):
    message = error_of(tmp_path, 'title = "unterminated\n')
    assert "invalid TOML" in message


def test_unknown_top_level_key(tmp_path):
    message = error_of(tmp_path, 'titel = "x"\n')
    assert "unknown key 'titel'" in message
    assert "'title'" in message  # suggestion


def test_unknown_limits_key(tmp_path):
    message = error_of(tmp_path, "[limits]\ncell_secs = 3\n")
    assert "unknown key 'limits.cell_secs'" in message
    assert "limits.cell_seconds" in message


def test_unknown_data_key(tmp_path):
    assert "unknown key 'data.dataset'" in error_of(tmp_path, '[data]\ndataset = ["digits"]\n')


def test_unknown_key_without_close_match_lists_allowed(tmp_path):
    message = error_of(tmp_path, "zzz = 1\n")
    assert "allowed:" in message and "forbidden_imports" in message


@pytest.mark.parametrize(
    "text, words",
    [
        ('gpu = "yes"\n', "gpu must be one of none, optional, required"),
        ("gpu = true\n", "gpu must be a string"),
        ("title = 3\n", "title must be a string"),
        ('id = "other"\n', "does not match the folder name"),
        ('forbidden_imports = "torch"\n', "forbidden_imports must be a list"),
        ("forbidden_imports = [1]\n", "forbidden_imports must be a list of strings"),
        ('forbidden_imports = ["not a module"]\n', "is not a module name"),
        ('due = "tomorrow"\n', "due must be an ISO date"),
        ('reference = "missing"\n', "no file"),
        ('reference = "../x"\n', "reference must be a module name"),
        ("limits = 3\n", "limits must be a table"),
        ('[limits]\nmemory_mb = "2G"\n', "limits.memory_mb must be a positive integer"),
        ("[limits]\nmemory_mb = 0\n", "limits.memory_mb must be a positive integer"),
        ("[limits]\nmemory_mb = 1.5\n", "limits.memory_mb must be a positive integer"),
        ("[limits]\ncpus = true\n", "limits.cpus must be a positive integer"),
        ("[limits]\nmax_restarts = -1\n", "limits.max_restarts must be a non-negative integer"),
        ("[limits]\ncell_seconds = 0\n", "limits.cell_seconds must be a positive number"),
        ("[limits]\ncell_seconds = true\n", "limits.cell_seconds must be a positive number"),
        ("[limits]\ncall_seconds = inf\n", "limits.call_seconds must be finite"),
        ('[data]\ndatasets = ["mnist"]\n', "unknown dataset 'mnist'"),
        ('[data]\ndatasets = "digits"\n', "data.datasets must be a list"),
    ],
)
def test_bad_values(tmp_path, text, words):
    assert words in error_of(tmp_path, text)


# --------------------------------------------------------------------------- course root resolution


def test_source_checkout(no_env):
    if not (REPO / "assignments").is_dir():
        pytest.skip("no assignments/ in the checkout")
    assert course_root() == REPO
    assert templates_dir() == REPO / "templates"


def test_env_override(tmp_path, monkeypatch):
    course = make_course(tmp_path / "envcourse", {"only": 'title = "From env"\n'})
    monkeypatch.setenv("DLGRADE_COURSE", str(course))
    assert course_root() == course.resolve()
    assert templates_dir() == course.resolve() / "templates"
    assert load_assignment("only").title == "From env"
    assert [a.id for a in list_assignments()] == ["only"]


def test_explicit_course_beats_env(tmp_path, monkeypatch):
    env_course = make_course(tmp_path / "env", {"a": ""})
    arg_course = make_course(tmp_path / "arg", {"b": ""})
    monkeypatch.setenv("DLGRADE_COURSE", str(env_course))
    assert course_root(arg_course) == arg_course.resolve()
    assert course_root(str(arg_course)) == arg_course.resolve()
    assert load_assignment("b", arg_course).course == arg_course.resolve()
    with pytest.raises(AssignmentError, match=r"unknown assignment 'a' \(known: b\)"):
        load_assignment("a", arg_course)


def test_empty_env_is_ignored(monkeypatch):
    monkeypatch.setenv("DLGRADE_COURSE", "")
    monkeypatch.setattr(A, "_SOURCE_COURSE", REPO)
    if (REPO / "assignments").is_dir():
        assert course_root() == REPO


def test_the_package_holds_no_course(tmp_path, monkeypatch, no_env):
    """A course copy inside the installed package is never used: the wheel ships none."""
    make_course(tmp_path / "grader" / "_course", {"p": ""})
    monkeypatch.setattr(A, "_PACKAGE_DIR", tmp_path / "grader")
    source = make_course(tmp_path / "src", {"s": ""})
    monkeypatch.setattr(A, "_SOURCE_COURSE", source)
    assert course_root() == source


def test_no_course_found(tmp_path, monkeypatch, no_env):
    monkeypatch.setattr(A, "_SOURCE_COURSE", tmp_path / "b")
    with pytest.raises(AssignmentError, match="DLGRADE_COURSE"):
        course_root()
    # Pages still render without a course: the grader's own templates.
    monkeypatch.setattr(A, "_PACKAGED_TEMPLATES", REPO / "templates")
    assert templates_dir() == REPO / "templates"


@pytest.mark.parametrize("where", ["arg", "env"])
def test_missing_course_dir(tmp_path, monkeypatch, where):
    missing = tmp_path / "nope"
    if where == "env":
        monkeypatch.setenv("DLGRADE_COURSE", str(missing))
        call = course_root
    else:
        monkeypatch.delenv("DLGRADE_COURSE", raising=False)

        def call():
            return course_root(missing)

    with pytest.raises(AssignmentError, match="is not a directory"):
        call()


def test_course_without_assignments_folder(tmp_path):
    with pytest.raises(AssignmentError, match=r"unknown assignment 'x' \(known: none\)"):
        load_assignment("x", tmp_path)


# --------------------------------------------------------------------------- notebook metadata


def test_assignment_id_of():
    assert assignment_id_of({"metadata": {"dlgrade": {"assignment": "backprop"}}}) == "backprop"
    assert assignment_id_of({"metadata": {"dlgrade": {}}}) is None
    assert assignment_id_of({"metadata": {}}) is None
    assert assignment_id_of({}) is None
    assert assignment_id_of({"metadata": {"dlgrade": {"assignment": 3}}}) is None
    assert assignment_id_of({"metadata": {"dlgrade": "backprop"}}) is None
    assert assignment_id_of({"metadata": {"dlgrade": {"assignment": ""}}}) is None


def test_assignment_id_of_nbformat_node():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["dlgrade"] = {"assignment": "backprop"}
    assert assignment_id_of(nb) == "backprop"
    assert assignment_id_of(nbformat.v4.new_notebook()) is None
