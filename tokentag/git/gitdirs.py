"""Find a path's git worktree and common dir by reading `.git`, without running git.

The hook resolves the repository of every transcript line's `cwd`; spawning
`git rev-parse` for each would cost more than the rest of the hook together.

Paths are strings here and in every module the hooks import: `pathlib` brings in
`fnmatch`, `re` and `urllib.parse`, 9 ms of start-up on every commit and tool call.
"""

from __future__ import annotations

import os

from tokentag.core.tuples import tuple_type

# `typing` costs ~2.5 ms to import; mypy treats a name TYPE_CHECKING as its own flag.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typed for the checker, built without `typing` (see tokentag/__init__.py)
    from typing import NamedTuple

    class _WorktreeFields(NamedTuple):
        top: str
        git_dir: str
        common_dir: str
else:
    _WorktreeFields = tuple_type("_WorktreeFields", ("top", "git_dir", "common_dir"))


class Worktree(_WorktreeFields):
    """A checked-out worktree: its top level, its own git dir and the shared common dir."""

    __slots__ = ()

    @property
    def tokentag_dir(self) -> str:
        return os.path.join(self.common_dir, "tokentag")

    @property
    def name(self) -> str:
        """The top level as records hold it: text that UTF-8 can encode, as Claude Code
        writes paths (U+FFFD for bytes that are not UTF-8). Commands run in `top`."""
        top = self.top
        if top.isascii():
            return top
        return os.fsencode(top).decode("utf-8", "replace")


# The worktrees found, by path as given (absolute ones) and as resolved: a commit or an
# import asks about the same few cwds again and again, and resolving one costs an lstat per
# part. A plain dict, not `functools.lru_cache`: see core/lean_sqlite.py.
_found: dict[str, Worktree | None] = {}
_FOUND_KEPT = 512


def find_worktree(cwd: str | os.PathLike[str]) -> Worktree | None:
    """The worktree holding `cwd`, or None outside git. A `cwd` that no longer exists
    is looked up from its nearest existing parent (a deleted subdirectory still
    belonged to the repository around it)."""
    given = os.fspath(cwd)
    if given in _found:
        return _found[given]
    path = os.path.realpath(on_disk(given))
    if path not in _found:
        _remember(path, _find_worktree(path))
    found = _found[path]
    if os.path.isabs(given):  # a relative one means another place after a chdir
        _remember(given, found)
    return found


def _remember(path: str, found: Worktree | None) -> None:
    if len(_found) >= _FOUND_KEPT:
        _found.clear()
    _found[path] = found


def on_disk(path: str) -> str:
    """`path` as the file system names it. Claude Code (Node.js) writes a path whose bytes
    are not UTF-8 with U+FFFD in their place: each such name that does not exist is
    matched against its directory's entries, read the same way; kept if none or several
    match."""
    if "\ufffd" not in path or os.path.lexists(path):
        return path
    parent, name = os.path.split(path)
    if not name:
        return path
    parent = on_disk(parent)
    try:
        entries = os.listdir(os.fsencode(parent))
    except OSError:
        return os.path.join(parent, name)
    found = [entry for entry in entries if entry.decode("utf-8", "replace") == name]
    return os.path.join(parent, os.fsdecode(found[0]) if len(found) == 1 else name)


def _find_worktree(path: str) -> Worktree | None:
    directory = path  # absolute and resolved
    while not os.path.exists(directory) and directory != os.path.dirname(directory):
        directory = os.path.dirname(directory)
    while True:
        dot_git = os.path.join(directory, ".git")
        git_dir = dot_git if os.path.isdir(dot_git) else _read_gitdir_file(dot_git)
        if git_dir is not None:
            common = _common_dir(git_dir)
            if _is_git_dir(git_dir, common):
                return Worktree(directory, git_dir, common)
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def unusable_git_dir(cwd: str) -> str | None:
    """Where the nearest `.git` above `cwd` leads when find_worktree found no repository
    there (a `.git` file naming a dir that is gone or is not a git dir): for the message."""
    directory = os.path.realpath(cwd)
    while True:
        dot_git = os.path.join(directory, ".git")
        if os.path.lexists(dot_git):
            return _read_gitdir_file(dot_git) or dot_git
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _is_git_dir(git_dir: str, common_dir: str) -> bool:
    """What git itself checks before it takes a dir for a repository: a HEAD, and objects
    and refs in the common dir. A `.git` file naming any other dir (a cloned repository's
    planted one, say) makes no repository, and tokentag must not write there."""
    return os.path.isfile(os.path.join(git_dir, "HEAD")) and \
        os.path.isdir(os.path.join(common_dir, "objects")) and \
        os.path.isdir(os.path.join(common_dir, "refs"))


def _read_gitdir_file(dot_git: str) -> str | None:
    """Linked worktrees and submodules have a `.git` file: `gitdir: <path>`."""
    text = _read_text(dot_git)
    if text is None or not text.startswith("gitdir:"):
        return None
    target = text.removeprefix("gitdir:").strip()
    return os.path.realpath(os.path.join(os.path.dirname(dot_git), target))


def _common_dir(git_dir: str) -> str:
    """Linked worktrees name the shared dir in `commondir`; others are their own."""
    common = _read_text(os.path.join(git_dir, "commondir"))
    if common is None:
        return git_dir
    return os.path.realpath(os.path.join(git_dir, common))  # join keeps an absolute one


def _read_text(path: str) -> str | None:
    if not os.path.isfile(path):  # a FIFO would block the read
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def refs_fingerprint(common_dir: str) -> str | None:
    """Inode, size and times of every file that holds a branch tip (loose refs under
    refs/heads, and packed-refs) or a worktree's HEAD (which a commit on a detached HEAD
    moves): git replaces one of them (a new file renamed over the old, so a new inode
    even within one clock tick) whenever a tip moves, so an unchanged fingerprint means
    unchanged tips, without running git. None for a reftable repository, whose files
    this does not know."""
    if os.path.exists(os.path.join(common_dir, "reftable")):
        return None
    parts = [f"packed-refs {_identity(os.path.join(common_dir, 'packed-refs'))}",
             f"HEAD {_identity(os.path.join(common_dir, 'HEAD'))}"]
    try:
        linked = os.listdir(os.path.join(common_dir, "worktrees"))
    except OSError:  # none (or unreadable: their HEADs then count as unchanged)
        linked = []
    parts += [f"worktrees/{_text(name)}/HEAD "
              f"{_identity(os.path.join(common_dir, 'worktrees', name, 'HEAD'))}"
              for name in linked]
    heads = os.path.join(common_dir, "refs", "heads")
    for directory, _, names in os.walk(heads):
        for name in names:
            path = os.path.join(directory, name)
            parts.append(f"refs/heads/{_text(os.path.relpath(path, heads))} {_identity(path)}")
    return "\n".join(sorted(parts))


def _text(name: str) -> str:
    """A file name as text that UTF-8 can store (the fingerprint goes to the state file):
    a byte that is not UTF-8 as its escape, not as the surrogate Python reads it as."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _identity(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "-"
    return f"{stat.st_ino} {stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns}"


def current_branch(worktree: Worktree) -> str | None:
    """The branch checked out in `worktree` (its HEAD file), None when HEAD is detached."""
    try:
        with open(os.path.join(worktree.git_dir, "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix):] if head.startswith(prefix) else None
