"""Finding files and opening them safely: the `.jsonl` files below some directories (one
`scandir` per directory, each file with the stat that came with it; links to directories
are not followed, no cycles; a linked file is found by its target's path, as capture keys
its cursors), and a file opened only if it is a regular one."""

from __future__ import annotations

import errno
import io
import os
import stat

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed import StrPath


def jsonl_files(roots: Iterable[str], prefix: str = "") -> dict[str, os.stat_result]:
    """Every regular `<prefix>*.jsonl` file below `roots`, by real path; a directory that
    cannot be read is passed over."""
    found: dict[str, os.stat_result] = {}
    stack = list(roots)
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.startswith(prefix) and entry.name.endswith(".jsonl") \
                    and entry.is_file():
                path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                found.setdefault(path, entry.stat())
    return found


def open_regular(path: StrPath, buffered: bool = True) -> io.BufferedReader | io.FileIO:
    """`path` opened for reading if it is a regular file: a FIFO or a device named like a
    transcript, a settings file or a config would block the read or never end it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
        raw = io.FileIO(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw) if buffered else raw
