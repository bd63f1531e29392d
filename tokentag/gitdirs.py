"""Find a path's git worktree and common dir by reading `.git`, without running git.

The hook resolves the repository of every transcript line's `cwd`; spawning
`git rev-parse` for each would cost more than the rest of the hook together.
"""

from __future__ import annotations

import os
from collections import namedtuple
from functools import lru_cache
from pathlib import Path

# `typing` costs ~2.5 ms to import; mypy treats a name TYPE_CHECKING as its own flag.
TYPE_CHECKING = False
if TYPE_CHECKING:  # typed for the checker, built without `typing` (see tokentag.usage)
    from typing import NamedTuple

    class _WorktreeFields(NamedTuple):
        top: Path
        git_dir: Path
        common_dir: Path
else:
    _WorktreeFields = namedtuple("_WorktreeFields", ("top", "git_dir", "common_dir"))


class Worktree(_WorktreeFields):
    """A checked-out worktree: its top level, its own git dir and the shared common dir."""

    __slots__ = ()

    @property
    def tokentag_dir(self) -> Path:
        return self.common_dir / "tokentag"


def find_worktree(cwd: str | os.PathLike[str]) -> Worktree | None:
    """The worktree holding `cwd`, or None outside git. A `cwd` that no longer exists
    is looked up from its nearest existing parent (a deleted subdirectory still
    belonged to the repository around it)."""
    return _find_worktree(os.path.realpath(os.fspath(cwd)))


@lru_cache(maxsize=256)
def _find_worktree(path: str) -> Worktree | None:
    current = Path(path)
    while not current.exists() and current != current.parent:
        current = current.parent
    for directory in (current, *current.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir() and (dot_git / "HEAD").is_file():
            return Worktree(directory, dot_git, _common_dir(dot_git))
        if dot_git.is_file():
            git_dir = _read_gitdir_file(dot_git)
            if git_dir is not None:
                return Worktree(directory, git_dir, _common_dir(git_dir))
    return None


def _read_gitdir_file(dot_git: Path) -> Path | None:
    """Linked worktrees and submodules have a `.git` file: `gitdir: <path>`."""
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text.removeprefix("gitdir:").strip())
    if not target.is_absolute():
        target = dot_git.parent / target
    return Path(os.path.realpath(target))


def _common_dir(git_dir: Path) -> Path:
    """Linked worktrees name the shared dir in `commondir`; others are their own."""
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return git_dir
    target = Path(common)
    if not target.is_absolute():
        target = git_dir / target
    return Path(os.path.realpath(target))
