"""A generated class of backprop submissions for the batch tests and bench/batch_throughput.py.

Kinds: correct (the solution, its correct alternatives, copies with a student's own markdown),
one-mistake (tests/test_backprop_variants.py's BUGS), hostile (the attacks of tests/test_hostile.py,
tests/hostile_cases.py's among them, in the solution or the starter), and malformed (not JSON,
binary, no code cells, nbformat 3, another assignment's notebook, a .py file, truncated JSON).
Each Student knows what grading it must give: "full", "zero", "bug" (loses points on the case's
tests) or "invalid".
"""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hostile_cases import BIG_ALLOC, DISK_FILL, FORK_BOMB, SOLUTION, STARTER, with_cell
from notebook_variants import Case, write_variant

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_PATH = ROOT / "assignments" / "backprop" / "solution.ipynb"
CNN_SOLUTION = ROOT / "assignments" / "cnn" / "solution.ipynb"
#: Limits for the class (the hostile cases' loops are cut after 10 s; a correct cell needs < 1 s).
LIMITS = ("cell_seconds=10", "call_seconds=10", "notebook_seconds=120", "max_restarts=3")

STUBBORN = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
NUMPY_PATCH = ("import numpy as np, builtins\n"
               "np.allclose = lambda *a, **k: True\n"
               "np.testing.assert_allclose = lambda *a, **k: None\n"
               "np.max = lambda *a, **k: 0.0\n"
               "np.abs = lambda x: x * 0\n"
               "builtins.abs = lambda x: 0\n"
               "def affine_forward(x, w, b):\n    return np.zeros(1), None\n")
FAKE_RESULTS = ("import os, json\n"
                "for d in ['.', '/tmp', os.path.expanduser('~'), '/']:\n"
                "    try:\n"
                "        open(os.path.join(d, 'result.json'), 'w').write(json.dumps({'score': 999}))\n"
                "    except OSError:\n        pass\n")
WALK = ("import os\nFOUND = []\n"
        "for root, dirs, files in os.walk('/'):\n"
        "    if root in ('/proc', '/sys', '/dev'):\n        dirs[:] = []\n        continue\n"
        "    FOUND += [f for f in files if f.startswith('test_') or f == 'backprop.py']\n")
XSS = "print('<script>alert(1)</script><img src=x onerror=alert(2)>')"
DOCKER_SOCKET = ("import socket\ns = socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect('/var/run/docker.sock')\nexcept OSError as e:\n    print(e)\n")
BACKGROUND = ("import subprocess\n"
              "subprocess.Popen(['sh', '-c', 'exec -a dlgrade_batch_bg sleep 300'], start_new_session=True)\n")

#: (id, cell, base, expect): base "solution" must keep full marks, "starter" must earn nothing.
HOSTILE = [
    ("sys_exit", "import sys\nsys.exit(0)", "solution", "full"),
    ("os_exit", "import os\nos._exit(1)", "solution", "full"),
    ("infinite_loop", "while True:\n    pass", "solution", "full"),
    ("stubborn_loop", STUBBORN, "solution", "full"),
    ("print_flood", "s = 'x' * 1_000_000\nfor _ in range(30):\n    print(s)", "solution", "full"),
    ("fork_bomb", FORK_BOMB, "solution", "full"),
    ("segfault", "import ctypes\nctypes.string_at(0)", "solution", "full"),
    ("memory_grab", BIG_ALLOC, "solution", "full"),
    ("disk_fill", DISK_FILL, "solution", "full"),
    ("forbidden_import", "import torch", "solution", "full"),
    ("background_process", BACKGROUND, "solution", "full"),
    ("walk_for_tests", WALK, "solution", "full"),
    ("docker_socket", DOCKER_SOCKET, "solution", "full"),
    ("xss_output", XSS, "solution", "full"),
    ("monkeypatch_numpy", NUMPY_PATCH, "starter", "zero"),
    ("fake_result_files", FAKE_RESULTS, "starter", "zero"),
]


@dataclass(frozen=True)
class Student:
    """One generated submission."""

    uid: str
    kind: str  # correct | bug | hostile | malformed
    label: str
    data: bytes
    expect: str  # full | zero | bug | invalid
    ext: str = ".ipynb"
    late: bool = False
    case: Case | None = field(default=None, compare=False)


def _nb_bytes(nb: dict) -> bytes:
    return (json.dumps(nb, indent=1) + "\n").encode()


def _malformed() -> list[tuple[str, bytes, str]]:
    sol = SOLUTION_PATH.read_bytes()
    no_code = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
               "cells": [{"cell_type": "markdown", "metadata": {}, "source": "my answers"}]}
    return [
        ("not_json", b"I could not get Jupyter to work, sorry\n", ".ipynb"),
        ("binary", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ".ipynb"),
        ("no_code_cells", json.dumps(no_code).encode(), ".ipynb"),
        ("nbformat_3", json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                   "worksheets": [{"cells": []}]}).encode(), ".ipynb"),
        ("other_assignment", CNN_SOLUTION.read_bytes(), ".ipynb"),
        ("python_file", b"import numpy as np\n\ndef affine_forward(x, w, b):\n    pass\n", ".py"),
        ("truncated_json", sol[: len(sol) // 3], ".ipynb"),
    ]


def build_class(work: Path, n_bugs: int | None = None, n_copies: int = 4) -> list[Student]:
    """The class (60 students with the defaults); `work` receives the variant files."""
    from test_backprop_variants import ALTERNATIVES, BUGS

    work.mkdir(parents=True, exist_ok=True)
    students: list[Student] = []

    def add(kind: str, label: str, data: bytes, expect: str, ext: str = ".ipynb", case: Case | None = None) -> None:
        uid = str(1001 + len(students))
        students.append(Student(uid, kind, label, data, expect, ext, late=len(students) % 7 == 3, case=case))

    add("correct", "solution", SOLUTION_PATH.read_bytes(), "full")
    for k in range(n_copies):
        nb = copy.deepcopy(SOLUTION)
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": f"Submitted by student {k}"})
        add("correct", f"solution_copy_{k}", _nb_bytes(nb), "full")
    for case in ALTERNATIVES:
        add("correct", case.id, write_variant(SOLUTION_PATH, case, work).read_bytes(), "full")
    for case in BUGS[:n_bugs]:
        add("bug", case.id, write_variant(SOLUTION_PATH, case, work).read_bytes(), "bug", case=case)
    for hid, cell, base, expect in HOSTILE:
        nb = with_cell(SOLUTION if base == "solution" else STARTER, cell, before_training=base == "solution")
        add("hostile", hid, _nb_bytes(nb), expect)
    for label, data, ext in _malformed():
        add("malformed", label, data, "invalid", ext)
    return students


def small_class(n: int) -> list[Student]:
    """`n` correct submissions with distinct bytes (for kill/resume and override tests)."""
    out = []
    for k in range(n):
        nb = copy.deepcopy(SOLUTION)
        nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": f"student {k}"})
        out.append(Student(str(2001 + k), "correct", f"copy_{k}", _nb_bytes(nb), "full"))
    return out


def canvas_name(s: Student, attachment: int) -> str:
    sortable = f"student{s.uid}"
    return f"{sortable}_{'LATE_' if s.late else ''}{s.uid}_{attachment}_backprop{s.ext}"


def write_canvas_zip(path: Path, students: list[Student], extras: bool = True) -> Path:
    """A Canvas "Download Submissions" zip (names as content_zipper.rb makes them)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, s in enumerate(students):
            zf.writestr(canvas_name(s, 50000 + i), s.data)
        if extras and students:
            s = students[0]  # an extra image and a second, scratch notebook: reported, not graded
            zf.writestr(f"student{s.uid}_{s.uid}_59998_plot.png", b"\x89PNG\r\n\x1a\n")
            zf.writestr(f"student{s.uid}_{s.uid}_59999_scratch.ipynb", STARTER_BYTES())
    return path


def STARTER_BYTES() -> bytes:  # noqa: N802
    return _nb_bytes(STARTER)


def write_folder(folder: Path, students: list[Student]) -> Path:
    """A plain folder: <uid>.ipynb (or .py) per student."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in students:
        (folder / f"{s.uid}{s.ext}").write_bytes(s.data)
    return folder


def write_canvas_roster(path: Path, students: list[Student], missing: tuple[str, ...] = ()) -> Path:
    """Canvas's gradebook export: Student, ID, SIS User ID, SIS Login ID, Section, an assignment column."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Backprop (77)"])
    w.writerow(["    Points Possible", "", "", "", "", "45"])
    for s in students:
        w.writerow([f"Student, {s.label}", s.uid, f"sis{s.uid}", f"login{s.uid}", "Section A", ""])
    for uid in missing:
        w.writerow([f"Absent, {uid}", uid, f"sis{uid}", f"login{uid}", "Section B", ""])
    path.write_text(buf.getvalue())
    return path
