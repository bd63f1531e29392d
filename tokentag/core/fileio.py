"""Writing the few files tokentag writes outside its own dir: whole or not at all, and only
where the user asked.

A file is replaced through a temporary file and a rename, so a crash leaves either the old
or the new content. The temporary file is made in a scratch dir of tokentag's when the
caller has one (a kill at the wrong moment then leaves nothing in the user's worktree),
beside the file when the two are on different file systems.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from tokentag.core.errors import TokentagError
from tokentag.core.scan import open_regular


def relative_name(name: str, what: str = "file") -> str:
    """`name` if it is a relative path that does not climb out of where it starts."""
    if not name or os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == "..":
        raise TokentagError(f"{what} {name!r} must be a path inside the worktree, relative "
                            f"to its top")
    return name


def inside(top: str | os.PathLike[str], name: str, what: str = "file") -> Path:
    """`name`, a path relative to the worktree `top`, once it is known to stay inside it,
    symlinks resolved, and outside its `.git`: a cloned repository's settings or links must
    not make tokentag write anywhere else."""
    relative_name(name, what)
    root = Path(os.path.realpath(top))
    real = Path(os.path.realpath(Path(top, name)))
    if real == root or not real.is_relative_to(root):
        raise TokentagError(f"{what} {name} resolves to {real}, outside the worktree {root}: "
                            f"tokentag writes only inside it")
    if ".git" in real.relative_to(root).parts:
        raise TokentagError(f"{what} {name} resolves into the git dir ({real})")
    return real


# What a settings or config file may hold: they are a few kB.
SMALL_FILE_LIMIT = 16 << 20


def read_limited(path: str | os.PathLike[str], limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The bytes of `path` if it is a regular file (see scan.open_regular) of at most
    `limit` bytes: a repository's settings or config may be a link to a FIFO or a device.
    Refused as OSError, EFBIG for what is larger."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", os.fspath(path))
    return data


def write_atomic(path: Path, data: bytes, scratch: str | None = None) -> None:
    """Replace `path` with `data` through a temporary file and a rename, keeping its mode.
    A symlink is followed, so the link stays a link."""
    target = Path(os.path.realpath(path))
    mode = _mode_of(target, path)
    temporary = _temporary(data, scratch or str(target.parent), target.name, path)
    try:
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, target)
        except OSError as error:
            if error.errno != errno.EXDEV or scratch is None:
                raise
            os.unlink(temporary)  # another file system: the rename must happen beside it
            write_atomic(target, data)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise TokentagError(f"cannot write {path}: {error.strerror}") from None
        raise


def _mode_of(target: Path, path: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError as error:
        raise TokentagError(f"cannot write {path}: {error.strerror}") from None


def _temporary(data: bytes, directory: str, name: str, path: Path) -> str:
    """A temporary file in `directory` holding `data`, flushed to disk."""
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    except OSError as error:
        raise TokentagError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise TokentagError(f"cannot write {path}: {error.strerror}") from None
        raise
    return temporary


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
