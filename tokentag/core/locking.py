"""The one lock helper: an exclusive `flock` on a file, held for a `with` block.

Every wait is bounded when a caller that must not hang (a hook) asks for it: a process
holding the lock may be stopped (Ctrl-Z) or stuck on a slow disk, and Claude Code and git
wait for their hooks.
"""

from __future__ import annotations

import fcntl
import os
import time

from tokentag.core.errors import TokentagError

_POLL = 0.005  # seconds between tries while someone else holds the lock


class LockTimeout(TokentagError):
    """The lock stayed taken for longer than the caller may wait."""


class HeldLock:
    """An exclusive lock on a file for a `with` block (a class: no contextlib on the hook
    paths, see tokentag/__init__.py)."""

    def __init__(self, path: str, timeout: float | None) -> None:
        self._path = path
        self._timeout = timeout
        self._fd = -1

    def __enter__(self) -> None:
        os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, self._path, self._timeout)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(self, *_: object) -> None:
        os.close(self._fd)  # closing releases the lock


def locked(path: str, timeout: float | None = None) -> HeldLock:
    """Hold an exclusive lock on `path` (created if missing, with its directory); wait at
    most `timeout` seconds for it, or for as long as it takes when None."""
    return HeldLock(path, timeout)


def _acquire(fd: int, path: str, timeout: float | None) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{path} stayed locked for {timeout:g} s") from None
            time.sleep(_POLL)
