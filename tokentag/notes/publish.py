"""Putting notes into git: one tokentag writer at a time, a few tries each, and a record of
what is in git, so that what failed is written again later.

`git notes add` replaces the notes ref without checking its old value: two writers at once
(two worktrees committing together) lose one of the two notes. Every tokentag writer holds
the notes lock of the repository's tokentag dir while it writes. A note that still fails
(git's own ref lock left by a killed process, a full disk) stays stale in the index
(`Index.stale_notes`), and the next commit, sync or import writes it. A commit whose
requests all moved to another (amend, reset and recommit, squash) has its note removed: a
release reading both commits' notes would count them twice.

Lean: the post-commit hook publishes its commit's note through here.
"""

from __future__ import annotations

import os
import time

from tokentag.core import locking
from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd
from tokentag.notes import NOTES_REF, content

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.index import Index
    from tokentag.notes.early import StartedNote

NOTES_LOCK = "notes.lock"
LOCK_WAIT = 10.0  # seconds: another writer's few notes take milliseconds each
TRIES = 3
REPAIRS_PER_COMMIT = 3  # stale notes a commit writes besides its own: bounded, as is its time
# What git says when the annotated commit is not in the repository (a made-up or pruned
# id): such a note can never be written, and is not tried again.
_NO_SUCH_COMMIT = ("failed to resolve", "bad object", "not a valid object")


def publish(worktree: Worktree, index: Index, commits: Iterable[str] = (),
            repairs: int | None = REPAIRS_PER_COMMIT, started: StartedNote | None = None,
            ) -> list[str]:
    """Write the notes of `commits` and of up to `repairs` stale ones (all when None), each
    from the index, under the notes lock; `started`'s through its git. Returns one line
    per note that failed."""
    wanted = dict.fromkeys(commits)
    wanted.update(dict.fromkeys(commit for commit, _, _ in index.stale_notes(repairs)))
    notes = {commit: (index.note_seq(commit), content.note_for(index, commit))
             for commit in wanted}
    return write(worktree, index, {c: (seq, body) for c, (seq, body) in notes.items()
                                   if seq is not None}, started)


def write(worktree: Worktree, index: Index,
          notes: dict[str, tuple[int, dict[str, Any] | None]],
          started: StartedNote | None = None) -> list[str]:
    """Each note written (None: removed) and, once in git, marked written as of its seq."""
    if not notes:
        return []
    written: list[tuple[str, int]] = []
    failures: list[str] = []
    with locking.locked(os.path.join(worktree.tokentag_dir, NOTES_LOCK), LOCK_WAIT):
        for commit, (seq, body) in notes.items():
            failure = _put(worktree, commit, body,
                           started if started is not None and started.commit == commit else None)
            if failure is None:
                written.append((commit, seq))
            else:
                failures.append(f"note of {commit[:12]}: {failure}")
    index.mark_notes_written(written)
    return failures


def _put(worktree: Worktree, commit: str, body: dict[str, Any] | None,
         started: StartedNote | None = None) -> str | None:
    """None once the note is in git (or can never be: no such commit), else why not.
    `started`: the commit's git, waiting for the body, tried first (see notes.early)."""
    if body is not None and started is not None:
        try:
            if started.write(content.note_text(body)):
                return None
        except TokentagError:
            pass  # a note there already (it does not overwrite), or git failed: as usual
    why = ""
    for attempt in range(TRIES):
        try:
            if body is None:
                remove_note(worktree.top, commit)
            else:
                content.write_note(worktree.top, commit, body)
            return None
        except TokentagError as error:
            why = str(error)
            if any(sign in why for sign in _NO_SUCH_COMMIT):
                return None
            time.sleep(0.05 * (attempt + 1))  # a ref lock another git holds for a moment
    return why


def refresh(raised: dict[str, str]) -> list[str]:
    """The notes of commits whose counts rose since they were written (`raised`: commit ->
    a worktree of its repository), each repository's from its own index. Outside the
    ledger's lock: it runs git."""
    from tokentag.git.gitdirs import find_worktree
    from tokentag.ledger.store import Store

    by_top: dict[str, list[str]] = {}
    for commit, top in raised.items():
        by_top.setdefault(top, []).append(commit)
    failures: list[str] = []
    for top, commits in by_top.items():
        worktree = find_worktree(top)
        if worktree is not None:
            with Store.of(worktree).reading() as index:
                failures += publish(worktree, index, commits)
    return failures


def remove_note(top: str, commit: str) -> None:
    gitcmd.run(top, "notes", "--ref", NOTES_REF, "remove", "--ignore-missing", commit)
