"""setup.sh on Ubuntu 22.04, whose python3 is 3.10: it must install and use python3.11.

Ubuntu images cannot be pulled here, so the machine is imitated: a PATH holding only a
`python3` that is too old (it fails the version check, as 3.10 does) and an `apt-get` that
records its arguments and then provides python3.11 (a link to this interpreter).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader.lms.bundle import read_file


def _machine(tmp_path: Path, apt_provides: bool) -> tuple[Path, Path, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text("#!/bin/sh\n# Python 3.10: fails `sys.version_info < (3, 11)`\nexit 1\n")
    provide = f"/bin/ln -sf {sys.executable} {bin_dir}/python3.11" if apt_provides else "exit 100"
    for tool in ("dirname", "tr"):  # what the script itself calls
        os.symlink(f"/usr/bin/{tool}", bin_dir / tool)
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                                     f"case \"$*\" in *install*python3.11*) {provide};; esac\n")
    for name in ("python3", "apt-get"):
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "source" / "setup.sh"
    script.parent.mkdir()
    script.write_text(read_file("setup.sh"))
    return bin_dir, log, script


def test_setup_installs_python311_where_python3_is_310(tmp_path):
    bin_dir, log, script = _machine(tmp_path, apt_provides=True)
    proc = subprocess.run(["/bin/bash", str(script), "--which-python"], capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(bin_dir / "python3.11")
    assert "install -y -qq --no-install-recommends python3.11 python3.11-venv" in log.read_text()


def test_setup_fails_with_one_clear_line_without_a_python(tmp_path):
    bin_dir, log, script = _machine(tmp_path, apt_provides=False)
    proc = subprocess.run(["/bin/bash", str(script), "--which-python"], capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: dlgrade needs Python >= 3.11")
    assert "python3.11" in log.read_text()


def test_setup_keeps_a_new_enough_python3(tmp_path):
    bin_dir, log, script = _machine(tmp_path, apt_provides=True)
    os.symlink(sys.executable, bin_dir / "python3.12")  # e.g. Ubuntu 24.04
    proc = subprocess.run(["/bin/bash", str(script), "--which-python"], capture_output=True, text=True,
                          env={"PATH": str(bin_dir)}, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == str(bin_dir / "python3.12")
    assert not log.exists()
