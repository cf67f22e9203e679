"""The wheel carries the course (grader/_course/), and both installs find their course.

Builds the wheel from this checkout, installs it with `pip install --target`, and imports it
in a fresh interpreter from another folder, without DLGRADE_COURSE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def course_files(root: Path) -> set[str]:
    """Course files under root (assignments, reference, templates) that belong in the wheel.

    In a git checkout these are the tracked and untracked-but-not-ignored files (hatchling
    honours .gitignore), less the build excludes in pyproject.toml.
    """
    tops = ("assignments", "reference", "templates")
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z", "--", *tops],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        listed = proc.stdout.split("\0") if proc.returncode == 0 else None
    except OSError:
        listed = None
    if listed is None:
        listed = [
            p.relative_to(root).as_posix()
            for top in tops
            if (root / top).is_dir()
            for p in (root / top).rglob("*")
        ]
    return {
        rel
        for rel in listed
        if rel
        and (root / rel).is_file()
        and not SKIP_PARTS & set(Path(rel).parts)
        and not rel.endswith(".pyc")
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DLGRADE_COURSE", "PYTHONPATH")}
    env.update(extra)
    return env


def probe(cwd: Path, env: dict[str, str]) -> dict:
    """Import grader in a fresh interpreter and report where it finds things."""
    code = r"""
import json, grader, grader.course.assignment as A
out = {"grader": grader.__file__, "course": str(A.course_root()), "templates": str(A.templates_dir())}
ids = [a.id for a in A.list_assignments()]
out["ids"] = ids
if "backprop" in ids:
    a = A.load_assignment("backprop")
    out["hidden"] = str(a.hidden_tests)
    out["hidden_exists"] = a.hidden_tests.is_dir()
    out["reference_path"] = str(a.reference_path) if a.reference_path else None
print(json.dumps(out))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("dlgrade-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return target


def test_wheel_metadata(wheel):
    import grader

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
        entry_points = zf.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert f"Version: {grader.__version__}" in metadata
    assert "Requires-Dist: torch==2.13.0" in metadata
    assert "grade = grader.cli:main" in entry_points
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("assignments/", "reference/", "templates/", "tests/"))]


def test_wheel_carries_the_course(wheel):
    with zipfile.ZipFile(wheel) as zf:
        packaged = {
            n.removeprefix("grader/_course/") for n in zf.namelist() if n.startswith("grader/_course/")
        }
    assert packaged == course_files(REPO)


def test_installed_wheel_finds_packaged_course(installed, tmp_path):
    if not any(f.startswith("assignments/") for f in course_files(REPO)):
        pytest.skip("the checkout has no assignments yet, so the wheel carries no course")
    course = (installed / "grader" / "_course").resolve()
    out = probe(tmp_path, clean_env(PYTHONPATH=str(installed)))
    assert Path(out["grader"]).resolve().is_relative_to(installed.resolve())
    assert Path(out["course"]) == course
    assert Path(out["templates"]) == course / "templates"
    if (REPO / "templates").is_dir() and any((REPO / "templates").iterdir()):
        assert (course / "templates").is_dir()
    source_ids = sorted(p.parent.name for p in (REPO / "assignments").glob("*/assignment.toml"))
    assert out["ids"] == source_ids
    if "backprop" in source_ids:
        assert Path(out["hidden"]).is_relative_to(course)
        if any((REPO / "assignments" / "backprop" / "tests" / "hidden").glob("*.py")):
            assert out["hidden_exists"]
        if out["reference_path"]:
            assert Path(out["reference_path"]).is_relative_to(course)
            assert Path(out["reference_path"]).is_file()


def test_env_beats_packaged_course(installed, tmp_path):
    course = tmp_path / "course"
    (course / "assignments" / "solo").mkdir(parents=True)
    (course / "assignments" / "solo" / "assignment.toml").write_text('title = "Solo"\n')
    out = probe(tmp_path, clean_env(PYTHONPATH=str(installed), DLGRADE_COURSE=str(course)))
    assert Path(out["course"]) == course.resolve()
    assert out["ids"] == ["solo"]


def test_source_checkout_resolution(tmp_path):
    """PYTHONPATH=<checkout>, as an editable install does: the checkout is the course."""
    if (REPO / "grader" / "_course").exists():
        pytest.skip("a packaged course copy sits in the source tree")
    out = probe(tmp_path, clean_env(PYTHONPATH=str(REPO)))
    assert Path(out["grader"]).resolve() == REPO / "grader" / "__init__.py"
    assert Path(out["course"]) == REPO
    assert Path(out["templates"]) == REPO / "templates"
    if "backprop" in out["ids"]:
        assert Path(out["hidden"]) == REPO / "assignments" / "backprop" / "tests" / "hidden"


def test_editable_install_resolution(tmp_path):
    """The venv's own install (make venv: pip install -e), imported from another folder."""
    from importlib import metadata

    try:
        dist = metadata.distribution("dlgrade")
    except metadata.PackageNotFoundError:
        pytest.skip("dlgrade is not installed in this environment")
    direct_url = dist.read_text("direct_url.json")
    if not direct_url or not json.loads(direct_url).get("dir_info", {}).get("editable"):
        pytest.skip("dlgrade is installed, but not editable")
    out = probe(tmp_path, clean_env())
    assert Path(out["grader"]).resolve() == REPO / "grader" / "__init__.py"
    assert Path(out["course"]) == REPO
