"""`from grader import check`: the kit's public tests, run on the live kernel's namespace.

STUDENT SIDE: this runs the student's code in the student's own kernel. It is a courtesy for
the student, never evidence: the judge grades the submitted notebook in its sandbox as before,
and a notebook that redefines `check` (or anything here) only fools itself.

- `check()` runs every public test of the kit, `check("relu")` those whose name holds "relu"
  (a question or section); nothing is re-run or saved: the functions the kernel holds now are
  tested. The result shows under the cell: HTML in JupyterLab, Notebook, VS Code and Colab,
  plain text elsewhere (`_repr_html_` and `__repr__` of `CheckResult`).
- `%load_ext grader` adds the `%check [WORDS]` magic.
- The kit is found from `kit=`, `$DLGRADE_KIT`, the notebook's folder (when the frontend says
  which notebook runs), the kernel's working folder, or one folder below it (an unzipped kit).

Tests run through the judge's own pytest plugin (grader.judge.pytest_plugin), with
`LocalSubmission` as the `submission` fixture, so statuses, points and messages are the judge's.
May call grader.kit (load, local_submission), grader.judge (pytest_plugin, results),
grader.feedback.lines and grader.textsafe.
"""

from __future__ import annotations

import html
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.feedback.page import fmt_points
from grader.textsafe import one_line

#: Variables that Jupyter frontends set to the running notebook's path (VS Code, Jupyter Server).
_NOTEBOOK_VARS = ("__vsc_ipynb_file__", "__session__")


@dataclass(frozen=True)
class CheckResult:
    """What `check()` shows: the public tests that ran here, with the judge's statuses and messages."""

    assignment: str
    tests: tuple[Any, ...]
    selected: str = ""

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 6)

    def _message(self, test: Any) -> str:
        from grader.feedback.lines import test_message

        return test_message(test) if test.status != "passed" else ""

    def _headline(self) -> str:
        which = f" matching {self.selected!r}" if self.selected else ""
        return (f"{one_line(self.assignment, 80)}: {fmt_points(self.score)} / {fmt_points(self.max_score)} "
                f"points on {len(self.tests)} public test{'s' if len(self.tests) != 1 else ''}{which} "
                "(checked in this notebook; the judge grades what you hand in)")

    def __repr__(self) -> str:
        from grader.feedback.lines import failure_line

        lines = [self._headline()]
        for t in self.tests:
            if t.status == "passed":
                lines.append(f"  PASS {one_line(t.name, 200)} ({fmt_points(t.score)}/{fmt_points(t.max_score)})")
            else:
                lines.append(failure_line(t, self._message(t)))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for t in self.tests:
            ok = t.status == "passed"
            mark = "&#10004; pass" if ok else html.escape(t.status)
            colour = "#1a7f37" if ok else "#cf222e"
            rows.append(
                f"<tr><td style='color:{colour};white-space:nowrap'>{mark}</td>"
                f"<td><code>{html.escape(one_line(t.name, 200))}</code></td>"
                f"<td style='white-space:nowrap'>{fmt_points(t.score)} / {fmt_points(t.max_score)}</td>"
                f"<td>{html.escape(one_line(self._message(t), 300))}</td></tr>")
        return (f"<div class='dlgrade-check'><p><b>{html.escape(self._headline())}</b></p>"
                f"<table>{''.join(rows)}</table></div>")


class CheckError(Exception):
    """check() cannot run (no kit, nothing selected); one line for the student."""


def _namespace() -> tuple[dict[str, Any], Any]:
    """The kernel's user namespace and the IPython shell (None outside IPython: __main__'s globals)."""
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None  # noqa: N806
    shell = get_ipython() if get_ipython else None
    if shell is not None:
        return shell.user_ns, shell
    import __main__

    return vars(__main__), None


def find_kit_folder(namespace: dict[str, Any], kit: str | os.PathLike | None = None) -> Path:
    """The kit to check with (see the module docstring for the order); CheckError when none."""
    from grader.kit.load import find_kit

    if kit is not None or os.environ.get("DLGRADE_KIT"):
        folder = Path(kit if kit is not None else os.environ["DLGRADE_KIT"]).expanduser()
        if folder.name == "kit.json":
            folder = folder.parent
        if not folder.is_dir() or find_kit(folder) is None:
            raise CheckError(f"no kit.json in {folder}")
        return folder
    starts = []
    for var in _NOTEBOOK_VARS:
        value = namespace.get(var)
        if isinstance(value, str) and value.endswith(".ipynb"):
            starts.append(Path(value).parent)
    starts.append(Path.cwd())
    for start in starts:
        found = find_kit(start)
        if found is not None:
            return found
    below = sorted({p.parent for p in Path.cwd().glob("*/kit.json")})
    if len(below) == 1:
        return below[0]
    if below:
        raise CheckError("several kits below this folder: say which, check(kit='FOLDER')")
    raise CheckError("no kit found: put this notebook in its kit's folder (the one holding kit.json), "
                     "or say where it is: check(kit='FOLDER')")


def run_checks(select: str = "", *, kit: str | os.PathLike | None = None,
               namespace: dict[str, Any] | None = None) -> CheckResult:
    """Run the kit's public tests (those whose name holds `select`) on `namespace`."""
    import pytest

    from grader.judge.pytest_plugin import LEAN, JudgePlugin, run_tests
    from grader.kit.build import KitError
    from grader.kit.load import load_kit
    from grader.kit.local_submission import LocalSubmission

    ns = namespace if namespace is not None else _namespace()[0]
    try:
        spec = load_kit(find_kit_folder(ns, kit))
    except KitError as e:
        raise CheckError(str(e)) from None
    words = select.strip().lower()

    class Plugin(JudgePlugin):
        def pytest_collection_modifyitems(self, items: list[pytest.Item], config: pytest.Config) -> None:
            if words:
                keep = [i for i in items if words in i.name.lower()]
                config.hook.pytest_deselected(items=[i for i in items if i not in keep])
                items[:] = keep
            super().pytest_collection_modifyitems(items)

    plugin = Plugin(spec, LocalSubmission(ns), {spec.public_tests.resolve(): "public"},
                    installed=lambda m: importlib.util.find_spec(m) is not None)
    tests = run_tests(plugin, [spec.public_tests], without=LEAN)
    if words and not tests:
        raise CheckError(f"no public test's name holds {select!r}; check() runs them all")
    return CheckResult(spec.id, tuple(tests), select.strip())


def check(select: str = "", *, kit: str | os.PathLike | None = None) -> None:
    """Run the kit's public tests on this notebook's functions and show each verdict under the cell.

    `check()` runs them all; `check("relu")` those whose name holds "relu". Nothing is re-run
    or saved. A courtesy: the judge grades the notebook you hand in, on its own copies.
    """
    ns, shell = _namespace()
    if shell is None:  # e.g. the judge's worker running the handed-in notebook: nothing to do
        print("check: runs in a Jupyter kernel only; nothing checked (in a terminal: grade check NB)")
        return
    try:
        result: Any = run_checks(select, kit=kit, namespace=ns)
    except CheckError as e:
        result = _Line(f"check: {e}")
    from IPython.display import display

    display(result)


class _Line:
    """One line of text, shown as such in every frontend."""

    def __init__(self, text: str) -> None:
        self.text = one_line(text, 400)

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


def load_ipython_extension(shell: Any) -> None:
    """`%load_ext grader`: the `%check [WORDS]` line magic."""
    shell.register_magic_function(lambda line: check(line), magic_kind="line", magic_name="check")
