"""grader.outputs: the judge's writes never follow a link planted where an output goes."""

import os

import pytest

from grader.outputs import UnsafeOutput, ensure_dir, write_text


def test_writes_atomically_into_a_new_folder(tmp_path):
    path = write_text(tmp_path / "a" / "b", "result.json", "{}\n")
    assert path.read_text() == "{}\n"
    write_text(tmp_path / "a" / "b", "result.json", "[]\n")
    assert path.read_text() == "[]\n"
    assert sorted(os.listdir(path.parent)) == ["result.json"]  # no temp file left behind


def test_refuses_a_link_at_the_file_name(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").symlink_to(victim)
    with pytest.raises(UnsafeOutput):
        write_text(out, "result.json", "forged")
    assert victim.read_text() == "precious"


def test_refuses_a_linked_folder(tmp_path):
    other = tmp_path / "other-student"
    other.mkdir()
    (other / "feedback.html").write_text("theirs")
    (tmp_path / "mine-submit").symlink_to(other, target_is_directory=True)
    with pytest.raises(UnsafeOutput):
        write_text(tmp_path / "mine-submit", "feedback.html", "mine")
    with pytest.raises(UnsafeOutput):
        ensure_dir(tmp_path / "mine-submit" / "sub")
    assert (other / "feedback.html").read_text() == "theirs"


def test_refuses_a_dangling_link(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "feedback.html").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeOutput):
        write_text(tmp_path / "out", "feedback.html", "x")
    assert not (tmp_path / "nowhere").exists()


def test_refuses_path_names():
    with pytest.raises(ValueError):
        write_text("/tmp", "../x", "y")
