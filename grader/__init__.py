"""dlgrade: a grader for deep-learning notebooks with a trusted judge and an untrusted worker.

`from grader import check` (grader.kit.inkernel) runs a kit's public tests inside a student's
Jupyter kernel; `%load_ext grader` adds the `%check` magic. Both load on first use.
"""

from typing import Any

from grader.version import __version__

__all__ = ["__version__", "check", "load_ipython_extension"]


def __getattr__(name: str) -> Any:
    if name in ("check", "load_ipython_extension"):
        from grader.kit import inkernel

        return getattr(inkernel, name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
