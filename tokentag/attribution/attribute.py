"""Tie captured requests to commits: post-commit, post-merge, post-rewrite, and the squash
list prepare-commit-msg keeps.

A commit reads every transcript that may hold usage for its worktree (discovery), then,
under one lock and with one index open: records what it read, settles what an earlier
agent commit left open (settle), takes over what the commits it replaces held (moves),
takes what is pending in its worktree (rules), and notes itself as an agent commit when it
was made inside a Claude Code tool call. Its note, and the notes those steps changed, are
written once the lock is released (notes.publish).

If the lock stays taken (a stopped import, a stuck hook), the commit gives up after
COMMIT_LOCK_WAIT seconds, logged, and its pending requests go to the next commit.
"""

from __future__ import annotations

import time

from tokentag.attribution import discovery, moves, rules, settle
from tokentag.capture import catch_up
from tokentag.core.timefmt import now_iso
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree
from tokentag.ledger import records
from tokentag.ledger.store import Store, Writer
from tokentag.notes import early, publish

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable

    from tokentag.ledger.records import LedgerRecord
    from tokentag.notes.early import StartedNote

COMMIT_LOCK_WAIT = 10.0


def on_post_commit(worktree: Worktree) -> None:
    commit = gitcmd.head_commit(worktree)
    inside, session = settle.agent_call()
    store = Store.of(worktree)
    looked_at = time.time_ns()
    started: StartedNote | None = None
    try:
        with store.reading(COMMIT_LOCK_WAIT, create=True) as index:
            paths, vanished, gone = discovery.transcripts_to_read(index, worktree)
            reads, failures = catch_up.read_new(sorted(paths), index, worktree)
            if reads or index.has_pending(worktree.name):  # a note is likely: its git starts
                started = early.started(worktree, commit)
            with store.writing_to(index, COMMIT_LOCK_WAIT) as writer:
                captured = catch_up.record(writer, reads, worktree, None, "hook")
                touched = _take(writer, worktree, commit, inside, session)
                discovery.stamp(writer.index, looked_at, vanished, gone)
            captured += catch_up.record_elsewhere(reads, worktree, None, "hook")
            failures += publish.publish(worktree, index, [commit, *touched], started=started)
    finally:
        if started is not None:
            started.abandon()
    failures += publish.refresh(captured.raised_commits)
    if failures:
        raise OSError("; ".join(failures))


def _take(writer: Writer, worktree: Worktree, commit: str, inside: bool,
          session: str | None) -> list[str]:
    """Write what this commit and the commits around it take; returns the commits whose
    notes that changed."""
    touched = settle.settle(writer, worktree, final=True)  # what an agent commit left open
    kind, abandoned = moves.abandoned(worktree, commit)
    replaced = [old for old in abandoned if old != commit and writer.index.is_attributed(old)]
    made: list[LedgerRecord] = []
    if replaced:
        made.append(records.rewrite(kind, [[old, commit] for old in replaced], now_iso()))
    writer.write(made)
    taken = rules.attributions(writer.index, worktree, commit)
    made = [*taken]
    if inside:
        made.append(records.agent_commit(commit, worktree.name, session, now_iso()))
    writer.write(made)
    return [*touched, *replaced, *(record["commit"] for record in taken)]


def on_post_merge(worktree: Worktree) -> None:
    """A merge that made a commit is a commit; a fast-forward made none."""
    commit = gitcmd.head_commit(worktree)
    if parent_count(worktree, commit) > 1 and not is_attributed(worktree, commit):
        on_post_commit(worktree)


def on_post_rewrite(worktree: Worktree, kind: str, stdin_text: str) -> None:
    follow_rewrites(worktree, kind, read_rewrite_pairs(stdin_text))
    if kind == "amend":  # the amended commit also takes what was spent since the original
        on_post_commit(worktree)


def on_prepare_commit_msg(worktree: Worktree) -> None:
    moves.keep_squash_list(worktree)


def is_attributed(worktree: Worktree, commit: str) -> bool:
    with Store.of(worktree).reading(COMMIT_LOCK_WAIT) as index:
        return index.is_attributed(commit)


def follow_rewrites(worktree: Worktree, kind: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Move attribution from rewritten commits to their replacements; write the new notes
    and remove the old ones.

    Git copies notes across rewrites (notes.rewriteRef), but concatenates them when a
    squash folds several commits into one, and leaves the old commit's: the new note is
    written from the index, and the old one goes (an amended commit still reachable, say
    merged before, would otherwise be counted twice by a release).
    """
    pairs = [(old, new) for old, new in pairs if old != new]
    if not pairs:
        return
    store = Store.of(worktree)
    with store.reading(COMMIT_LOCK_WAIT, create=True) as index:
        with store.writing_to(index, COMMIT_LOCK_WAIT) as writer:
            writer.write([records.rewrite(kind, [list(p) for p in pairs], now_iso())])
        changed = dict.fromkeys(commit for pair in pairs for commit in reversed(pair))
        failures = publish.publish(worktree, index, changed)
    if failures:
        raise OSError("; ".join(failures))


def parent_count(worktree: Worktree, commit: str) -> int:
    return len(gitcmd.run(worktree.top, "rev-list", "--parents", "-n", "1", commit).split()) - 1


def read_rewrite_pairs(text: str) -> list[tuple[str, str]]:
    """post-rewrite's stdin: `<old> <new> [<extra>]` per line."""
    pairs = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            pairs.append((fields[0], fields[1]))
    return pairs
