"""The Gradescope zip and the PrairieLearn build, without Docker: layout, modes, what is secret.

(The container tests, tests/test_lms_gradescope_container.py and tests/test_lms_prairielearn.py,
run them; these check the files themselves, including the default online bundle.)
"""

from __future__ import annotations

import json
import stat
import zipfile

from grader.lms import gradescope, prairielearn


def test_gradescope_zip_layout_is_deterministic(tmp_path):
    a = gradescope.build("backprop", tmp_path / "a.zip", log=lambda m: None)
    b = gradescope.build("backprop", tmp_path / "b.zip", hidden_visibility="hidden", log=lambda m: None)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        names = za.namelist()
        assert names == sorted(names) and names == zb.namelist()
        assert {"setup.sh", "run_autograder", "requirements.txt", "dlgrade.json"} <= set(names)
        assert not any(n.startswith("wheels/") for n in names)  # online: PyPI at image build
        assert "torch==2.13.0" in za.read("requirements.txt").decode().splitlines()
        assert not any("_course/" in n or "__pycache__" in n for n in names)
        modes = {i.filename: i.external_attr >> 16 for i in za.infolist()}
        assert stat.S_IMODE(modes["run_autograder"]) == 0o755 and stat.S_IMODE(modes["setup.sh"]) == 0o755
        assert json.loads(za.read("dlgrade.json")) == {"assignment": "backprop", "hidden_visibility": "after_published"}
        assert json.loads(zb.read("dlgrade.json"))["hidden_visibility"] == "hidden"
        assert "course/assignments/backprop/tests/hidden/test_affine.py" in names
    again = gradescope.build("backprop", tmp_path / "c.zip", log=lambda m: None)
    assert again.read_bytes() == a.read_bytes()  # same inputs, same bytes: Docker's cache holds


def test_prairielearn_build_keeps_the_course_out_of_the_image(tmp_path):
    out = prairielearn.build("backprop", tmp_path / "pl", log=lambda m: None)
    image = {p.relative_to(out / "image").as_posix() for p in (out / "image").rglob("*") if p.is_file()}
    assert {"Dockerfile", "setup.sh", "requirements.txt", "grader/judge/pipeline.py"} <= image
    assert not any(p.startswith(("course/", "assignments/")) or "hidden" in p for p in image)
    tests = out / "question" / "tests"
    assert (tests / "course" / "assignments" / "backprop" / "tests" / "hidden" / "test_affine.py").is_file()
    assert (tests / "dlgrade-grade.sh").stat().st_mode & 0o100
    info = json.loads((out / "question" / "info.json").read_text())
    assert info["gradingMethod"] == "External" and info["externalGradingOptions"]["timeout"] <= 600
