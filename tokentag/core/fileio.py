"""Replacing a file so that a crash leaves either the old or the new content, whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from tokentag.core.errors import TokentagError


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` through a temporary file and a rename, keeping its mode.
    A symlink is followed, so the link stays a link."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as error:
        raise TokentagError(f"cannot write {path}: {error.strerror}") from None
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".tmp")
    except OSError as error:
        raise TokentagError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise TokentagError(f"cannot write {path}: {error.strerror}") from None
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
