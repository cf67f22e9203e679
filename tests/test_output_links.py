"""Links planted at the judge's output paths are refused, never followed.

The judge often runs as root and writes next to the student's notebook by default
(`<notebook>-check/`, `<notebook>-submit/`). A student who plants a symlink there (the folder
itself, result.json, or feedback.html pointing at another student's page) must not make the
judge overwrite anything: the command stops with one `error:` line (exit 2), the victim
files keep their bytes, and the links stay links. The real CLI runs in a fresh interpreter,
under the process sandbox and under Docker (the output side is the judge's in both).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_run import grade

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "assignments" / "backprop" / "starter.ipynb"
VICTIM_BYTES = b"another student's feedback page: must stay as it is\n"


def _grade(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return grade(*args, cwd=cwd, isolated=True, timeout=300)


def _plant(tmp_path: Path, where: str) -> tuple[Path, Path]:
    """A notebook and a victim; `where` says which output path is a link to the victim."""
    nb = tmp_path / "student" / "hw.ipynb"
    nb.parent.mkdir()
    shutil.copyfile(STARTER, nb)
    victims = tmp_path / "other-student"
    victims.mkdir()
    victim = victims / "feedback.html"
    victim.write_bytes(VICTIM_BYTES)
    out = nb.parent / "hw-check"
    if where == "folder":
        out.symlink_to(victims, target_is_directory=True)
    else:
        out.mkdir()
        (out / where).symlink_to(victim)
    return nb, victim


def _assert_refused(proc: subprocess.CompletedProcess[str], victim: Path) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and ("link" in lines[0] or "not a regular file" in lines[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    assert victim.read_bytes() == VICTIM_BYTES
    assert sorted(p.name for p in victim.parent.iterdir()) == ["feedback.html"]  # nothing written beside it


@pytest.mark.parametrize("where", ["result.json", "feedback.html", "folder"])
def test_links_at_the_default_out_paths_are_refused(tmp_path, where):
    nb, victim = _plant(tmp_path, where)
    proc = _grade("check", nb, cwd=tmp_path)
    _assert_refused(proc, victim)
    out = nb.parent / "hw-check"
    assert out.is_symlink() if where == "folder" else (out / where).is_symlink()
    if where == "feedback.html":  # checked before the first write: no half-written output either
        assert not (out / "result.json").exists()


def test_a_dangling_link_creates_nothing(tmp_path):
    nb, victim = _plant(tmp_path, "result.json")
    target = tmp_path / "planted-new-file"
    link = nb.parent / "hw-check" / "result.json"
    link.unlink()
    link.symlink_to(target)
    proc = _grade("check", nb, cwd=tmp_path)
    _assert_refused(proc, victim)
    assert not target.exists()


def test_a_real_folder_is_written_atomically(tmp_path):
    """The control: without links the same command writes both files, and replaces old ones."""
    nb, _ = _plant(tmp_path, "result.json")
    (nb.parent / "hw-check" / "result.json").unlink()
    (nb.parent / "hw-check" / "feedback.html").write_text("old page")
    proc = _grade("check", nb, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = nb.parent / "hw-check"
    assert sorted(p.name for p in out.iterdir()) == ["feedback.html", "result.json"]  # no temp files left
    assert (out / "feedback.html").read_text() != "old page"


@pytest.mark.docker
def test_links_are_refused_under_docker(tmp_path):
    from docker_env import require_docker

    require_docker()
    nb, victim = _plant(tmp_path, "feedback.html")
    proc = _grade("check", nb, "--sandbox", "docker", cwd=tmp_path)
    _assert_refused(proc, victim)
