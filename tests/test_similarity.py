"""grade similarity: planted copies are found, independent solutions and the starter are not.

The class is stored in a real gradebook (SQLite, and PostgreSQL when the server is there);
the notebooks are independent backprop solutions written in different styles
(tests/similarity_class.py) plus three planted copies.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import similarity_class as sc
from cli_run import grade
from postgres_env import pg_database, postgres_server  # noqa: F401

from grader.gradebook.api import Gradebook, NewGrading, NewSubmission
from grader.gradebook.scoring import LatePolicy
from grader.report.similarity import notebook_code

ROOT = Path(__file__).resolve().parents[1]
#: Written independently; "terse" is not a student itself: it is the one-function copier's own work.
INDEPENDENT = ["ref", "functional", "verbose", "loops"]


def _class() -> dict[str, dict]:
    nbs = {a: sc.author_notebook(a) for a in INDEPENDENT}
    terse = sc.author_notebook("terse")
    nbs["renamed"] = sc.renamed_copy(nbs["functional"])  # copy of functional, variables renamed
    nbs["reordered"] = sc.reordered_commented_copy(nbs["verbose"])  # copy of verbose, reordered + comments
    # terse's own work with one function (softmax_loss) taken from loops
    nbs["onefn"] = sc.one_function_copy(terse, nbs["loops"])
    nbs["starter_only"] = json.loads(sc.STARTER.read_text(encoding="utf-8"))
    return nbs


PLANTED = {("functional", "renamed"), ("reordered", "verbose"), ("loops", "onefn")}


def _store(url: str, nbs: dict[str, dict]) -> None:
    gb = Gradebook.open(url)
    try:
        gb.ensure_assignment("backprop", "Backprop", 45.0, LatePolicy())
        for student, nb in nbs.items():
            data = json.dumps(nb).encode()
            sub = NewSubmission(student=student, assignment="backprop", source_name=f"{student}.ipynb",
                                content_hash=hashlib.sha256(data).hexdigest(), data=data)
            gb.record_grading(sub, NewGrading(status="graded", score=0.0, max_score=45.0))
    finally:
        gb.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def stored_class(request, tmp_path):  # noqa: ANN001, ANN201
    url = f"sqlite:///{tmp_path / 'gb.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    _store(url, _class())
    return url, tmp_path


def test_planted_pairs_are_flagged_and_independent_ones_are_not(stored_class):
    url, tmp = stored_class
    r = grade("similarity", "backprop", "--db", url, "--format", "json", "-o", str(tmp / "sim.json"), cwd=tmp)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp / "sim.json").read_text())
    pairs = {tuple(sorted((p["a"], p["b"]))): p for p in data["pairs"]}
    for pair in PLANTED:
        assert pairs[pair]["flagged"], (pair, pairs[pair])
    others = [p for key, p in pairs.items() if key not in PLANTED]
    assert len(others) == 7 * 6 // 2 - len(PLANTED), "every other pair of the 7 students shares something"
    for p in others:
        assert not p["flagged"], p
    assert all("starter_only" not in (p["a"], p["b"]) for p in data["pairs"]), "the starter alone must score 0"
    sims = [p["similarity"] for p in data["pairs"]]
    assert sims == sorted(sims, reverse=True) and all(0 < s <= 1 for s in sims)
    assert set(data["pairs"][0]) >= {"a", "b", "similarity", "flagged"}


def test_html_page_shows_pairs_side_by_side_escaped(stored_class):
    url, tmp = stored_class
    r = grade("similarity", "backprop", "--db", url, "-o", str(tmp / "sim.html"), cwd=tmp)
    assert r.returncode == 0, r.stderr
    page = (tmp / "sim.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page
    assert page.count('class="pair"') >= len(PLANTED)
    assert "<mark>" in page and "data:image/svg+xml;base64," in page
    assert "flagged pairs" in r.stdout


def test_student_code_is_escaped_in_the_page(tmp_path):
    nbs = _class()
    evil = sc.renamed_copy(nbs["functional"])
    sc.cells_of(evil)[1]["source"] += "\n# </pre><script>alert(1)</script><img src=x onerror=alert(2)>\n"
    nbs["evil"] = evil
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    _store(url, nbs)
    r = grade("similarity", "backprop", "--db", url, "-o", str(tmp_path / "sim.html"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "sim.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_unknown_assignment_is_one_line(tmp_path):
    r = grade("similarity", "nosuch", "--db", f"sqlite:///{tmp_path / 'gb.db'}", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1


def test_extraction_drops_magics_and_survives_garbage():
    nb = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n", "x = 1\n", "!ls\n"]},
                    {"cell_type": "markdown", "source": "text"}, {"cell_type": "code", "source": 5},
                    "junk", {"cell_type": "code", "source": ["y = 2", None]}]}
    assert notebook_code(nb) == "x = 1\n\ny = 2"
    for garbage in (b"\xff\xfe", b"[1, 2]", b"{", b"[" * 100_000, b'{"cells": 3}'):
        assert notebook_code(garbage) == ""


def test_shell_lines_inside_strings_are_code():
    """Only lines the notebook really runs as shell or magic are dropped: a `!` line inside a
    string that is then exec'd is the student's code and counts."""
    hidden = 'payload = """\n!def affine_forward(x, w, b):\n!    return x @ w + b\n"""\nexec(payload)\n'
    code = notebook_code({"cells": [{"cell_type": "code", "source": hidden},
                                    {"cell_type": "code", "source": "!pip list\nimport numpy as np\n"}]})
    assert "!def affine_forward(x, w, b):" in code and "!    return x @ w + b" in code
    assert "pip list" not in code and "import numpy as np" in code


def test_blank_line_runs_cost_linear_time():
    """60 kB of blank lines in one cell took minutes in the lexer; they are collapsed first."""
    import time

    from grader.report.similarity import _fingerprint

    body = "def f(x):\n    return x + 1\n" * 20
    code = notebook_code({"cells": [{"cell_type": "code", "source": body + "\n" * 60_000 + " \t\n" * 20_000 + body}]})
    assert "\n\n\n" not in code and len(code) < 2_000
    _fingerprint("x = 1\n" * 10)  # the import, outside the clock
    started = time.monotonic()
    _fingerprint(code)
    assert time.monotonic() - started < 10  # bound: was ~60 s for this cell; now well under a second


def test_pair_figures_are_copydetects_own():
    """The array comparison gives exactly copydetect.compare_files's similarities."""
    from copydetect import compare_files

    from grader.report.similarity import _arrays, _fingerprint, _overlap

    starter = notebook_code(sc.STARTER.read_bytes())
    boiler = sorted(_fingerprint(starter).hashes)
    codes = {k: notebook_code(v) for k, v in _class().items() if k != "starter_only"}
    prints = {k: _fingerprint(c, boiler) for k, c in codes.items()}
    names = sorted(prints)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            _, (sa, sb), _ = compare_files(prints[a], prints[b])
            ours_a, _ = _overlap(_arrays(prints[a]), _arrays(prints[b]))
            ours_b, _ = _overlap(_arrays(prints[b]), _arrays(prints[a]))
            assert abs(ours_a - sa) < 1e-12 and abs(ours_b - sb) < 1e-12, (a, b, sa, sb, ours_a, ours_b)
