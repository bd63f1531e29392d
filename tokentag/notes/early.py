"""A commit's note, its git started while the post-commit hook still works out the body:
git's start-up and setup, two thirds of what `git notes add` takes here, run meanwhile
on the other core. Started only when the commit is likely to take a note (new transcript
lines, or requests pending in its worktree); a guess either way costs time, never a note.

`git notes add -F -` reads its input before it reads the notes ref: the note is still
written under the notes lock, when publish gives it the body (see publish._put). Until
then git has done nothing, so a note that gets no body is stopped. It runs without `-f`:
were the hook killed before the body, git would read an empty input and refuse a commit
that has a note already (a same-second amend, a rebase that recreates a commit), rather
than remove it outside the lock; a note there already is written the usual way, with
`-f`. A body larger than a pipe holds goes the usual way too: it could not be given
whole in one write, and a hook killed halfway would leave git a truncated note.

Lean: runs on every commit that takes a note.
"""

from __future__ import annotations

from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd
from tokentag.notes import NOTES_REF

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree

PIPE_CAPACITY = 65536  # Linux's default; what one write into an empty pipe always takes


class StartedNote:
    """`commit`'s note, its `git notes add` waiting for the body."""

    def __init__(self, worktree: Worktree, commit: str) -> None:
        self.commit = commit
        self._git = gitcmd.Fed(worktree.top, worktree.tokentag_dir, "notes", "--ref",
                               NOTES_REF, "add", "-F", "-", commit)

    def write(self, text: str) -> bool:
        """Give git the body (`content.note_text`'s) and wait: False, git stopped, when it
        is too large to give whole; TokentagError when git failed."""
        data = text.encode()
        if len(data) > PIPE_CAPACITY:
            self.abandon()
            return False
        self._git.finish(data)
        return True

    def abandon(self) -> None:
        """No body after all, or one written: git is stopped if it still waits."""
        self._git.abandon()


def started(worktree: Worktree, commit: str) -> StartedNote | None:
    """`commit`'s note, started; None when git cannot be started now (the note is then
    written the usual way, or its failure logged, at the end)."""
    try:
        return StartedNote(worktree, commit)
    except (OSError, TokentagError):
        return None
