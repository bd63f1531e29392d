"""The note of the commit being made, its git started before the post-commit hook's imports
and work: git's start-up and setup, two thirds of what `git notes add` takes here, run
meanwhile on another core.

`git notes add -F -` reads its input before it reads the notes ref: the note is still
written under the notes lock, when publish gives it its body (see publish.write). Until
then git has done nothing, so a note that gets no body (the commit takes none, the hook
failed) is stopped. Were the hook killed first, git would read an empty input, for which
it writes nothing on a commit without a note, as a commit just made is.

Lean: runs on every commit, before the rest of the git-hook path is imported.
"""

from __future__ import annotations

from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd
from tokentag.notes import NOTES_REF

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree


class StartedNote:
    """HEAD's note, its `git notes add` waiting for the body."""

    def __init__(self, worktree: Worktree) -> None:
        self.commit = gitcmd.head_commit(worktree)
        self._git = gitcmd.Fed(worktree.top, worktree.tokentag_dir, "notes", "--ref",
                               NOTES_REF, "add", "-f", "-F", "-", self.commit)

    def write(self, text: str) -> None:
        """The note's body, as content.note_text makes it: TokentagError if git failed."""
        self._git.finish(text.encode())

    def abandon(self) -> None:
        """No body after all, or one written: git is stopped if it still waits."""
        self._git.abandon()


def started(worktree: Worktree) -> StartedNote | None:
    """HEAD's note, started; None when git cannot be started now (the commit's work goes on,
    and its note is written the usual way, or the failure logged, at the end)."""
    try:
        return StartedNote(worktree)
    except (OSError, TokentagError):
        return None
