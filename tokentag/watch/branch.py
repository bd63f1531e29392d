"""This branch's own commits: the ones made since it left the default branch. Lean: the
status line asks on every assistant message, so git is run through gitcmd, twice.

The default branch is the one `origin/HEAD` names, else `main`, else `master`. A branch's
own commits are those HEAD reaches and neither the default branch nor its remote-tracking
copy does: unpushed work on the default branch, and what a merge brought in from it, are
not the branch's.
"""

from __future__ import annotations

import os

from tokentag.core.tuples import tuple_type
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, current_branch

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import NamedTuple

    class _BranchFields(NamedTuple):
        name: str
        default: str | None
        commits: list[str]
else:
    _BranchFields = tuple_type("_BranchFields", ("name", "default", "commits"))

DEFAULT_NAMES = ("main", "master")
_ORIGIN = "refs/remotes/origin/"
_HEADS = "refs/heads/"


class BranchWork(_BranchFields):
    """The checked-out branch, the default branch (None when there is none to leave: on
    it, or no such branch), and the branch's own commits, newest first."""

    __slots__ = ()

    @property
    def is_default(self) -> bool:
        return self.default is None or self.name == self.default


def branch_work(worktree: Worktree) -> BranchWork | None:
    """The checked-out branch and its own commits; None when HEAD is detached."""
    name = current_branch(worktree)
    if name is None:
        return None
    listed = _git(worktree, "for-each-ref", "--format=%(refname)%00%(symref)", _ORIGIN,
                  _HEADS)
    refs = dict(line.partition("\x00")[::2] for line in listed.split("\n") if line)
    remote = refs.get(f"{_ORIGIN}HEAD") or None
    default = remote.removeprefix(_ORIGIN) if remote and remote.startswith(_ORIGIN) \
        else next((n for n in DEFAULT_NAMES if f"{_HEADS}{n}" in refs), None)
    bases = [ref for ref in (remote, f"{_HEADS}{default}") if ref in refs]
    if default is None or default == name or not bases:
        return BranchWork(name, default if bases else None, [])
    commits = _git(worktree, "rev-list", "HEAD", "--not", *bases, "--")
    return BranchWork(name, default, commits.split())


def _git(worktree: Worktree, *args: str) -> str:
    """git's output, "" when it fails (no commits yet, a ref gone meanwhile). Without the
    subprocess module where tokentag keeps a dir for git's error output."""
    if os.path.isdir(worktree.tokentag_dir):
        return gitcmd.output_of(worktree.top, os.path.join(worktree.tokentag_dir, "tmp"), *args,
                                check=False)
    return gitcmd.run(worktree.top, *args, check=False)
