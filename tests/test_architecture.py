"""The import rules of grader/ (docs/architecture.md), read from the source with ast.

- Nothing in grader/sandbox or grader/worker imports grader.judge: the judge calls them.
- grader/worker imports nothing from grader: its two files are copied into the sandbox alone.
- No import circle between modules, and none between the packages (grader.batch, grader.lms,
  ...; a flat module such as grader.cli counts as its own package).

Every import counts, the ones inside functions too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[1] / "grader"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(GRADER.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(GRADER.rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """The grader modules `module` imports (a name imported from a package that is not a
    module of its own counts as the package)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {name for name in found if name.split(".")[0] == "grader"}


IMPORTS: dict[str, set[str]] = {m: _imports(m) for m in MODULES}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_reader_sees_every_kind_of_import():
    """The rules below can fail: the reader finds lazy, relative and package imports."""
    assert "grader.sandbox.docker" in IMPORTS["grader.sandbox"]  # inside get_backend
    assert "grader.sandbox.base" in IMPORTS["grader.sandbox.docker"]
    assert "grader.judge.worker_reply" in IMPORTS["grader.judge.session"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["grader.sandbox", "grader.worker"])
def test_the_sandbox_and_the_worker_never_import_the_judge(package):
    arrows = {(m, t) for m, targets in IMPORTS.items() if _package(m) == package
              for t in targets if _package(t) == "grader.judge"}
    assert not arrows


def test_the_worker_imports_nothing_from_grader():
    worker = [m for m in MODULES if _package(m) == "grader.worker"]
    assert "grader.worker.untrusted_worker" in worker and "grader.worker.wire" in worker
    for module in worker:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not IMPORTS[module] and not relative, module


def test_no_import_circle_between_modules():
    assert _cycles(IMPORTS) == []


def test_no_import_circle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in IMPORTS.items():
        packages.setdefault(_package(module), set()).update(
            _package(t) for t in targets if _package(t) != _package(module) and t != "grader")
    assert _cycles(packages) == []
