"""dlgrade: a grader for deep-learning notebooks with a trusted judge and an untrusted worker.

`from grader import check` (grader.kit.inkernel) runs a kit's public tests inside a student's
Jupyter kernel; `%load_ext grader` adds the `%check` magic. Both load on first use.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("check", "load_ipython_extension"):
        from grader.kit import inkernel

        return getattr(inkernel, name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
