"""Student kits (`grade kit`): nothing secret in them, and the same verdicts as the course.

- every shipped assignment's kit is built and searched for secrets: hidden test names and
  sources, solution code, reference function bodies, held-out rows (by value and by bytes);
- `grade check` from a kit gives, test by test, the course's status, score and message, over
  a sample of the variant suites' notebooks (see `SAMPLE`: every backprop variant that touches
  a public test and two alternatives, three of cnn's; the full lists would cost minutes);
- bad kits and misuse: one `error:` line, exit 2.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader.course import datasets
from grader.course.assignment import list_assignments, load_assignment
from grader.judge.pipeline import grade_notebook
from grader.kit.build import TRAINING_HELPERS, kit_files, write_kit
from grader.kit.verify import kit_differences, kit_result

REPO = Path(__file__).resolve().parent.parent
SPECS = list_assignments(REPO)
SOLUTION_BLOCK = re.compile(r"^[ \t]*# BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*# END SOLUTION", re.S | re.M)


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def _function_bodies(path: Path) -> list[str]:
    """Source of every function body with at least two statements (trivial bodies say nothing)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            if len(body) >= 2:  # whole lines, stripped: no indentation to match
                out.append("\n".join(ln.strip() for ln in lines[body[0].lineno - 1:body[-1].end_lineno]))
    return out


def _secret_lines(spec) -> set[str]:
    """Lines of the solution's solution blocks that the course's public material does not hold
    (the rest of the solution notebook, markdown included, and the public tests)."""
    cells = _code_cells(spec.solution)
    inside = {ln.strip() for c in cells for m in SOLUTION_BLOCK.finditer(c) for ln in m.group(1).splitlines()}
    nb = json.loads(spec.solution.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]
    public = "\n".join(SOLUTION_BLOCK.sub("", src) for src in sources)
    public += "\n".join(p.read_text(encoding="utf-8") for p in spec.public_tests.rglob("*.py"))
    return {ln for ln in inside if len(ln) >= 12 and not ln.startswith("#") and ln not in public}


@pytest.fixture(scope="module")
def kits() -> dict[str, dict[str, bytes]]:
    return {spec.id: kit_files(spec) for spec in SPECS}


def test_every_shipped_assignment_has_a_kit(kits):
    assert set(kits) == {"attention", "backprop", "cnn", "finetune", "optim", "regularization", "rnn"}
    for aid, files in kits.items():
        assert {"kit.json", "assignment.toml", f"{aid}.ipynb"} <= set(files)
        assert any(n.startswith("tests/public/test_") for n in files), aid
        helpers = {TRAINING_HELPERS} if load_assignment(aid).model is not None else set()  # package code
        assert not [n for n in files if n.startswith("tests/hidden") or n.endswith(".py") and "public" not in n
                    and n not in helpers]
        for name in helpers:
            assert files[name] == (REPO / "grader" / "worker" / name).read_bytes(), aid
        manifest = json.loads(files["kit.json"])
        assert manifest["assignment"] == aid and len(manifest["course_digest"]) == 64
        assert manifest["grader"]["compatible"].startswith(">=")
        assert b"reference" not in files["assignment.toml"]


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_kit_holds_nothing_secret(kits, spec):
    files = kits[spec.id]
    binary = (".npz", ".pt")
    text = "\n".join(d.decode("utf-8", "replace") for n, d in files.items() if not n.endswith(binary))
    everything = "\n".join(ln.strip() for ln in text.splitlines())  # compared line by line, stripped
    words = set(re.findall(r"\w+", text))
    blobs = [d for n, d in files.items() if n.endswith(binary)]
    # hidden tests: no name, no file, no test body
    for path in sorted(spec.hidden_tests.rglob("*.py")):
        assert path.read_bytes() not in files.values()
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                assert node.name not in words, (spec.id, node.name)
                assert not any(node.name.encode() in blob for blob in blobs), (spec.id, node.name)
        for body in _function_bodies(path):
            assert body not in everything, (spec.id, path.name, body[:200])
    # the solution: no solution block's code
    secret = _secret_lines(spec)
    assert secret, spec.id
    leaked = sorted(ln for ln in secret if ln in everything)
    assert not leaked, (spec.id, leaked[:5])
    # the reference module: no file, no function body
    if spec.reference_path is not None:
        assert spec.reference_path.read_bytes() not in files.values()
        for body in _function_bodies(spec.reference_path):
            assert body not in everything, (spec.id, body[:200])
    # held-out data: no row by value in any array, no row's bytes in any file
    for name in spec.datasets:
        split = datasets.load(name)
        held = {row.tobytes() for row in np.ascontiguousarray(split.X_heldout)}
        raw = np.ascontiguousarray(split.X_heldout)
        for rel, data in files.items():
            for row in raw[:50]:
                assert row.tobytes() not in data, (spec.id, rel)
            if rel.endswith(".npz"):
                with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                    for key in arrays.files:
                        value = np.ascontiguousarray(arrays[key], dtype=raw.dtype)
                        if value.ndim == 2 and value.shape[1] == raw.shape[1]:
                            assert not held & {r.tobytes() for r in value}, (spec.id, rel, key)


def test_zip_kit_is_the_folder_kit_and_deterministic(tmp_path):
    spec = load_assignment("backprop", REPO)
    folder = write_kit(spec, tmp_path / "kit")
    a = write_kit(spec, tmp_path / "a.zip")
    b = write_kit(spec, tmp_path / "b.zip")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        zipped = {n.removeprefix("backprop/"): zf.read(n) for n in zf.namelist()}
    on_disk = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert zipped == on_disk


# --------------------------------------------------------------------------- same verdicts as the course


def _sample() -> list[tuple[str, object, str | None]]:
    sys.path.insert(0, str(Path(__file__).parent))
    import test_backprop_variants as bp
    import test_cnn_variants as cnn

    out = [("backprop", c, None) for c in bp.BUGS if any(t.endswith("_small") for t in c.fails)]
    out += [("backprop", c, None) for c in bp.ALTERNATIVES[:2]]
    cnn_public = [c for c in cnn.BUGS if any(t.endswith("_small") or "predict" in t for t in c.fails)]
    out += [("cnn", c, cnn.CHECK_CELL_MARK) for c in cnn_public[:3]]
    return out


SAMPLE = _sample()


@pytest.mark.slow
@pytest.mark.parametrize("aid, case, marker", SAMPLE, ids=[f"{a}-{c.id}" for a, c, _ in SAMPLE])
def test_kit_verdicts_equal_the_course(aid, case, marker, tmp_path):
    from notebook_variants import write_variant

    spec = load_assignment(aid, REPO)
    notebook = write_variant(spec.solution, case, tmp_path, marker)
    course = grade_notebook(notebook, mode="check", course=REPO)
    kit = kit_result(spec, notebook)
    assert [t.name for t in kit.tests] == [t.name for t in course.tests]
    assert not kit_differences(spec, notebook, course, kit=kit)
    assert kit.score == course.score and kit.max_score == course.max_score
    if case.fails:
        assert kit.score < kit.max_score  # the sample is of variants that public tests see


# --------------------------------------------------------------------------- the command line


def grade(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DLGRADE_COURSE"}
    base["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def kit_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "backprop-kit"
    run = grade("kit", "backprop", "-o", out, cwd=out.parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out)
    return out


def _one_error(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == "" and run.stderr.startswith("error:") and len(run.stderr.splitlines()) == 1, run.stderr
    for w in words:
        assert w in run.stderr, run.stderr


def test_kit_refuses_a_used_folder_and_unknown_assignment(kit_dir, tmp_path):
    _one_error(grade("kit", "backprop", "-o", kit_dir, cwd=tmp_path), "not an empty folder")
    _one_error(grade("kit", "nope", cwd=tmp_path), "unknown assignment")


def test_submit_with_a_kit_is_refused(kit_dir, tmp_path):
    _one_error(grade("submit", kit_dir / "backprop.ipynb", "--kit", kit_dir, cwd=tmp_path), "grade submit")


def test_a_notebook_for_another_assignment(kit_dir, tmp_path):
    nb = json.loads((kit_dir / "backprop.ipynb").read_text())
    nb["metadata"]["dlgrade"]["assignment"] = "cnn"
    (tmp_path / "other.ipynb").write_text(json.dumps(nb))
    _one_error(grade("check", tmp_path / "other.ipynb", "--kit", kit_dir, cwd=tmp_path), "'cnn'", "'backprop'")


def test_changed_or_incompatible_kits(kit_dir, tmp_path):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(kit_dir, edited)
    test = edited / "tests" / "public" / "test_public.py"
    test.write_text(test.read_text() + "\n# mine\n")
    _one_error(grade("check", edited / "backprop.ipynb", cwd=tmp_path), "tests/public/test_public.py was changed")
    future = tmp_path / "future"
    shutil.copytree(kit_dir, future)
    manifest = json.loads((future / "kit.json").read_text())
    manifest["grader"]["compatible"] = ">=99.0,<100.0"
    (future / "kit.json").write_text(json.dumps(manifest))
    _one_error(grade("check", future / "backprop.ipynb", cwd=tmp_path), "dlgrade>=99.0,<100.0")
    (future / "kit.json").write_text("{" * 100)
    _one_error(grade("check", future / "backprop.ipynb", cwd=tmp_path), "not valid JSON")


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_the_kit_grades_with_the_courses_settings(spec, tmp_path):
    """What a check reads from the assignment is the same from the kit as from the course: the
    settings, the public test files and the public data files, byte for byte. With the same
    pipeline, this is why every variant gets the kit's verdicts equal to the course's (the
    sample above grades both ways; all the variant suites' notebooks would take many minutes)."""
    from grader.kit.load import load_kit

    kit = load_kit(write_kit(spec, tmp_path / spec.id))
    from dataclasses import fields

    judge_only = {"root", "course", "reference", "late", "lms", "public_files"}
    for f in fields(spec):
        if f.name not in judge_only:
            assert getattr(kit, f.name) == getattr(spec, f.name), f.name
    assert kit.reference is None and kit.reference_path is None
    assert [p.read_bytes() for p in kit.public_files] == [p.read_bytes() for p in spec.public_files]

    def tree(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}

    assert tree(kit.public_tests) == tree(spec.public_tests)
    assert not kit.hidden_tests.exists()
