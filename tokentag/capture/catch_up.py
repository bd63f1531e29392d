"""Catch up on transcripts: new bytes in, new or corrected request records out.

Each request is routed to the repository of its own line's `cwd` (a session can `cd`
into another repository); requests outside any git repository are dropped. The cursor
lives in the index of the repository the hook ran from (the "home" store) and moves
only after every record read from those bytes is in its ledger, so a crash at any
point means a re-read, which the per-request dedup turns into no new records.
"""

from __future__ import annotations

import os

from tokentag.capture import transcript
from tokentag.capture.transcript import Request
from tokentag.core.timefmt import now_iso
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.ledger import records
from tokentag.ledger.index import Cursor
from tokentag.ledger.store import Store, Writer

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from _typeshed import StrPath

    from tokentag.ledger.records import LedgerRecord, RequestRecord, SessionRecord


class CaptureResult:
    """What one catch-up did, for logs, `import` summaries and tests. A plain class: the
    hook path avoids `dataclasses` (see tokentag/__init__.py)."""

    def __init__(self, lines: int = 0, new: int = 0, corrected: int = 0,
                 dropped: int = 0) -> None:
        self.lines = lines
        self.new = new
        self.corrected = corrected
        self.dropped = dropped
        # Notes of commits whose requests a correction raised: (git cwd, commit, note).
        self.stale_notes: list[tuple[str, str, dict[str, object]]] = []

    def __repr__(self) -> str:
        return (f"CaptureResult(lines={self.lines}, new={self.new}, "
                f"corrected={self.corrected}, dropped={self.dropped})")

    def __iadd__(self, other: CaptureResult) -> CaptureResult:
        self.lines += other.lines
        self.new += other.new
        self.corrected += other.corrected
        self.dropped += other.dropped
        self.stale_notes += other.stale_notes
        return self


class _Batch:
    """Requests read from one transcript's new bytes, grouped by repository."""

    def __init__(self, end: int, lines: int,
                 by_repo: dict[str, list[tuple[Request, Worktree]]], dropped: int) -> None:
        self.end = end
        self.lines = lines
        self.by_repo = by_repo
        self.dropped = dropped


def capture_file(transcript_path: StrPath, home: Worktree, session_id: str | None = None,
                 via: str = "hook") -> CaptureResult:
    """Read what the transcript gained since the home store's cursor and record its
    requests."""
    path = os.path.realpath(transcript_path)
    stat = os.stat(path)  # a missing file fails here, before taking the lock
    home_store = Store.of(home)
    with home_store.writing() as writer:
        # Again under the lock: the size taken before it can be older than a cursor another
        # hook moved meanwhile, which would look like a truncated file and re-read it whole.
        stat = os.stat(path)
        offset, restart = _start_offset(writer, path, stat)
        if offset == stat.st_size:
            return CaptureResult()
        batch = _read_batch(path, offset, home)
        result = _write_repo(writer, batch.by_repo.pop(home.common_dir, []), path, session_id,
                             via)
        if not batch.by_repo:
            writer.index.set_cursor(path, Cursor.at(batch.end, stat), restart)
    for common_dir, requests in batch.by_repo.items():  # another repository, rarely
        with Store(os.path.join(common_dir, "tokentag")).writing() as foreign:
            result += _write_repo(foreign, requests, path, session_id, via)
    if batch.by_repo:
        with home_store.writing() as writer:
            writer.index.set_cursor(path, Cursor.at(batch.end, stat), restart)
    result.lines, result.dropped = batch.lines, batch.dropped
    _rewrite_stale_notes(result)
    return result


def _rewrite_stale_notes(result: CaptureResult) -> None:
    """A line read after a commit can raise a committed request's output (a streaming
    placeholder was all the commit saw): its commit's note must show the final count,
    or a teammate's release would read less than ours. Outside the lock: it runs git."""
    from tokentag.notes import content

    for cwd, commit, note in result.stale_notes:
        content.write_note(cwd, commit, note)


def _start_offset(writer: Writer, path: str, stat: os.stat_result) -> tuple[int, bool]:
    """Where to read from, and whether that restarts a file read before: one replaced or
    truncated is read again whole (the per-request dedup makes that harmless)."""
    cursor = writer.index.cursor(path)
    if cursor is None:
        return 0, False
    if not cursor.continues(stat):
        return 0, True
    return cursor.offset, False


def _read_batch(path: str, offset: int, home: Worktree) -> _Batch:
    agent_id = transcript.agent_id_of(path)
    merged: dict[str, Request] = {}
    reader, lines = transcript.Lines(path, offset), 0
    for line, _ in reader:
        lines += 1
        request = transcript.parse_request(line, agent_id)
        if request is not None:
            known = merged.get(request.key)
            merged[request.key] = known.merged(request) if known else request
    by_repo: dict[str, list[tuple[Request, Worktree]]] = {}
    dropped = 0
    for request in merged.values():
        worktree = find_worktree(request.cwd) if request.cwd else home
        if worktree is None:
            dropped += 1
            continue
        by_repo.setdefault(worktree.common_dir, []).append((request, worktree))
    return _Batch(reader.end, lines, by_repo, dropped)


def _write_repo(writer: Writer, requests: list[tuple[Request, Worktree]], path: str,
                session_id: str | None, via: str) -> CaptureResult:
    """Append what this repository does not know yet: new requests and raised counts."""
    result = CaptureResult()
    if not requests:
        return result
    known = writer.index.known_usage(r.key for r, _ in requests)
    captured_at = now_iso()
    written: list[LedgerRecord] = [*_session_records(writer, requests, path, session_id,
                                                     captured_at)]
    raised: dict[str, Worktree] = {}
    for request, worktree in requests:
        before = known.get(request.key)
        if before is None:
            written.append(request_record(request, worktree, path, captured_at, via))
            result.new += 1
        elif before.maximum(request.usage) != before:
            written.append(records.correction(request.key, captured_at, request.usage))
            raised[request.key] = worktree
    writer.write(written)
    result.corrected = len(raised)
    if raised:
        result.stale_notes = _notes_of_raised(writer, raised)
    return result


def _notes_of_raised(writer: Writer, raised: dict[str, Worktree],
                     ) -> list[tuple[str, str, dict[str, object]]]:
    from tokentag.notes import content

    commits: dict[str, str] = {}
    for key, worktree in raised.items():
        commit = writer.index.commit_of(key)
        if commit:
            commits.setdefault(commit, worktree.top)
    fresh = ((top, c, content.note_for(writer.index, c)) for c, top in commits.items())
    return [(top, c, note) for top, c, note in fresh if note is not None]


def _session_records(writer: Writer, requests: list[tuple[Request, Worktree]], path: str,
                     session_id: str | None, seen_at: str) -> list[SessionRecord]:
    """Remember each session's transcript once, so commits can flush it later."""
    sessions: list[SessionRecord] = []
    for request, worktree in requests:
        sid = request.session_id or session_id
        if not sid or any(r["session_id"] == sid for r in sessions):
            continue
        if not writer.index.known_session(sid):
            main = path if transcript.agent_id_of(path) is None else _main_transcript(path, sid)
            sessions.append(records.session(sid, main, request.cwd, worktree.top, seen_at))
    return sessions


def _main_transcript(agent_file: str, session_id: str) -> str:
    """`<project>/<session>/subagents/.../agent-x.jsonl` or flat `<project>/agent-x.jsonl`."""
    parent = os.path.dirname(agent_file)
    while parent != os.path.dirname(parent):
        if os.path.basename(parent) == session_id:
            return f"{parent}.jsonl"
        parent = os.path.dirname(parent)
    return os.path.join(os.path.dirname(agent_file), f"{session_id}.jsonl")


def request_record(request: Request, worktree: Worktree, path: StrPath, captured_at: str,
                   via: str) -> RequestRecord:
    """A `request` record: ids, model, context and counts; never any text."""
    return records.request(request.key, request.message_id, request.request_id,
                           request.session_id, request.agent_id, request.model,
                           request.timestamp, request.cwd, worktree.top, request.branch,
                           request.version, os.fspath(path), captured_at, via, request.usage)
