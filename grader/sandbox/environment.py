"""What the sandbox's Python environment holds, decided on the judge's side.

Owns: the description of a sandbox's installed packages (`SandboxEnvironment`), which paths
to hide so that a forbidden package is not there at all (`hidden_paths`), and whether a module
is importable inside the sandbox (`SandboxEnvironment.has`). The worker is never asked: what
student code reports about its environment is not evidence (a notebook can put a fake
`torchvision` into `sys.modules`).

For the process sandbox the environment is the judge's own (bubblewrap binds the same Python
roots read-only), described by `describe()` in this process. For Docker it is the image's,
described by running `describe()` in a throwaway container of that image (no student code in
it), once per image id. Callers: grader.sandbox.process, grader.sandbox.docker, grader.judge.pipeline.
Standard library only: `describe` also runs inside the image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class SandboxEnvironment:
    """The site-packages folders of a sandbox's Python and what sits in them (sandbox paths).

    `entries`: top-level names per site folder (packages, modules, .dist-info folders);
    `owners`: import name -> the distributions that provide it; `files`: distribution -> the
    top-level entries it installed (so hiding `torch` also hides `functorch`, `torchgen` and
    `torch-2.13.0.dist-info`).
    """

    sites: tuple[str, ...]
    entries: dict[str, tuple[str, ...]]
    owners: dict[str, tuple[str, ...]]
    files: dict[str, tuple[str, ...]]

    def hidden_paths(self, modules: tuple[str, ...] | list[str]) -> list[str]:
        """Absolute sandbox paths to mask so that none of `modules` (top-level names) is there.

        A folder's path ends in "/" (mask it with an empty tmpfs); a file's does not (/dev/null).
        """
        names: set[str] = set()
        for module in modules:
            top = module.partition(".")[0]
            names.add(top)
            for dist in self.owners.get(top, ()):
                names.update(self.files.get(dist, ()))
        out = []
        for site in self.sites:
            for entry in self.entries.get(site, ()):
                entry, slash = entry.rstrip("/"), "/" if entry.endswith("/") else ""
                stem = entry.split(".", 1)[0]
                dist_stem = entry.split("-", 1)[0] if entry.endswith((".dist-info", ".egg-info")) else ""
                if entry in names or stem in names or dist_stem.replace("_", "-").lower() in {
                        n.replace("_", "-").lower() for n in names}:
                    out.append(str(PurePosixPath(site) / entry) + slash)
        return sorted(set(out))

    def has(self, module: str, hidden: tuple[str, ...] | list[str] = ()) -> bool:
        """Whether top-level `module` is installed in the sandbox and not among `hidden` modules."""
        top = module.partition(".")[0]
        if top in {h.partition(".")[0] for h in hidden}:
            return False
        masked = {p.rstrip("/") for p in self.hidden_paths(tuple(hidden))} if hidden else set()
        for site in self.sites:
            for entry in self.entries.get(site, ()):
                entry = entry.rstrip("/")
                if str(PurePosixPath(site) / entry) in masked:
                    continue
                if entry == top or entry == f"{top}.py" or (entry.startswith(f"{top}.") and entry.endswith(".so")):
                    return True
        return False

    def to_json(self) -> dict:
        return {"sites": list(self.sites), "entries": {k: list(v) for k, v in self.entries.items()},
                "owners": {k: list(v) for k, v in self.owners.items()},
                "files": {k: list(v) for k, v in self.files.items()}}

    @staticmethod
    def from_json(data: dict) -> "SandboxEnvironment":
        """Parse a description (from a container: checked, never trusted blindly for shape)."""
        def strs(v: object) -> tuple[str, ...]:
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ValueError("expected a list of strings")
            return tuple(v)

        def table(v: object) -> dict[str, tuple[str, ...]]:
            if not isinstance(v, dict):
                raise ValueError("expected an object")
            return {str(k): strs(x) for k, x in v.items()}

        return SandboxEnvironment(strs(data["sites"]), table(data["entries"]), table(data["owners"]),
                                  table(data["files"]))


def describe(sites: list[str] | None = None) -> dict:
    """Describe this interpreter's site-packages (JSON-ready). Runs in the judge or in an image.

    Reads folder listings and each distribution's RECORD (first path parts only): tens of
    milliseconds, where importlib.metadata takes seconds on an environment with torch.
    """
    import sysconfig

    if sites is None:
        paths = sysconfig.get_paths()
        sites = sorted({paths["purelib"], paths["platlib"]})
    sites = [s for s in sites if os.path.isdir(s)]
    entries: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for site in sites:
        names = sorted(os.listdir(site))
        entries[site] = [e + ("/" if os.path.isdir(os.path.join(site, e)) else "") for e in names]
        for entry in names:
            if not entry.endswith(".dist-info"):
                continue
            dist = entry.split("-", 1)[0].lower().replace("_", "-")
            tops = {entry}
            try:
                with open(os.path.join(site, entry, "RECORD"), encoding="utf-8", errors="replace") as f:
                    for line in f:
                        top = line.split(",", 1)[0].split("/", 1)[0].strip('"')
                        if top and top != ".." and not top.endswith(".pth"):
                            tops.add(top)
            except OSError:
                pass
            files[dist] = sorted(set(files.get(dist, [])) | tops)
    owners: dict[str, list[str]] = {}
    for dist, tops in files.items():
        for top in tops:
            owners.setdefault(top.split(".", 1)[0], []).append(dist)
    return {"sites": sites, "entries": entries, "owners": owners, "files": files}


def probe_source() -> str:
    """Python source that, run with `python -c` in an image, prints that image's description."""
    from pathlib import Path

    own = Path(__file__).read_text(encoding="utf-8")
    return own + "\nprint(__import__('json').dumps(describe()))\n"


def parse_probe(output: bytes) -> SandboxEnvironment:
    """The description a probe printed (its last line), or ValueError."""
    lines = output.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        raise ValueError("the probe printed nothing")
    return SandboxEnvironment.from_json(json.loads(lines[-1]))
