"""Catch up on transcripts: new bytes in, new or corrected request records out.

Two phases, so that no transcript is read while a repository's lock is held (a slow disk
or a huge line would hold up every hook and commit waiting on it):

1. `read_new`: each file's bytes after its cursor, parsed into requests, each routed to the
   repository of its own line's `cwd` (a session can `cd` into another repository);
   requests outside any git repository are dropped. A Claude Code session's main file
   also gives the subagent requests its progress lines echo, counted only when the
   subagent's own file is gone, and the last reading of the session's running totals
   (see reconcile). A Codex rollout is read by its own rules (see codex).
2. `record`: under the home store's lock, the requests its ledger lacks and the raised
   counts of those it holds, then what the running totals hold beyond them, then the
   cursors (each with what its reader needs to go on). A cursor lives in the home store (the
   repository the hook ran from), only moves forward, and moves only once what was read
   before it is in the ledger, so a crash at any point means a re-read, which the
   per-request dedup turns into no new records. Two hooks that read the same bytes at once
   write them once.

Requests of another repository go to its own ledger after the home lock is released. One
that cannot take them (not writable, locked for too long) gets them logged as not
recorded, and the home cursor moves on all the same: a session that `cd`s into a read-only
repository must not make every later hook read the same bytes again (`tokentag import
--all-projects` there brings them in later).

`catch_up` does both for a list of files with one index open and one lock. It returns the
commits whose counts a correction raised; their notes are the caller's to refresh.
"""

from __future__ import annotations

import os
import stat as stat_module
import time

from tokentag.capture import reconcile, transcript
from tokentag.capture.reconcile import Reading
from tokentag.capture.transcript import Request
from tokentag.core import codex_paths, faillog
from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import now_iso
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.ledger import records
from tokentag.ledger.index import Cursor, Index
from tokentag.ledger.store import Store, Writer

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed import StrPath

    from tokentag.ledger.records import LedgerRecord, RequestRecord, SessionRecord

# How long a hook waits for a repository's lock before it gives up (logged; the bytes are
# read again by the next hook): another process holding it may be stopped or stuck.
LOCK_WAIT = 5.0

Routed = list[tuple[Request, Worktree]]


class CaptureResult:
    """What one catch-up did, for logs, `import` summaries and tests. A plain class: the
    hook path avoids `dataclasses` (see tokentag/__init__.py)."""

    def __init__(self, lines: int = 0, new: int = 0, corrected: int = 0,
                 dropped: int = 0) -> None:
        self.lines = lines
        self.new = new
        self.corrected = corrected
        self.dropped = dropped
        self.reconciled = 0  # records of usage the running totals held beyond the requests
        self.bytes_read = 0
        self.failures: list[str] = []  # files that could not be read, one line each
        # The request holding a tool call's tool_use block, when the caller named the call
        # and its line was among what was read.
        self.tool_request: str | None = None
        # Whether the home repository has agent commits waiting for their committing
        # request (see attribution.settle): the hook then settles them.
        self.open_agent_commits = False
        # Commits whose requests a correction raised, with a worktree to run git in: their
        # notes show the old counts until the caller writes them again.
        self.raised_commits: dict[str, str] = {}

    def __repr__(self) -> str:
        return (f"CaptureResult(lines={self.lines}, new={self.new}, "
                f"corrected={self.corrected}, dropped={self.dropped})")

    def __iadd__(self, other: CaptureResult) -> CaptureResult:
        self.lines += other.lines
        self.new += other.new
        self.corrected += other.corrected
        self.dropped += other.dropped
        self.reconciled += other.reconciled
        self.bytes_read += other.bytes_read
        self.failures += other.failures
        self.tool_request = self.tool_request or other.tool_request
        self.open_agent_commits = self.open_agent_commits or other.open_agent_commits
        self.raised_commits.update(other.raised_commits)
        return self


class FileRead:
    """One transcript's new bytes, read: where they start and end, the file as it was,
    its requests by repository (common dir), the progress copies of subagent requests no
    file holds, likewise, the last reading of its session's running totals with the
    worktree it goes to, and what its reader carries to the next read."""

    def __init__(self, path: str, start: int, stat: os.stat_result, restart: bool) -> None:
        self.path, self.start, self.stat, self.restart = path, start, stat, restart
        self.end = start
        self.lines = self.dropped = 0
        self.by_repo: dict[str, Routed] = {}
        self.tool_request: str | None = None
        self.copies: dict[str, Routed] = {}
        self.reading: tuple[Reading, Worktree] | None = None
        self.carry: str | None = None

    @property
    def cursor(self) -> Cursor:
        return Cursor.at(self.end, self.stat, self.carry)

    def repositories(self) -> set[str]:
        found = {*self.by_repo, *self.copies}
        if self.reading is not None:
            found.add(self.reading[1].common_dir)
        return found


class FlatAgents:
    """A session's flat-layout agent files (see transcript.flat_agent_files), looked up by
    what the index remembers: while the project dir's mtime stays what it was when every
    file in it was known, no listing and no file opened."""

    # A dir changed within this long of its listing may gain a file with the same mtime.
    SETTLED_NS = 2_000_000_000

    def __init__(self, directory: str, own: list[str], learned: dict[str, str] | None = None,
                 gone: list[str] | None = None, listed_ns: int | None = None) -> None:
        self.directory, self.own, self.listed_ns = directory, own, listed_ns
        self.learned, self.gone = learned or {}, gone or []

    @classmethod
    def look(cls, index: Index, directory: str, session_id: str) -> FlatAgents:
        try:
            mtime_ns = os.stat(directory).st_mtime_ns
        except OSError:
            return cls(directory, [])
        if index.agent_dir_listed_ns(directory) == mtime_ns:
            return cls(directory, index.agent_files_of(directory, session_id))
        listed = transcript.agent_files_in(directory)
        if listed is None:  # nothing is learned, or forgotten, from a listing that failed
            return cls(directory, index.agent_files_of(directory, session_id))
        known = index.agent_file_sessions(directory)
        own, learned, whole = transcript.flat_agent_files(listed, session_id, known)
        gone = sorted(known.keys() - set(listed))
        settled = whole and time.time_ns() - mtime_ns > cls.SETTLED_NS
        return cls(directory, own, learned, gone, mtime_ns if settled else None)

    @property
    def news(self) -> bool:
        return bool(self.learned or self.gone) or self.listed_ns is not None

    def remember(self, index: Index) -> None:
        if self.news:
            index.remember_agent_files(self.learned, self.gone, self.directory,
                                       self.listed_ns)


def catch_up(paths: Iterable[StrPath], home: Worktree, session_id: str | None = None,
             via: str = "hook", final: bool = False, lock_wait: float | None = LOCK_WAIT,
             tool_use_id: str | None = None, flat_agents_in: str | None = None,
             ) -> CaptureResult:
    """Read what `paths` gained since their cursors and record it. A missing file has
    nothing to read (Claude Code writes some only later, some never); one that cannot be
    read is named in the result's `failures`, the others read all the same.
    `flat_agents_in`: a project dir whose flat-layout agent files of `session_id` are read
    too (see transcript.flat_agent_files)."""
    store = Store.of(home)
    with store.reading(lock_wait, create=True) as index:
        flat = FlatAgents.look(index, flat_agents_in, session_id) \
            if flat_agents_in is not None and session_id else None
        if flat is not None:
            paths = [*paths, *flat.own]
        reads, failures = read_new(paths, index, home, final, tool_use_id)
        result = CaptureResult()
        if reads or (flat and flat.news):
            with store.writing_to(index, lock_wait) as writer:
                if flat is not None:
                    flat.remember(index)
                result = record(writer, reads, home, session_id, via)
        result.open_agent_commits = bool(index.unsettled_agent_commits(home.name))
    result += record_elsewhere(reads, home, session_id, via)
    result.failures += failures
    return result


def read_new(paths: Iterable[StrPath], index: Index, home: Worktree, final: bool = False,
             tool_use_id: str | None = None) -> tuple[list[FileRead], list[str]]:
    """The new bytes of each file that has any, read without the lock; and one line for
    each file that could not be read. `final`: the session is over (see transcript.Lines);
    `tool_use_id`: note which request holds that tool call."""
    reads: list[FileRead] = []
    failures: list[str] = []
    given = _real_paths(paths)
    cursors = index.cursors_of(given)
    for path in given:
        try:
            read = _read_one(path, cursors.get(path), home, final, tool_use_id)
        except FileNotFoundError:
            continue
        except OSError as error:  # one unreadable file must not stop the others
            failures.append(f"{path}: {error.strerror or error}")
            continue
        if read is not None:
            reads.append(read)
    return reads, failures


def _real_paths(paths: Iterable[StrPath]) -> list[str]:
    """`os.path.realpath` of each path, without duplicates; a dir shared by many paths (a
    session's subagent files) resolved once, not once for each of them."""
    real_dirs: dict[str, str] = {}
    found: dict[str, None] = {}
    for given in paths:
        head, name = os.path.split(os.fspath(given))
        if name in ("", ".", ".."):
            found[os.path.realpath(given)] = None
            continue
        real_dir = real_dirs.get(head)
        if real_dir is None:  # realpath, not abspath: `..` after a link is the link's parent
            real_dir = real_dirs[head] = os.path.realpath(head or os.curdir)
        path = os.path.join(real_dir, name)
        found[os.path.realpath(path) if os.path.islink(path) else path] = None
    return list(found)


def _read_one(path: str, cursor: Cursor | None, home: Worktree, final: bool,
              tool_use_id: str | None) -> FileRead | None:
    stat = os.stat(path)
    if not stat_module.S_ISREG(stat.st_mode):
        raise OSError(0, "not a regular file")
    restart = cursor is not None and not cursor.continues(stat)
    start = cursor.offset if cursor is not None and not restart else 0
    if start == stat.st_size:
        return None
    read = FileRead(path, start, stat, restart)
    final = final or time.time() - stat.st_mtime > transcript.FINAL_AFTER
    carry = cursor.carry if cursor is not None and not restart else None
    if codex_paths.is_rollout(path):
        found = _parse_rollout(read, final, carry)
    else:
        found = _parse(read, final, carry, home, tool_use_id)
    _route(read, found, read.by_repo, home)
    return read


def _parse(read: FileRead, final: bool, carry: str | None, home: Worktree,
           tool_use_id: str | None) -> list[Request]:
    """A Claude Code transcript's requests. A main file also gives its progress copies
    (routed here) and the last reading of its running totals. `tool_use_id`: note which
    request holds that tool call."""
    agent_id = transcript.agent_id_of(read.path)
    main = None if agent_id is not None else reconcile.MainFile(
        os.path.basename(read.path)[:-len(".jsonl")], carry)
    merged: dict[str, Request] = {}
    copies: dict[str, Request] = {}
    lines = transcript.Lines(read.path, read.start, final=final)
    needle = f'"id":"{tool_use_id}"'.encode() if tool_use_id else None
    for line, _ in lines:
        read.lines += 1
        request, copy = transcript.parse_usage(line, agent_id)
        if request is not None:
            known = merged.get(request.key)
            merged[request.key] = known.merged(request) if known else request
            if needle is not None and needle in line:
                read.tool_request = request.key
            if known is None and main is not None:
                main.saw_request(request)
        elif main is not None:
            if copy is not None:
                known = copies.get(copy.key)
                copies[copy.key] = known.merged(copy) if known else copy
            else:
                main.saw_line(line)
    read.end = lines.end
    if main is not None:
        read.carry = main.carry()
        _route(read, transcript.without_agent_files(read.path, copies.values()), read.copies,
               home)
        if main.reading is not None:
            worktree = _worktree_of(main.reading.cwd, home)
            read.reading = (main.reading, worktree) if worktree is not None else None
    return list(merged.values())


def _parse_rollout(read: FileRead, final: bool, carry: str | None) -> list[Request]:
    from tokentag.capture import codex  # Codex's reader: not on a Claude hook's path

    rollout = codex.Rollout(read.path, carry)
    lines = transcript.Lines(read.path, read.start, final=final)
    for line, _ in lines:
        read.lines += 1
        rollout.feed(line)
    read.end = lines.end
    if final:
        rollout.finish()
    read.carry = rollout.carry()
    merged: dict[str, Request] = {}
    for request in rollout.requests:  # the same request twice: ccusage counts it once
        merged.setdefault(request.key, request)
    return list(merged.values())


def _route(read: FileRead, requests: Iterable[Request], into: dict[str, Routed],
           home: Worktree) -> None:
    for request in requests:
        worktree = _worktree_of(request.cwd, home)
        if worktree is None:
            read.dropped += 1
            continue
        into.setdefault(worktree.common_dir, []).append((request, worktree))


def _worktree_of(cwd: str, home: Worktree) -> Worktree | None:
    """A relative cwd names no place: the hook's own repository, as an empty one does."""
    return find_worktree(cwd) if os.path.isabs(cwd) else home


def record(writer: Writer, reads: list[FileRead], home: Worktree, session_id: str | None,
           via: str) -> CaptureResult:
    """Write what the home repository gets of every read, then move the cursors, all in
    one transaction. Hold the home store's lock (`writer`)."""
    result = _write_all(writer, reads, home.common_dir, session_id, via)
    for read in reads:
        result.lines += read.lines
        result.dropped += read.dropped
        result.tool_request = result.tool_request or read.tool_request
        result.bytes_read += read.end - read.start
    writer.index.set_cursors([(read.path, read.cursor, read.restart) for read in reads])
    return result


def record_elsewhere(reads: list[FileRead], home: Worktree, session_id: str | None,
                     via: str) -> CaptureResult:
    """What went to other repositories, each written under its own lock (rarely any:
    a session that `cd`ed into another repository)."""
    result = CaptureResult()
    others = sorted({repo for read in reads for repo in read.repositories()} - {home.common_dir})
    for common_dir in others:
        result += _record_in(common_dir, reads, home, session_id, via)
    return result


def _record_in(common_dir: str, reads: list[FileRead], home: Worktree, session_id: str | None,
               via: str) -> CaptureResult:
    try:
        with Store(os.path.join(common_dir, "tokentag")).writing(LOCK_WAIT) as foreign:
            return _write_all(foreign, reads, common_dir, session_id, via)
    except (OSError, TokentagError) as error:  # unwritable, locked too long: logged
        count = sum(len(read.by_repo.get(common_dir, [])) for read in reads)
        faillog.log_failure(home.tokentag_dir, error, f"capture: {count} request(s) of "
                            f"{common_dir} not recorded (`tokentag import --all-projects` "
                            f"there brings them in)", expected=True)
        return CaptureResult()


def _write_all(writer: Writer, reads: list[FileRead], common_dir: str, session_id: str | None,
               via: str) -> CaptureResult:
    """One repository's part of every read: the requests of all of them in one write, then
    the progress copies no file had, then the readings of running totals, which take what
    the others left."""
    result = _write_repo(writer, [(*routed, read.path) for read in reads
                                  for routed in read.by_repo.get(common_dir, [])],
                         session_id, via)
    result += _write_repo(writer, [(*routed, read.path) for read in reads
                                   for routed in read.copies.get(common_dir, [])],
                          session_id, records.via(via, records.PROGRESS), copies=True)
    for read in reads:
        if read.reading is not None and read.reading[1].common_dir == common_dir:
            result.reconciled += _reconcile(writer, read.reading, read.path, via)
    return result


def _reconcile(writer: Writer, reading: tuple[Reading, Worktree], path: str, via: str) -> int:
    """Record what a reading of running totals holds beyond the ledger; how many records."""
    found = reconcile.reconciled(writer, *reading, path, now_iso(), via)
    known = writer.index.known_usage(record["key"] for record in found)
    new = [record for record in found if record["key"] not in known]
    if new:
        writer.write(new)
    return len(new)


def _write_repo(writer: Writer, requests: list[tuple[Request, Worktree, str]],
                session_id: str | None, via: str, copies: bool = False) -> CaptureResult:
    """Append what this repository does not know yet: new requests and raised counts (not
    from `copies`, whose requests a file has counted when the ledger knows them). Each
    request is read from the file that had it first, at the largest counts any had."""
    result = CaptureResult()
    if not requests:
        return result
    merged: dict[str, tuple[Request, Worktree, str]] = {}
    for request, worktree, path in requests:
        held = merged.get(request.key)
        merged[request.key] = (held[0].merged(request), *held[1:]) if held else \
            (request, worktree, path)
    known = writer.index.known_usage(merged)
    captured_at = now_iso()
    written: list[LedgerRecord] = [*_session_records(writer, merged.values(), session_id,
                                                     captured_at)]
    raised: dict[str, Worktree] = {}
    for request, worktree, path in merged.values():
        before = known.get(request.key)
        if before is None:
            written.append(request_record(request, worktree, path, captured_at, via))
            result.new += 1
        elif not copies and before.maximum(request.usage) != before:
            written.append(records.correction(request.key, captured_at, request.usage))
            raised[request.key] = worktree
    writer.write(written)
    result.corrected = len(raised)
    for key, worktree in raised.items():
        commit = writer.index.commit_of(key)
        if commit:
            result.raised_commits.setdefault(commit, worktree.top)
    return result


def _session_records(writer: Writer, requests: Iterable[tuple[Request, Worktree, str]],
                     session_id: str | None, seen_at: str) -> list[SessionRecord]:
    """Remember each session's transcript once, so commits can flush it later."""
    first_seen: dict[str, tuple[Request, Worktree, str]] = {}
    for request, worktree, path in requests:
        sid = request.session_id or session_id
        if sid and sid not in first_seen:
            first_seen[sid] = (request, worktree, path)
    known = writer.index.known_sessions(first_seen)
    sessions: list[SessionRecord] = []
    for sid, (request, worktree, path) in first_seen.items():
        if sid not in known:
            main = path if transcript.agent_id_of(path) is None else _main_transcript(path, sid)
            sessions.append(records.session(sid, main, request.cwd, worktree.name, seen_at))
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
                           request.timestamp, request.cwd, worktree.name, request.branch,
                           request.version, os.fspath(path), captured_at, via, request.usage)
