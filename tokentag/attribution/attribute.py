"""Tie captured requests to commits: post-commit, post-merge and post-rewrite.

Rule: a request belongs to the first commit made in the same worktree after the
request's first line appeared in its transcript. A commit therefore first flushes
every transcript that may hold usage for its worktree (the agent's own `git commit`
runs mid-turn, before any hook fires), then takes the worktree's pending requests.
"""

from __future__ import annotations

import os
import time

from tokentag.capture import codex, transcript
from tokentag.capture.catch_up import CaptureResult, catch_up
from tokentag.core import claude_paths
from tokentag.core.timefmt import now_iso
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree
from tokentag.ledger import records
from tokentag.ledger.index import Cursor, Index
from tokentag.ledger.store import Store
from tokentag.notes import content

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable


def flush(worktree: Worktree) -> CaptureResult:
    """Catch up on every transcript that grew: known ones and new ones in the project dir."""
    store = Store.of(worktree)
    flushed_at = time.time_ns()
    with store.reading() as index:
        paths, vanished, gone = _grown_known_transcripts(index)
        since_ns = index.last_flush_ns()
    paths.update(_new_project_transcripts(worktree, since_ns, paths))
    rollout = codex.running_rollout()  # a Codex agent's own commit, mid-turn
    if rollout is not None:
        paths.add(rollout)
    result = catch_up(sorted(paths), worktree, lock_wait=None)
    _stamp_flush(store, flushed_at, vanished, gone)
    if result.raised_commits:
        content.refresh(result.raised_commits)
    if result.failures:
        raise OSError("capture failed for " + "; ".join(result.failures))
    return result


def _stamp_flush(store: Store, flushed_at: int, vanished: list[str], gone: list[str]) -> None:
    with store.writing() as writer:
        writer.index.set_last_flush_ns(flushed_at)
        # A pruned transcript's cursor would be stat'ed at every commit forever; the
        # cursor is only a cache (a reappearing file is re-read and deduplicated).
        writer.index.drop_cursors(vanished)
        writer.index.mark_sessions_gone(gone)


def _grown_known_transcripts(index: Index) -> tuple[set[str], list[str], list[str]]:
    """Transcripts that grew since their cursor (or are other files now), cursors whose
    file is gone, and sessions whose transcripts Claude Code has pruned."""
    grown: set[str] = set()
    vanished: list[str] = []
    cursors = index.cursors()
    for path, cursor in cursors.items():
        try:
            stat = os.stat(path)
        except OSError:
            vanished.append(path)
            continue
        if stat.st_size > cursor.offset or not cursor.continues(stat):
            grown.add(path)
    listings: dict[str, frozenset[str]] = {}
    gone: list[str] = []
    project_dirs: set[str] = set()
    for session_id, main in index.live_sessions():
        if not _still_on_disk(main, listings):
            gone.append(session_id)  # pruned after 30 days: its usage is in the ledger
            continue
        if main in cursors and main not in grown:
            continue  # a subagent at work writes progress lines into its session's file
        project_dirs.add(os.path.dirname(main))
        for path in transcript.session_files(main, None):
            if path not in cursors and _size(path) > 0:
                grown.add(path)
    grown.update(_new_flat_agent_files(project_dirs, cursors))
    return grown, vanished, gone


def _new_flat_agent_files(project_dirs: set[str], cursors: dict[str, Cursor]) -> set[str]:
    """Unread `agent-*.jsonl` files of the flat layout (Claude Code 2.0.28-2.1.1), one
    listing per project dir: matching each to its session would open every one of them
    for every session, on every commit."""
    found: set[str] = set()
    for directory in project_dirs:
        for path in transcript.agent_files_in(directory):
            if path not in cursors and _size(path) > 0:
                found.add(path)
    return found


def _listing(directory: str) -> list[str]:
    """The `*.jsonl` files in `directory` (none if it is gone)."""
    try:
        return [entry.path for entry in os.scandir(directory) if entry.name.endswith(".jsonl")
                and not entry.is_dir()]
    except OSError:
        return []


def _still_on_disk(main: str, listings: dict[str, frozenset[str]]) -> bool:
    """Whether a session's transcript or its `<session>/` folder of subagents still exists,
    from one listing per project dir: every session ever seen is in the index, and looking
    for each one's files on every commit would make a commit cost O(history)."""
    directory, _, name = main.rpartition(os.sep)  # a stored, absolute path
    names = listings.get(directory)
    if names is None:
        try:
            names = frozenset(os.listdir(directory or os.sep))
        except OSError:
            names = frozenset()
        listings[directory] = names
    return name in names or name.rpartition(".")[0] in names


def _new_project_transcripts(worktree: Worktree, since_ns: int | None,
                             known: set[str]) -> set[str]:
    """Transcripts of this worktree's project dir changed since the last flush: sessions
    whose hooks did not run. Before the first flush there is no "since": older history
    is for `tokentag import`, not for the first commit after install."""
    if since_ns is None:
        return set()
    found: set[str] = set()
    for directory in claude_paths.project_dirs(worktree.top):
        # The listing also has flat-layout agent files (they sit beside the sessions),
        # so no session needs its flat agents looked up: that opens every agent file.
        for main in _listing(directory):
            for path in transcript.session_files(main, None):
                if path not in known and _mtime_ns(path) > since_ns:
                    found.add(path)
    return found


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def attribute_pending(worktree: Worktree, commit: str, how: str = "observed") -> list[str]:
    """Give the worktree's pending requests to `commit` and write its note."""
    store = Store.of(worktree)
    with store.writing() as writer:
        pending = writer.index.pending(worktree.top)
        keys = [key for key, via, _ in pending if not records.imported(via)]
        imported = _imported_on_branch(worktree, pending)
        attributions = [records.attribution(commit, worktree.top, taken, kind, now_iso())
                        for taken, kind in ((keys, how), (imported, "inferred")) if taken]
        if attributions:
            writer.write(attributions)
        note = content.note_for(writer.index, commit)
    if note is not None:
        content.write_note(worktree.top, commit, note)
    return keys + imported


def _imported_on_branch(worktree: Worktree,
                        pending: list[tuple[str, str, str | None]]) -> list[str]:
    """Requests `tokentag import` found that no commit has taken yet: a commit takes only
    those of its own branch (the import rule), so weeks of history from deleted or other
    branches do not pile onto the next commit."""
    if not any(records.imported(via) for _, via, _ in pending):
        return []
    try:
        with open(os.path.join(worktree.git_dir, "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
    except OSError:
        return []
    branch = head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else "HEAD"
    return [key for key, via, on in pending if records.imported(via) and on == branch]


def is_attributed(worktree: Worktree, commit: str) -> bool:
    with Store.of(worktree).reading() as index:
        return index.is_attributed(commit)


def follow_rewrites(worktree: Worktree, kind: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Move attribution from rewritten commits to their replacements and fix their notes.

    Git copies notes across rewrites (content.rewriteRef), but concatenates them when a
    squash folds several commits into one; the note is rewritten from the index.
    """
    pairs = [(old, new) for old, new in pairs if old != new]
    if not pairs:
        return
    store = Store.of(worktree)
    with store.writing() as writer:
        writer.write([records.rewrite(kind, [list(p) for p in pairs], now_iso())])
        new_commits = dict.fromkeys(new for _, new in pairs)
        fresh = {new: content.note_for(writer.index, new) for new in new_commits}
    for new, note in fresh.items():
        if note is not None:
            content.write_note(worktree.top, new, note)


def head_commit(worktree: Worktree) -> str:
    """HEAD's commit id, read from the ref files git has just written (a `git rev-parse`
    would cost a process on every commit); git itself answers anything unusual."""
    try:
        head = _read_ascii(os.path.join(worktree.git_dir, "HEAD"))
        if head.startswith("ref: refs/"):
            ref = head.removeprefix("ref: ")
            for base in (worktree.git_dir, worktree.common_dir):
                if os.path.isfile(os.path.join(base, ref)):
                    head = _read_ascii(os.path.join(base, ref))
                    break
        if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head):
            return head
    except (OSError, UnicodeDecodeError):
        pass  # packed refs, reftable, a symlinked HEAD: ask git
    return gitcmd.run(worktree.top, "rev-parse", "HEAD")


def _read_ascii(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


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


def on_post_commit(worktree: Worktree) -> None:
    try:
        flush(worktree)
    finally:  # what is pending belongs to this commit even if one transcript failed to read
        attribute_pending(worktree, head_commit(worktree))


def on_post_merge(worktree: Worktree) -> None:
    """A merge that made a commit is a commit; a fast-forward made none."""
    commit = head_commit(worktree)
    if parent_count(worktree, commit) > 1 and not is_attributed(worktree, commit):
        on_post_commit(worktree)


def on_post_rewrite(worktree: Worktree, kind: str, stdin_text: str) -> None:
    follow_rewrites(worktree, kind, read_rewrite_pairs(stdin_text))
    if kind == "amend":  # the amended commit also takes what was spent since the original
        on_post_commit(worktree)
