"""A submission as handed in: a notebook, or a folder holding the notebook and its files.

Owns: finding the notebook in a submission folder and listing the files that travel with it
(the `[model]` weights and predictions), by name, without reading them. Calls nothing of the
grader's but grader.course.notebook (for BadNotebook). Used by `grade submit`/`grade check`
and by batch intake for a student's folder. The files are read by the judge only
(grader.judge.model_scoring); their bytes never reach the worker.
"""

from __future__ import annotations

import stat
from pathlib import Path

from grader.course.notebook import BadNotebook

#: The most files kept with one notebook; a folder with more is bad input.
MAX_FILES = 64
#: Folders of Jupyter's and of the grader's own outputs, skipped when looking for the notebook.
_SKIPPED = (".ipynb_checkpoints",)


def submission_parts(path: Path) -> tuple[Path, dict[str, Path]]:
    """(notebook, {file name: path}) of a notebook file or a folder holding exactly one notebook.

    A folder's other regular files, at its top level, travel with the notebook (links, folders
    and hidden files do not). Raises BadNotebook with one line for people.
    """
    path = Path(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise BadNotebook(f"{path}: no such file") from None
    except OSError as e:
        raise BadNotebook(f"{path}: {e.strerror or e}") from None
    if not stat.S_ISDIR(info.st_mode):
        return path, {}
    notebooks, files = [], {}
    try:
        entries = sorted(path.iterdir())
    except OSError as e:
        raise BadNotebook(f"{path}: cannot list the folder: {e.strerror or e}") from None
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _SKIPPED:
            continue
        try:
            mode = entry.lstat().st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            continue
        if entry.suffix.lower() == ".ipynb":
            notebooks.append(entry)
        else:
            files[entry.name] = entry
    if not notebooks:
        raise BadNotebook(f"{path}: a directory that holds no notebook (.ipynb)")
    if len(notebooks) > 1:
        names = ", ".join(n.name for n in notebooks[:5])
        raise BadNotebook(f"{path}: the folder holds {len(notebooks)} notebooks ({names}); keep one")
    if len(files) > MAX_FILES:
        raise BadNotebook(f"{path}: the folder holds {len(files)} other files; at most {MAX_FILES} travel "
                          "with the notebook")
    return notebooks[0], files


def files_beside(notebook: Path) -> dict[str, Path]:
    """The regular, visible, top-level files next to `notebook` (not notebooks), by name: what
    travels with a notebook picked from an LMS's submission folder. At most MAX_FILES."""
    files: dict[str, Path] = {}
    try:
        entries = sorted(Path(notebook).parent.iterdir())
    except OSError:
        return files
    for entry in entries:
        if entry.name.startswith(".") or entry.suffix.lower() == ".ipynb":
            continue
        try:
            if stat.S_ISREG(entry.lstat().st_mode) and len(files) < MAX_FILES:
                files[entry.name] = entry
        except OSError:
            continue
    return files
