"""Write the judge's output files without following links.

The judge often runs as root, and its default output folders sit next to a student's notebook,
where the student may have planted a symlink. Every file the judge writes for a result
(result.json, feedback.html, a batch's per-student folders) goes through here:

- an output folder is created by the judge, or must already be a real folder (not a link);
- a file is written to a fresh temporary name inside that folder (O_CREAT | O_EXCL | O_NOFOLLOW,
  relative to the folder's descriptor), then renamed over the final name, so a reader never
  sees half a file and a link at the final name is never followed;
- an existing link at the final name is refused.

Standard library only; callers: cli, batch.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class UnsafeOutput(OSError):
    """An output path is, or runs through, a symbolic link, or is not a folder."""


def _no_links(path: Path) -> None:
    """Refuse `path` if it, or any existing parent below the filesystem root, is a symlink."""
    for p in (path, *path.parents):
        if p == p.parent:
            break
        if p.is_symlink():
            raise UnsafeOutput(f"{p} is a symbolic link; refusing to write through it")


def ensure_dir(path: Path) -> Path:
    """Create the folder `path` (and its parents) or check that it is a real folder; no links."""
    path = Path(os.path.abspath(path))
    _no_links(path)
    path.mkdir(parents=True, exist_ok=True)
    _no_links(path)
    if not path.is_dir():
        raise UnsafeOutput(f"{path} is not a folder")
    return path


def write_bytes(folder: Path, name: str, data: bytes, mode: int = 0o644) -> Path:
    """Write `data` as `folder/name` atomically, never following a link; returns the path."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    folder = ensure_dir(folder)
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not _regular(st.st_mode):
            raise UnsafeOutput(f"{folder / name} exists and is not a regular file; refusing to replace it")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = ""
    finally:
        if tmp:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        os.close(dir_fd)
    return folder / name


def refuse_links(folder: Path, *names: str) -> None:
    """Raise UnsafeOutput if any of `folder/name` exists as something other than a regular file.

    For a command that writes several files: check them all before writing the first.
    """
    import stat

    for name in names:
        try:
            st = os.lstat(Path(folder) / name)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeOutput(f"{Path(folder) / name} exists and is not a regular file; refusing to replace it")


def write_text(folder: Path, name: str, text: str) -> Path:
    """`write_bytes` for UTF-8 text."""
    return write_bytes(folder, name, text.encode("utf-8"))


def _regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
