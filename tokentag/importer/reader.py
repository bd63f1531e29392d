"""Reading transcripts in bulk: each file's new bytes, each request once, routed by its cwd.

A file is searched for a marker rather than split into every line (most bytes of a
transcript are tool output and progress lines), only lines with usage are parsed, and
files are read in chunks, in forked worker processes when there is enough to read.
Each request is routed by its own `cwd` (after `--path-map`), exactly as live capture
routes it: it belongs here when that cwd lies in one of this repository's worktrees.
A session's main file also gives what live capture takes from it: the progress copies
of subagent requests no file holds, and the last reading of its running totals (see
capture.reconcile), which the writer records once everything else is in. Codex rollouts
are read by capture.codex, as the hooks read them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, NamedTuple

from tokentag.capture import codex, reconcile, transcript
from tokentag.capture.reconcile import Reading
from tokentag.capture.transcript import Request, text_of
from tokentag.core import codex_paths, fastjson, scan
from tokentag.core.timefmt import now_iso
from tokentag.core.usage import MAX_COUNT
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.importer.discovery import Job
from tokentag.importer.options import Options, PathMap
from tokentag.ledger.records import PROGRESS, VIA_IMPORT, request_key, request_line, via

READ_SIZE = 4 * 1024 * 1024
# Below this much to read, worker processes and the faster JSON parser cost more (start-up,
# imports) than they save.
PARALLEL_BYTES = 64 * 1024 * 1024
FAST_JSON_BYTES = 64 * 1024 * 1024
MAX_WORKERS = 4
Row = tuple[Any, ...]  # a request as records.REQUEST_FIELDS orders it


# -- reading ----------------------------------------------------------------------------


@dataclass
class FileScan:
    """What one transcript's new bytes hold: each request once, at its largest counts."""

    job: Job
    end: int
    skipped: int = 0
    # This repository's requests in range: key -> (its row for the index, its ledger line).
    # Both are made here: the reading processes have time to spare, the one process that
    # writes the ledger and the index has not, and tuples cost it less to unpickle.
    requests: dict[str, tuple[Row, bytes]] = field(default_factory=dict)
    other_repository: int = 0
    out_of_range: int = 0
    gone: bool = False  # pruned by Claude Code since it was listed
    unreadable: bool = False
    carry: str | None = None  # what the file's reader knew at `end` (see Cursor)
    # A main file's progress copies of subagent requests no file holds (rows as above),
    # and the last reading of its running totals with the worktree it goes to.
    copies: dict[str, tuple[Row, bytes]] = field(default_factory=dict)
    reading: tuple[Reading, Worktree] | None = None

    @property
    def deferred(self) -> bool:
        """Whether it has what is written only after every request of the import."""
        return bool(self.copies) or self.reading is not None


class UsageLines:
    """The complete lines after `offset` that may report usage, found by searching chunks
    for a marker rather than splitting every line: most bytes of a transcript are tool
    output and progress lines that never need to be looked at line by line. The marker is
    the assistant one, not the usage one: a usage line has both, and the longer needle is
    searched 40% faster (0.24 against 0.41 s per GB)."""

    def __init__(self, path: str, offset: int, final: bool = False,
                 markers: tuple[bytes, ...] = (transcript.ASSISTANT_MARKER,)) -> None:
        self.path, self.end, self.final, self.markers = path, offset, final, markers

    def __iter__(self) -> Iterator[bytes]:
        buf = bytearray(READ_SIZE)  # reused: a fresh buffer per read costs page faults
        carry = 0
        skipping = False  # inside a line longer than transcript.MAX_LINE (see transcript.Lines)
        with scan.open_regular(self.path, buffered=False) as handle:
            handle.seek(self.end)
            while True:
                if carry == len(buf):  # one line longer than the buffer
                    if len(buf) >= transcript.MAX_LINE:
                        self.end, carry, skipping = self.end + carry, 0, True
                    else:
                        buf.extend(bytes(len(buf)))
                got = handle.readinto(memoryview(buf)[carry:])
                if not got:
                    yield from self._final_tail(buf, carry, skipping)
                    return
                filled = carry + got
                if skipping:
                    first = buf.find(b"\n", 0, filled)
                    skipped = filled if first == -1 else first + 1
                    self.end += skipped
                    filled = carry = filled - skipped
                    buf[:carry] = buf[skipped:skipped + carry]
                    skipping = first == -1
                last = buf.rfind(b"\n", 0, filled)
                if last == -1:
                    carry = filled
                    continue
                yield from _marked_lines(buf, last, self.markers)
                self.end += last + 1
                carry = filled - last - 1
                buf[:carry] = buf[last + 1:filled]


    def _final_tail(self, buf: bytearray, carry: int, skipping: bool) -> Iterator[bytes]:
        """The last line without its newline, when the file is final (see transcript.Lines)."""
        tail = bytes(buf[:carry])
        if self.final and carry and not skipping \
                and any(marker in tail for marker in self.markers) \
                and transcript.whole_object(tail):
            self.end += carry
            yield tail


def _marked_lines(buf: bytearray, last: int, markers: tuple[bytes, ...]) -> Iterator[bytes]:
    """The lines up to `last` holding a marker, in order, each once."""
    if len(markers) > 1:
        hits: Iterable[int] = (match.start() for match in _pattern(markers).finditer(
            buf, 0, last))
    else:
        hits = _hits(buf, markers[0], last)
    position = 0
    for hit in hits:
        if hit < position:
            continue  # on the line just yielded
        start = buf.rfind(b"\n", 0, hit) + 1
        stop = buf.find(b"\n", hit, last + 1)
        yield bytes(buf[start:stop])
        position = stop + 1


def _hits(buf: bytearray, marker: bytes, last: int) -> Iterator[int]:
    position = 0
    while (hit := buf.find(marker, position, last)) != -1:
        yield hit
        position = hit + len(marker)


@cache
def _pattern(markers: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """Several markers in one search, their common start written once: the expression
    engine then looks for that start alone (one `find` per marker reads every byte again;
    an alternation of whole markers is slower still). A session's main file is searched
    for its running totals too: 0.375 s per GB against 0.25 for the request lines alone
    and 0.55 for one `find` each."""
    common = 0
    while all(len(m) > common and m[common] == markers[0][common] for m in markers):
        common += 1
    rests = b"|".join(re.escape(marker[common:]) for marker in markers)
    return re.compile(re.escape(markers[0][:common]) + b"(?:" + rests + b")")


# Request's fields between `key` and `usage`: message and request id, session, agent, model,
# timestamp, cwd, branch, version.
_Context = tuple[str, str, str, str | None, str, str, str, str | None, str | None]


class RequestReader:
    """`transcript.parse_request` and `Request.merged` fused for bulk reading (a test holds
    them equal on the real transcripts): one JSON parse per line; a request's first line
    gives its context, later lines only raise its counts; objects are built at the end."""

    def __init__(self, agent_id: str | None, fast_json: bool,
                 main: reconcile.MainFile | None = None) -> None:
        self.agent_id, self.loads = agent_id, _loads(fast_json)
        self.main = main  # a session's main file: progress copies, running totals
        self.copies: dict[str, Request] = {}
        # Whether every request's texts are known to be Unicode without a check: the fast
        # parser refuses a lone surrogate, and a file name (the agent id) may hold one.
        self.checks_unicode = fast_json and transcript.is_unicode(agent_id)
        self.context: dict[str, _Context] = {}
        self.counts: dict[str, tuple[int, ...]] = {}
        self.skipped = 0

    def feed(self, line: bytes) -> None:
        if transcript.USAGE_MARKER not in line:
            if self.main is not None:
                self.main.saw_line(line)
            return
        try:
            entry, checked = self.loads(line), self.checks_unicode
        except (ValueError, RecursionError):
            entry, checked = self._parse_slowly(line)
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            if self.main is not None and isinstance(entry, dict):
                self._copy(entry)
            return
        message = entry.get("message")
        if not isinstance(message, dict) or message.get("model") == "<synthetic>":
            return
        usage, message_id = message.get("usage"), message.get("id")
        if not isinstance(usage, dict) or not isinstance(message_id, str):
            return
        request_id = entry.get("requestId")
        key = request_key(message_id, request_id if isinstance(request_id, str) else "")
        known = self.counts.get(key)
        if known is None or not checked:
            context = self._context(entry, message, message_id)
            if not checked and not transcript.is_unicode(key, *context):
                self.skipped += 1
                return
            if known is None:
                self.context[key], self.counts[key] = context, _counts(usage)
                if self.main is not None:
                    self.main.saw(*context[5:])
                return
        counts = _counts(usage)
        if counts != known:
            self.counts[key] = tuple(map(max, known, counts))

    def _copy(self, entry: dict[str, Any]) -> None:
        """A progress line's copy of a subagent request, at its largest counts."""
        copy = transcript.progress_copy(entry)
        if copy is not None:
            known = self.copies.get(copy.key)
            self.copies[copy.key] = known.merged(copy) if known else copy

    def _parse_slowly(self, line: bytes) -> tuple[object, bool]:
        """What `loads` refused: json accepts lone surrogates, which the fast parser does
        not (and which the caller must then check for), and a byte that is not UTF-8
        (in text tokentag never keeps) becomes U+FFFD rather than costing the request."""
        try:
            return transcript.loads_line(line), False
        except (ValueError, RecursionError):  # nested too deep is no request either
            pass
        self.skipped += 1
        return None, True

    def _context(self, entry: dict[str, Any], message: dict[str, Any],
                 message_id: str) -> _Context:
        """Request's fields after `key`, up to `usage`, from the request's first line."""
        agent = text_of(entry.get("agentId")) or self.agent_id
        if agent is None and entry.get("isSidechain") is True:
            agent = "sidechain"  # before 2.0.28 subagent lines were inline, without an id
        return (message_id, text_of(entry.get("requestId")) or "",
                text_of(entry.get("sessionId")) or "", agent,
                text_of(message.get("model")) or "unknown",
                text_of(entry.get("timestamp")) or "", text_of(entry.get("cwd")) or "",
                text_of(entry.get("gitBranch")), text_of(entry.get("version")))


def _counts(raw: dict[str, Any]) -> tuple[int, ...]:
    """In USAGE_FIELDS order: input, output, cache writes (all, 5m, 1h), cache reads.
    `type(v) is int` leaves out bools; anything else, a negative, or more than SQLite
    holds counts as 0, as in transcript._count."""
    split = raw.get("cache_creation")
    split = split if isinstance(split, dict) else {}
    values = (raw.get("input_tokens"), raw.get("output_tokens"),
              raw.get("cache_creation_input_tokens"), split.get("ephemeral_5m_input_tokens"),
              split.get("ephemeral_1h_input_tokens"), raw.get("cache_read_input_tokens"))
    return tuple([v if type(v) is int and 0 < v < MAX_COUNT else 0 for v in values])


class Scope(NamedTuple):
    """Which requests an import takes: this repository's (after the path map), in range."""

    common_dir: str
    options: Options


def scan_file(job: Job, scope: Scope, fast_json: bool = False) -> FileScan:
    """Read one transcript's new bytes and make the records of the requests in scope. A
    line that is not JSON is counted, not fatal; so is a file that cannot be read."""
    if not transcript.is_unicode(job.path):  # no ledger line or cursor could name it
        return FileScan(job, job.offset, unreadable=True)
    final = time.time_ns() - job.stat.st_mtime_ns > transcript.FINAL_AFTER * 1_000_000_000
    if codex_paths.is_rollout(job.path):
        return _scan_rollout(job, scope, final)
    agent_id = transcript.agent_id_of(job.path)
    main = reconcile.MainFile(os.path.basename(job.path)[:-len(".jsonl")], job.carry) \
        if agent_id is None else None
    reader = RequestReader(agent_id, fast_json, main)
    markers = (transcript.ASSISTANT_MARKER,) if main is None else (
        transcript.ASSISTANT_MARKER, reconcile.COST_STATE_MARKER)
    lines = UsageLines(job.path, job.offset, final, markers)
    try:
        for line in lines:
            reader.feed(line)
    except FileNotFoundError:
        return FileScan(job, job.offset, gone=True)
    except OSError:
        return FileScan(job, job.offset, unreadable=True)
    scan = FileScan(job, lines.end, reader.skipped, carry=main.carry() if main else None)
    _select(scan, reader, scope)
    if main is not None:
        _select_extras(scan, main, reader.copies.values(), scope)
    return scan


def _select(scan: FileScan, reader: RequestReader, scope: Scope) -> None:
    """Route each request by its own cwd, as live capture does. Rows and ledger lines are
    made here, in the worker, so the process that writes the ledger has less to do; from
    the reader's fields directly, as request_record would make them, in REQUEST_FIELDS'
    order (a test holds them equal): a bulk import makes tens of thousands."""
    router = Router(scope.common_dir, scope.options.path_map)
    path, captured_at, counts = scan.job.path, now_iso(), reader.counts
    for key, (message_id, request_id, session_id, agent_id, model, timestamp, cwd, branch,
              version) in reader.context.items():
        mapped, worktree = router.route(cwd)
        if worktree is None:
            scan.other_repository += 1
        elif not scope.options.in_range(timestamp):
            scan.out_of_range += 1
        else:  # in REQUEST_FIELDS' order
            row = (key, message_id, request_id, session_id, agent_id, model, timestamp, mapped,
                   worktree.name, branch, version, path, captured_at, VIA_IMPORT, *counts[key])
            scan.requests[key] = (row, request_line(row))


def _select_extras(scan: FileScan, main: reconcile.MainFile, copies: Iterable[Request],
                   scope: Scope) -> None:
    """A main file's progress copies of subagents without a file, and its last reading of
    the running totals, routed as its requests are. A reading is left to an import that
    reads all of the session (no --since) and holds it in range (--until): reconciled
    against part of the session it would count what is only left out."""
    router = Router(scope.common_dir, scope.options.path_map)
    _add_rows(scan, transcript.without_agent_files(scan.job.path, copies), router, scope,
              scan.copies, via(VIA_IMPORT, PROGRESS))
    reading = main.reading
    if reading is None:
        return
    mapped, worktree = router.route(reading.cwd)
    if worktree is None:
        scan.other_repository += 1
    elif scope.options.since or not scope.options.in_range(reading.ts):
        scan.out_of_range += 1
    else:
        reading.cwd = mapped
        scan.reading = (reading, worktree)


def _scan_rollout(job: Job, scope: Scope, final: bool) -> FileScan:
    """A Codex rollout, read as the hooks read it (see capture.codex)."""
    rollout = codex.Rollout(job.path, job.carry)
    lines = transcript.Lines(job.path, job.offset, final=final)
    try:
        for line, _ in lines:
            rollout.feed(line)
    except FileNotFoundError:
        return FileScan(job, job.offset, gone=True)
    except OSError:
        return FileScan(job, job.offset, unreadable=True)
    if final:
        rollout.finish()
    scan = FileScan(job, lines.end, carry=rollout.carry())
    _add_rows(scan, rollout.requests, Router(scope.common_dir, scope.options.path_map), scope,
              scan.requests, VIA_IMPORT)
    return scan


def _add_rows(scan: FileScan, requests: Iterable[Request], router: Router, scope: Scope,
              into: dict[str, tuple[Row, bytes]], how: str) -> None:
    """`_select` for requests read whole (not in the reader's split form)."""
    captured_at = now_iso()
    for request in requests:
        mapped, worktree = router.route(request.cwd)
        if worktree is None:
            scan.other_repository += 1
        elif not scope.options.in_range(request.timestamp):
            scan.out_of_range += 1
        elif request.key not in into:
            row = (*request[:7], mapped, worktree.name, request.branch, request.version,
                   scan.job.path, captured_at, how, *request.usage)
            into[request.key] = (row, request_line(row))


def _loads(fast: bool) -> Callable[[bytes], Any]:
    """pydantic-core's parser (already a dependency, through pydantic) is about twice as
    fast as json's; importing it costs more than small imports gain. It caches only keys:
    caching every string value too (its default) made it 15% slower on transcript lines,
    whose values are mostly text seen once."""
    if fast:
        from pydantic_core import from_json

        return partial(from_json, cache_strings="keys")
    return fastjson.loads


def scans(jobs: list[Job], scope: Scope,
          on_idle: Callable[[], object] | None = None) -> Iterator[FileScan]:
    """Each job's scan, in worker processes when there is enough to read to pay for them;
    `on_idle()` runs whenever the workers have no scan ready."""
    total = sum(job.size - job.offset for job in jobs)
    workers = min(_cpus(), MAX_WORKERS, len(jobs))
    if total >= PARALLEL_BYTES and workers >= 2:
        from tokentag.importer import (
            forked,  # 2.8 ms of imports that a repeated import does not need
        )

        if forked.available():
            _loads(True)  # imported once here, shared by the forked workers
            parts = forked.shares(jobs, lambda job: job.size - job.offset, workers)
            yield from forked.results(partial(scan_file, scope=scope, fast_json=True), parts,
                                      on_idle)
            return
    yield from (scan_file(job, scope, total >= FAST_JSON_BYTES) for job in jobs)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- routing and writing ----------------------------------------------------------------


class Router:
    """Decides which requests belong to this repository, once per distinct cwd."""

    def __init__(self, common_dir: str, path_map: PathMap) -> None:
        self.common_dir, self.path_map = common_dir, path_map
        self.cache: dict[str, tuple[str, Worktree | None]] = {}

    def route(self, cwd: str) -> tuple[str, Worktree | None]:
        found = self.cache.get(cwd)
        if found is None:
            mapped = self.path_map.apply(cwd)
            # A relative cwd names no place: resolved against this process's own directory
            # it would route every such request into whichever repository import runs in.
            worktree = find_worktree(mapped) if os.path.isabs(mapped) else None
            if worktree is not None and worktree.common_dir != self.common_dir:
                worktree = None
            found = self.cache[cwd] = (mapped, worktree)
        return found
