"""`[data] files`: files shipped with an assignment (e.g. a pretrained checkpoint) that the
sandbox gets as data/<file name>, next to the public datasets; `grade data` writes them too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_assignment import make_course

from grader.cli import main
from grader.course import datasets
from grader.course.assignment import AssignmentError, load_assignment

REPO = Path(__file__).resolve().parent.parent


def course_with(tmp_path: Path, data: str, files: dict[str, bytes] | None = None) -> Path:
    course = make_course(tmp_path / "course", {"demo": f"[data]\n{data}\n"})
    for rel, content in (files or {}).items():
        path = course / "assignments" / "demo" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return course


def test_files_are_read_relative_to_the_assignment(tmp_path):
    course = course_with(tmp_path, 'datasets = ["digits"]\nfiles = ["data/w.pt", "extra.bin"]',
                         {"data/w.pt": b"weights", "extra.bin": b"x"})
    a = load_assignment("demo", course)
    root = course / "assignments" / "demo"
    assert a.public_files == (root / "data" / "w.pt", root / "extra.bin")
    assert load_assignment("demo", course_with(tmp_path / "2", 'datasets = ["digits"]')).public_files == ()


@pytest.mark.parametrize("entry, files, words", [
    ('"data/missing.pt"', {}, "no file"),
    ('"../escape.pt"', {}, "must stay inside the assignment folder"),
    ('"data/../../x"', {}, "must stay inside the assignment folder"),
    ('"/etc/passwd"', {}, "is not a relative path"),
    ('"tests/hidden/test_x.py"', {"tests/hidden/test_x.py": b""}, "is a test file"),
    ('"digits_train.npz"', {"digits_train.npz": b""}, "like dataset 'digits'"),
    ('"a/w.pt", "b/w.pt"', {"a/w.pt": b"", "b/w.pt": b""}, "would be written as data/w.pt"),
    ('3', {}, "must be a list of strings"),
])
def test_bad_files_are_named(tmp_path, entry, files, words):
    course = course_with(tmp_path, f'datasets = ["digits"]\nfiles = [{entry}]', files)
    with pytest.raises(AssignmentError) as info:
        load_assignment("demo", course)
    assert words in str(info.value), str(info.value)
    assert "data.files" in str(info.value)


def test_write_public_copies_files_and_replaces_stale_copies(tmp_path):
    source = tmp_path / "w.pt"
    source.write_bytes(b"new weights")
    out = tmp_path / "data"
    out.mkdir()
    (out / "w.pt").write_bytes(b"old")
    paths = datasets.write_public(["digits"], out, [source])
    assert paths == [out / "digits_train.npz", out / "w.pt"]
    assert (out / "w.pt").read_bytes() == b"new weights"
    with np.load(out / "digits_train.npz") as f:
        assert f["X"].shape[1] == 64


def test_grade_data_writes_the_finetune_checkpoint(tmp_path):
    finetune = load_assignment("finetune")
    result = CliRunner(env={"DLGRADE_COURSE": None}).invoke(main, ["data", "finetune", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert written == ["digits59_few_train.npz", "resnet_digits04.pt"]
    assert (tmp_path / "d" / "resnet_digits04.pt").read_bytes() == finetune.public_files[0].read_bytes()
