"""Which transcripts a commit reads before it takes what is pending: every transcript that
grew since its cursor, and the new ones in the worktree's project dirs (sessions whose
hooks never ran), and the rollout of the Codex session a commit runs in. The agent's own
`git commit` runs mid-turn, before any hook fires, so the commit reads what the
transcripts hold at that moment.

Cost grows with what changed, not with history: one listing per project dir, and pruned
transcripts and sessions are looked at once, then dropped or marked gone.
"""

from __future__ import annotations

import os

from tokentag.capture import transcript
from tokentag.core import claude_paths, codex_paths
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.index import Cursor, Index

# A file's mtime comes from the kernel's coarse clock, a tick behind the one the last look
# read (1-10 ms on Linux; a file system may keep 1 or 2 s): a transcript written just after
# that look can carry an earlier time. Files looked at again cost a stat: the cursors and
# the dedup make a second read harmless.
MTIME_SLACK_NS = 2_000_000_000


def transcripts_to_read(index: Index, worktree: Worktree) -> tuple[set[str], list[str],
                                                                     list[str]]:
    """The transcripts to read, the cursors whose file is gone, and the sessions whose
    transcripts Claude Code has pruned."""
    examined: set[str] = set()
    paths, vanished, gone = _grown_known_transcripts(index, examined)
    paths.update(_new_project_transcripts(worktree, index.last_flush_ns(), paths, examined))
    rollout = codex_paths.running_rollout()  # a Codex agent's own commit, mid-turn
    if rollout is not None:
        paths.add(rollout)
    return paths, vanished, gone


def stamp(index: Index, looked_at_ns: int, vanished: list[str], gone: list[str]) -> None:
    """Remember this look (the next one finds new transcripts changed since), and forget
    what is gone. Hold the lock."""
    index.set_last_flush_ns(looked_at_ns)
    # A pruned transcript's cursor would be stat'ed at every commit forever; the
    # cursor is only a cache (a reappearing file is re-read and deduplicated).
    index.drop_cursors(vanished)
    index.mark_sessions_gone(gone)


def _grown_known_transcripts(index: Index, examined: set[str]
                             ) -> tuple[set[str], list[str], list[str]]:
    """Transcripts that grew since their cursor (or are other files now), cursors whose
    file is gone, and sessions whose transcripts Claude Code has pruned. Adds to
    `examined` the main transcripts whose every file it looked at."""
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
        examined.add(main)
        for path in transcript.session_files(main):
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
        for path in transcript.agent_files_in(directory) or ():
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
                             known: set[str], examined: set[str]) -> set[str]:
    """Transcripts of this worktree's project dir changed since the last flush: sessions
    whose hooks did not run. Before the first flush there is no "since": older history
    is for `tokentag import`, not for the first commit after install. A session whose
    files were `examined` already is not listed again."""
    if since_ns is None:
        return set()
    found: set[str] = set()
    for directory in claude_paths.project_dirs(worktree.top):
        # The listing also has flat-layout agent files (they sit beside the sessions),
        # so no session needs its flat agents looked up: that opens every agent file.
        for main in _listing(directory):
            if main in examined:
                continue
            for path in transcript.session_files(main):
                if path not in known and _mtime_ns(path) > since_ns - MTIME_SLACK_NS:
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
