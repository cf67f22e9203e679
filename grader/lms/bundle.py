"""What a Gradescope zip and a PrairieLearn image context share.

- the grader itself: the `grader` package's source (without the packaged course), installed by
  copying it into a venv's site-packages and made root-only there (the worker never imports it:
  the judge hands it its own files);
- `requirements.txt`: the grader's dependencies (torch pinned, the CPU build), from PyPI; with
  `offline`, `wheels/` holds every wheel (CPython 3.11, manylinux up to glibc 2.35, so they
  install on Ubuntu 22.04 and Debian 12) and pip runs with --no-index;
- `setup.sh`: finds or installs Python >= 3.11, makes the venv, installs the above, installs
  bubblewrap where apt can, creates the unprivileged user, and makes the course root-only;
- one assignment's course files (assignments/<id>/, its reference module, templates/).

Calls grader.course.assignment, grader.outputs, grader.sandbox.docker_build (wheel download helpers).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

from grader.lms import LmsError

TORCH = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: The wheels of an offline bundle: the interpreter setup.sh must then find (or install).
WHEEL_PYTHON = ("3.11", "cp311")
#: Newest glibc the wheels may need: Ubuntu 22.04 (Gradescope's default base) has 2.35.
MAX_GLIBC_MINOR = 35
_SKIP = ("__pycache__", "_course", "_sandbox", ".ipynb_checkpoints")


def read_file(name: str) -> str:
    """One of the scripts shipped in grader/lms/files/."""
    return resources.files("grader.lms").joinpath("files", name).read_text(encoding="utf-8")


def load(assignment: str, course: Path | None):  # noqa: ANN201
    from grader.course.assignment import AssignmentError, load_assignment

    try:
        return load_assignment(assignment, course)
    except AssignmentError as e:
        raise LmsError(str(e)) from None


# ---------------------------------------------------------------- files of the bundle


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(p in _SKIP or p.endswith(".pyc") for p in rel.parts):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def course_files(spec: Any) -> dict[str, Path]:
    """bundle path -> file, for one assignment's course: its folder, reference module, templates."""
    course = Path(spec.course)
    files = {f"assignments/{spec.id}/{p.relative_to(spec.root).as_posix()}": p for p in _walk(Path(spec.root))}
    if spec.reference_path is not None:
        files[f"reference/{spec.reference}.py"] = Path(spec.reference_path)
    templates = course / "templates"
    if templates.is_dir():
        files.update({f"templates/{p.relative_to(templates).as_posix()}": p for p in _walk(templates)})
    return files


def grader_files() -> dict[str, Path]:
    """bundle path -> file for the grader package's source (no packaged course, no caches)."""
    from grader.sandbox import PACKAGE_DIR

    return {f"grader/{p.relative_to(PACKAGE_DIR).as_posix()}": p for p in _walk(PACKAGE_DIR)}


def requirements() -> list[str]:
    """The grader's runtime dependencies: pyproject.toml in a checkout, else the installed metadata."""
    from grader.sandbox import PACKAGE_DIR

    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:
        from importlib import metadata

        try:
            deps = [d for d in metadata.requires("dlgrade") or [] if "extra ==" not in d]
        except metadata.PackageNotFoundError:
            raise LmsError("cannot tell the grader's dependencies: no pyproject.toml and no "
                           "installed dlgrade metadata") from None
    deps = [d.split(";")[0].strip() for d in deps]
    if TORCH not in deps:
        raise LmsError(f"the grader's dependencies must pin {TORCH} (found {deps})")
    return deps


def offline_requirements(deps: list[str]) -> list[str]:
    """The same, pinned for wheels: the CPU torch by its local label, numpy at the judge's version."""
    import numpy

    out = []
    for d in deps:
        if d == TORCH:
            out.append(f"{TORCH}+cpu")
        elif re.fullmatch(r"numpy", d):
            out.append(f"numpy=={numpy.__version__}")
        else:
            out.append(d)
    return out


def platform_args() -> list[str]:
    machine = platform.machine() or "x86_64"
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)
    args = ["--only-binary=:all:", "--python-version", WHEEL_PYTHON[0], "--implementation", "cp",
            "--abi", WHEEL_PYTHON[1], "--abi", "abi3", "--abi", "none"]
    for minor in range(MAX_GLIBC_MINOR, 16, -1):
        args += ["--platform", f"manylinux_2_{minor}_{arch}"]
    return args + ["--platform", f"manylinux2014_{arch}", "--platform", "any"]


def wheelhouse(reqs: list[str], log: Callable[[str], None]) -> Path:
    """Download (once; cached by what is asked) the wheels for `reqs` on this host."""
    from grader.sandbox.docker_build import cache_dir

    want = {"requirements": reqs, "platform": platform_args()}
    key = hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:12]
    house = cache_dir() / f"lms-wheels-{key}"
    manifest = house / "manifest.json"
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text())["files"]
            if all((house / f).is_file() for f in files):
                log(f"wheels: {house} ({len(files)}, cached)")
                return house
        except (OSError, ValueError, KeyError):
            pass
    house.mkdir(parents=True, exist_ok=True)
    # The sandbox image's wheelhouse (grade sandbox build) already holds torch: no second download.
    extra = [a for w in sorted(cache_dir().glob("wheelhouse-cpu")) for a in ("--find-links", str(w))]
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(house),
           *extra, *platform_args(), *reqs]
    log(f"wheels: pip download {' '.join(reqs)} (CPython {WHEEL_PYTHON[0]}, glibc <= 2.{MAX_GLIBC_MINOR})")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        proc = subprocess.run(cmd + ["--extra-index-url", CPU_INDEX], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored" not in ln]
        raise LmsError("pip download of the bundle's wheels failed: " + " | ".join(lines[-5:]))
    files = sorted(p.name for p in house.glob("*.whl"))
    manifest.write_text(json.dumps({"want": want, "files": files}))
    return house


def install_files(offline: bool, log: Callable[[str], None]) -> dict[str, Path | bytes]:
    """bundle path -> file or content: setup.sh, requirements, the grader's source, wheels."""
    deps = requirements()
    files: dict[str, Path | bytes] = {"setup.sh": read_file("setup.sh").encode()}
    files.update(grader_files())
    if offline:
        reqs = offline_requirements(deps)
        house = wheelhouse(reqs, log)
        for whl in sorted(house.glob("*.whl")):
            files[f"wheels/{whl.name}"] = whl
        files["wheels/PYTHON"] = f"{WHEEL_PYTHON[0]}\n".encode()
    else:
        reqs = deps
    files["requirements.txt"] = ("\n".join(reqs) + "\n").encode()
    return files


def write_tree(folder: Path, files: dict[str, Path | bytes]) -> None:
    """Write `files` under `folder` (a fresh folder the caller made), hard-linking big wheels."""
    from grader.outputs import ensure_dir, write_bytes

    for rel, src in sorted(files.items()):
        parts = rel.split("/")
        target = ensure_dir(folder.joinpath(*parts[:-1]))
        mode = 0o755 if parts[-1].endswith(".sh") or parts[-1] == "run_autograder" else 0o644
        if isinstance(src, Path) and src.suffix == ".whl":
            dest = target / parts[-1]
            if dest.exists() or dest.is_symlink():
                dest.unlink()
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
            continue
        data = src if isinstance(src, bytes) else src.read_bytes()
        write_bytes(target, parts[-1], data, mode=mode)


def write_install(folder: Path, *, offline: bool, log: Callable[[str], None]) -> None:
    write_tree(folder, install_files(offline, log))


def copy_course(spec: Any, dest: Path) -> None:
    from grader.outputs import ensure_dir

    write_tree(ensure_dir(dest), dict(course_files(spec)))


# ---------------------------------------------------------------- inside the grading image

MAX_ENTRIES = 10_000


def pick_notebook(folder: Path, assignment: str | None) -> Path:
    """The one notebook of a submission folder; BadInput (one line) when there is none or several."""
    from grader.course.notebook import BadNotebook, read_notebook
    from grader.judge.pipeline import BadInput
    from grader.textsafe import one_line

    found: list[Path] = []
    seen = 0
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in (".ipynb_checkpoints", "__MACOSX"))
        for name in sorted(names):
            seen += 1
            path = Path(top) / name
            if name.endswith(".ipynb") and not name.startswith("._") and path.is_file() and not path.is_symlink():
                found.append(path)
        if seen > MAX_ENTRIES:
            raise BadInput(f"the submission holds more than {MAX_ENTRIES} files; submit your notebook only")
    if not found:
        raise BadInput("the submission holds no .ipynb notebook; upload your notebook file")
    if len(found) == 1:
        return found[0]
    from grader.course.assignment import assignment_id_of

    mine = []
    for path in found:
        try:
            if assignment and assignment_id_of(read_notebook(path)) == assignment:
                mine.append(path)
        except BadNotebook:
            pass
    if len(mine) == 1:
        return mine[0]
    names = ", ".join(one_line(p.name, 60) for p in found[:5])
    raise BadInput(f"the submission holds {len(found)} notebooks ({names}); submit only the one "
                   f"for '{assignment}'")
