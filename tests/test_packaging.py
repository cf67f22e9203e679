"""The wheel is the grader only: no course in it; the course is found from the checkout or
DLGRADE_COURSE.

Builds the wheel from this checkout, installs it with `pip install --target`, and imports it
in a fresh interpreter from another folder; then installs it with its dependencies into a fresh
virtual environment (real pip, the pinned CPU torch included) and grades a kit's starter and a
finished notebook there, as a student would.
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


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DLGRADE_COURSE", "PYTHONPATH")}
    env.update(extra)
    return env


def probe(cwd: Path, env: dict[str, str]) -> dict:
    """Import grader in a fresh interpreter and report where it finds things."""
    code = r"""
import json, grader, grader.course.assignment as A
out = {"grader": grader.__file__, "templates": str(A.templates_dir())}
try:
    out["course"] = str(A.course_root())
except A.AssignmentError as e:
    out["course"] = None
    out["error"] = str(e)
    print(json.dumps(out))
    raise SystemExit(0)
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


def secret_files(root: Path) -> dict[str, bytes]:
    """The course's secret files in this checkout: hidden tests, solutions, reference modules."""
    found = {}
    for path in sorted((root / "assignments").glob("*/tests/hidden/**/*.py")):
        found[path.relative_to(root).as_posix()] = path.read_bytes()
    for path in sorted((root / "assignments").glob("*/solution.ipynb")):
        found[path.relative_to(root).as_posix()] = path.read_bytes()
    for path in sorted((root / "reference").glob("*.py")):
        found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def test_wheel_holds_no_course(wheel):
    """No hidden test, solution notebook, reference module or held-out file, by name or by bytes."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        contents = {n: zf.read(n) for n in names}
    assert not [n for n in names if "_course/" in n or "/assignments/" in n or "/reference/" in n]
    assert not [n for n in names if n.endswith((".ipynb", ".npz", ".pt"))]
    assert not [n for n in names if "/tests/hidden/" in n or "/tests/public/" in n]
    secrets = secret_files(REPO)
    assert secrets, "the checkout has no course to compare with"
    by_bytes = {data: rel for rel, data in secrets.items()}
    assert not [(n, by_bytes[d]) for n, d in contents.items() if d in by_bytes]
    hidden_names = {Path(rel).name for rel in secrets if "/tests/hidden/" in rel}
    assert not [n for n in names if Path(n).name in hidden_names]
    # Not secret, and needed without a course: the page templates and the sandbox's Dockerfile.
    assert "grader/_templates/feedback.html.j2" in names
    assert "grader/_sandbox/Dockerfile" in names


def test_installed_wheel_has_no_course(installed, tmp_path):
    out = probe(tmp_path, clean_env(PYTHONPATH=str(installed)))
    assert Path(out["grader"]).resolve().is_relative_to(installed.resolve())
    assert out["course"] is None and "DLGRADE_COURSE" in out["error"]
    assert Path(out["templates"]) == (installed / "grader" / "_templates").resolve()


def test_installed_wheel_finds_the_course_from_env(installed, tmp_path):
    course = tmp_path / "course"
    (course / "assignments" / "solo").mkdir(parents=True)
    (course / "assignments" / "solo" / "assignment.toml").write_text('title = "Solo"\n')
    out = probe(tmp_path, clean_env(PYTHONPATH=str(installed), DLGRADE_COURSE=str(course)))
    assert Path(out["course"]) == course.resolve()
    assert out["ids"] == ["solo"]


def test_source_checkout_resolution(tmp_path):
    """PYTHONPATH=<checkout>, as an editable install does: the checkout is the course."""
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


# --------------------------------------------------------------------------- a student's install


STUDENT_PROBE = r"""
import json, sys
from importlib import metadata
from packaging.requirements import Requirement
import grader, torch
dist = metadata.distribution("dlgrade")
unmet = []
for line in dist.requires or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        unmet.append(f"{req.name}: missing")
        continue
    if not req.specifier.contains(have, prereleases=True) and not req.specifier.contains(have.split("+")[0]):
        unmet.append(f"{req.name}: {have} is not {req.specifier}")
print(json.dumps({"grader": grader.__file__, "torch": torch.__version__, "unmet": unmet,
                  "dist": str(dist.locate_file(""))}))
"""


@pytest.fixture(scope="module")
def student_venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and all its dependencies installed by real pip,
    from the package index and find-links pip is configured with (as `make venv` installs them:
    the pinned CPU torch included).

    `--no-compile`: pip writes no .pyc files (Python compiles what it imports, when it imports
    it); compiling all of torch was most of the install's time (about 4 of its 5 minutes here).
    """
    venv = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
                           str(wheel)], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return venv


def test_a_student_installs_the_wheel_and_checks_with_a_kit(student_venv, tmp_path):
    """pip install dlgrade + a kit, nothing else: `grade check` on the starter and on a finished
    notebook, from the kit's folder, gives the public tests' verdicts with their messages."""
    from grader.course.assignment import load_assignment
    from grader.kit.build import write_kit

    env = clean_env()
    proc = subprocess.run([str(student_venv / "bin" / "python"), "-c", STUDENT_PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe_out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(probe_out["grader"]).resolve().is_relative_to(student_venv.resolve())
    assert probe_out["torch"].split("+")[0] == "2.13.0" and not probe_out["unmet"], probe_out

    kit = write_kit(load_assignment("backprop", REPO), tmp_path / "backprop-kit")
    (kit / "mine.ipynb").write_bytes((REPO / "assignments" / "backprop" / "solution.ipynb").read_bytes())
    grade = [str(student_venv / "bin" / "grade"), "check"]
    starter = subprocess.run([*grade, kit / "backprop.ipynb", "--out", tmp_path / "o1"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert starter.returncode == 0, starter.stderr[-3000:]
    lines = starter.stdout.splitlines()
    assert "Score: 0 / 5  (5 error)" in lines, lines
    assert "  ERROR test_relu_small (0/1): relu_forward(...) raised NotImplementedError (cell 6)" in lines
    assert len([ln for ln in lines if ln.startswith("  ERROR test_")]) == 5
    finished = subprocess.run([*grade, kit / "mine.ipynb", "--out", tmp_path / "o2"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.splitlines()[0] == "Score: 5 / 5  (5 passed)", finished.stdout
    result = json.loads((tmp_path / "o2" / "result.json").read_text())
    assert [t["suite"] for t in result["tests"]] == ["public"] * 5
