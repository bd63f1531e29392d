"""`tokentag import`: bring in past transcripts and tie past work to past commits.

Which transcripts: Claude Code keeps a session under `projects/<encoded cwd>/`, so a
project dir whose name starts with the encoded top of one of this repository's
worktrees is a candidate (subdirectories encode to the same prefix). What decides is
each request's own `cwd`: a request belongs here when that cwd (after `--path-map`) lies
in one of this repository's worktrees, exactly as live capture routes it.

Exactly once: every ledger write dedups by request key under the repository lock,
against requests from hooks and earlier imports alike. Speed: a file's cursor
(offset, size, mtime) in the index means a repeated import reads only what grew; the
bytes pre-filter means only lines with usage are parsed; files are read in chunks.

Retroactive attribution: an imported request no commit has taken yet goes to the first
commit, in committer-time order, on its `gitBranch`'s first-parent history whose commit
time is at or after the request's timestamp, marked `inferred`. One with no such commit
stays pending until a commit on its own branch in its own worktree takes it (see
`attribution.attribute_pending`); a deleted branch's never will.
"""

from __future__ import annotations

import contextlib
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO, Any, NamedTuple, cast

from tokentag.capture import transcript
from tokentag.capture.catch_up import correction_record, now_iso
from tokentag.capture.transcript import Request, text_of
from tokentag.core import claude_paths, fastjson
from tokentag.core.errors import TokentagError
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, branch_refs_fingerprint, find_worktree
from tokentag.ledger import jsonl
from tokentag.ledger.index import REQUEST_ROW, Index, request_line
from tokentag.ledger.jsonl import SCHEMA_VERSION, Record
from tokentag.ledger.store import Store, Writer
from tokentag.notes import content

READ_SIZE = 4 * 1024 * 1024
# Below this much to read, worker processes and the faster JSON parser cost more (start-up,
# imports) than they save.
PARALLEL_BYTES = 64 * 1024 * 1024
FAST_JSON_BYTES = 64 * 1024 * 1024
MAX_WORKERS = 4
# Requests held in memory before they go to the ledger: bounds memory and how long one
# write holds the lock that live hooks wait on.
BATCH_REQUESTS = 5_000
IDLE_BATCH_REQUESTS = 500  # ... and when the readers have nothing ready, if at least this many
INFERRED = "inferred"
# How much further back than asked a branch's history is read: transcripts arrive in no
# time order, so without it each batch holding an earlier request cost another `git log`
# (five to eight of them, 30-50 ms, on the bench data). Claude Code keeps 30 days.
HISTORY_REACH = 30 * 86400
INFER_STAMP = "import_inferred_at"  # index meta: the branch tips of the last inference pass
REFS_STAMP = "import_refs_seen"  # ... and the ref files' sizes and mtimes when they were read


# -- options and results ------------------------------------------------------------------


class PathMap(NamedTuple):
    """`OLD=NEW` rewrites: a request recorded under OLD counts as if it ran under NEW
    (a moved or renamed checkout, or sessions recorded on another machine)."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, specs: Iterable[str]) -> PathMap:
        """Paths are kept without a trailing slash (the root becomes "")."""
        pairs = []
        for spec in specs:
            old, sep, new = spec.partition("=")
            if not sep or not old.startswith("/") or not new.startswith("/"):
                raise TokentagError(f"--path-map takes OLD=NEW, two absolute paths, "
                                    f"not {spec!r}")
            pairs.append((old.rstrip("/"), new.rstrip("/")))
        return cls(tuple(pairs))

    def apply(self, cwd: str) -> str:
        """The first pair whose OLD is `cwd` or one of its parents rewrites it."""
        for old, new in self.pairs:
            if cwd and (cwd == old or cwd.startswith(old + "/")):
                return new + cwd[len(old):]
        return cwd

    @property
    def old_paths(self) -> list[str]:
        return [old or "/" for old, _ in self.pairs]


class Options(NamedTuple):
    since: str | None = None  # normalised UTC times, as transcripts write them
    until: str | None = None
    path_map: PathMap = PathMap()
    all_projects: bool = False

    def in_range(self, timestamp: str) -> bool:
        """Same-format UTC strings compare as times; no timestamp is in no range."""
        if self.since and timestamp < self.since:
            return False
        return not (self.until and (not timestamp or timestamp >= self.until))


@dataclass
class Summary:
    """What an import did. `known` requests were in the ledger already (from hooks or an
    earlier import); `skipped_lines` looked like usage lines but were not valid JSON, or
    held a text no UTF-8 line can (see transcript.is_unicode)."""

    files: int = 0
    files_read: int = 0
    unreadable_files: int = 0
    bytes_read: int = 0
    skipped_lines: int = 0
    requests: int = 0
    new: int = 0
    known: int = 0
    corrected: int = 0
    other_repository: int = 0
    out_of_range: int = 0
    inferred: int = 0
    inferred_commits: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- which files ------------------------------------------------------------------------


class Job(NamedTuple):
    """One transcript to read from `offset`; `restart` when it shrank since its cursor."""

    path: str
    offset: int
    size: int
    mtime_ns: int
    restart: bool = False


class Plan(NamedTuple):
    worktree: Worktree
    options: Options
    files: int
    jobs: list[Job]

    @property
    def bytes_to_read(self) -> int:
        return sum(job.size - job.offset for job in self.jobs)


def plan(worktree: Worktree, options: Options) -> Plan:
    """Every candidate transcript, and the new bytes of each that has any."""
    with Store.of(worktree).writing() as writer:  # one quick query: no second connection
        cursors = {row["path"]: (row["offset"], row["size"], row["mtime_ns"]) for row in
                   writer.index.query("SELECT path, offset, size, mtime_ns FROM cursors")}
    files = candidate_files(project_dirs(worktree, options))
    jobs = []
    for path, stat in files.items():
        job = _job(path, stat, cursors.get(path))
        if job is not None:
            jobs.append(job)
    jobs.sort(key=lambda j: j.path)
    return Plan(worktree, options, len(files), jobs)


def _job(path: str, stat: os.stat_result, cursor: tuple[int, int, int] | None) -> Job | None:
    if cursor is None:
        return Job(path, 0, stat.st_size, stat.st_mtime_ns)
    offset, size, mtime_ns = cursor
    if (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns) or stat.st_size == offset:
        return None  # unchanged since last read (even a torn last line stays skipped)
    if stat.st_size < offset:  # replaced or truncated: read it again from the start
        return Job(path, 0, stat.st_size, stat.st_mtime_ns, restart=True)
    return Job(path, offset, stat.st_size, stat.st_mtime_ns)


def repository_tops(worktree: Worktree) -> list[str]:
    """Every worktree of the repository, whichever one import runs from: the main one
    beside a `.git` common dir, and each linked one named in `<common>/worktrees/*/gitdir`,
    which is what `git worktree list` reads (running it costs a repeated import more than
    the rest of its work). Other layouts (a submodule, a bare repository) ask git."""
    common = worktree.common_dir
    if os.path.basename(common) != ".git":
        return _listed_tops(worktree)
    tops = [os.path.dirname(common)]
    try:
        entries = list(os.scandir(os.path.join(common, "worktrees")))
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(os.path.join(entry.path, "gitdir"), encoding="utf-8") as handle:
                gitdir = handle.read().strip()
        except OSError:
            continue  # not a worktree's admin dir
        # The `.git` file in the worktree's top; absolute, or relative to the admin dir.
        tops.append(os.path.dirname(os.path.normpath(os.path.join(entry.path, gitdir))))
    return tops


def _listed_tops(worktree: Worktree) -> list[str]:
    out = gitcmd.run(worktree.top, "worktree", "list", "--porcelain", check=False)
    tops = [line[len("worktree "):] for line in out.splitlines() if line.startswith("worktree ")]
    return tops or [worktree.top]


def project_dirs(worktree: Worktree, options: Options) -> list[str]:
    """Project dirs named after a worktree top (or a path-map OLD), or all of them."""
    prefixes = {claude_paths.encode_project(top) for top in repository_tops(worktree)}
    prefixes |= {claude_paths.encode_project(old) for old in options.path_map.old_paths}
    found: set[str] = set()
    for config in claude_paths.config_dirs():
        try:
            entries = list(os.scandir(os.path.join(config, "projects")))
        except OSError:
            continue
        for entry in entries:
            wanted = options.all_projects or any(entry.name.startswith(p) for p in prefixes)
            if wanted and entry.is_dir():
                real = os.path.realpath(entry.path)  # one config dir can link to another
                found.add(real)
    return sorted(found)


def candidate_files(directories: Iterable[str]) -> dict[str, os.stat_result]:
    """Every `*.jsonl` below the project dirs (sessions, subagents, workflows), keyed by
    real path as capture keys its cursors."""
    files: dict[str, os.stat_result] = {}
    stack = list(directories)
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(".jsonl") and entry.is_file():
                path = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                files.setdefault(path, entry.stat())
    return files


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


class UsageLines:
    """The complete lines after `offset` that may report usage, found by searching chunks
    for a marker rather than splitting every line: most bytes of a transcript are tool
    output and progress lines that never need to be looked at line by line. The marker is
    the assistant one, not the usage one: a usage line has both, and the longer needle is
    searched 40% faster (0.24 against 0.41 s per GB)."""

    def __init__(self, path: str, offset: int) -> None:
        self.path, self.end = path, offset

    def __iter__(self) -> Iterator[bytes]:
        buf = bytearray(READ_SIZE)  # reused: a fresh buffer per read costs page faults
        carry = 0
        with open(self.path, "rb", buffering=0) as handle:
            handle.seek(self.end)
            while True:
                if carry == len(buf):  # one line longer than the buffer
                    buf.extend(bytes(len(buf)))
                got = handle.readinto(memoryview(buf)[carry:])
                if not got:
                    return
                filled = carry + got
                last = buf.rfind(b"\n", 0, filled)
                if last == -1:
                    carry = filled
                    continue
                yield from _marked_lines(buf, last)
                self.end += last + 1
                carry = filled - last - 1
                buf[:carry] = buf[last + 1:filled]


def _marked_lines(buf: bytearray, last: int) -> Iterator[bytes]:
    position = 0
    while (hit := buf.find(transcript.ASSISTANT_MARKER, position, last)) != -1:
        start = buf.rfind(b"\n", 0, hit) + 1
        stop = buf.find(b"\n", hit, last + 1)
        yield bytes(buf[start:stop])
        position = stop + 1


# Request's fields between `key` and `usage`: message and request id, session, agent, model,
# timestamp, cwd, branch, version.
_Context = tuple[str, str, str, str | None, str, str, str, str | None, str | None]


class RequestReader:
    """`transcript.parse_request` and `Request.merged` fused for bulk reading (a test holds
    them equal on the real transcripts): one JSON parse per line; a request's first line
    gives its context, later lines only raise its counts; objects are built at the end."""

    def __init__(self, agent_id: str | None, fast_json: bool) -> None:
        self.agent_id, self.loads, self.fast = agent_id, _loads(fast_json), fast_json
        # Whether every request's texts are known to be Unicode without a check: the fast
        # parser refuses a lone surrogate, and a file name (the agent id) may hold one.
        self.checks_unicode = fast_json and transcript.is_unicode(agent_id)
        self.context: dict[str, _Context] = {}
        self.counts: dict[str, tuple[int, ...]] = {}
        self.skipped = 0

    def feed(self, line: bytes) -> None:
        if transcript.USAGE_MARKER not in line:
            return
        try:
            entry, checked = self.loads(line), self.checks_unicode
        except (ValueError, RecursionError):
            entry, checked = self._parse_slowly(line)
        if not isinstance(entry, dict) or entry.get("type") != "assistant":
            return
        message = entry.get("message")
        if not isinstance(message, dict) or message.get("model") == "<synthetic>":
            return
        usage, message_id = message.get("usage"), message.get("id")
        if not isinstance(usage, dict) or not isinstance(message_id, str):
            return
        request_id = entry.get("requestId")
        key = f"{message_id}/{request_id if isinstance(request_id, str) else ''}"
        known = self.counts.get(key)
        if known is None or not checked:
            context = self._context(entry, message, message_id)
            if not checked and not transcript.is_unicode(key, *context):
                self.skipped += 1
                return
            if known is None:
                self.context[key], self.counts[key] = context, _counts(usage)
                return
        counts = _counts(usage)
        if counts != known:
            self.counts[key] = tuple(map(max, known, counts))

    def _parse_slowly(self, line: bytes) -> tuple[object, bool]:
        """What `loads` refused: json accepts lone surrogates, which the fast parser does
        not (and which the caller must then check for)."""
        try:
            if self.fast:
                return fastjson.loads(line), False
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
    return tuple([v if type(v) is int and 0 < v < transcript.MAX_COUNT else 0 for v in values])


class Scope(NamedTuple):
    """Which requests an import takes: this repository's (after the path map), in range."""

    common_dir: str
    options: Options


def scan_file(job: Job, scope: Scope, fast_json: bool = False) -> FileScan:
    """Read one transcript's new bytes and make the records of the requests in scope. A
    line that is not JSON is counted, not fatal; so is a file that cannot be read."""
    if not transcript.is_unicode(job.path):  # no ledger line or cursor could name it
        return FileScan(job, job.offset, unreadable=True)
    reader = RequestReader(transcript.agent_id_of(job.path), fast_json)
    lines = UsageLines(job.path, job.offset)
    try:
        for line in lines:
            reader.feed(line)
    except FileNotFoundError:
        return FileScan(job, job.offset, gone=True)
    except OSError:
        return FileScan(job, job.offset, unreadable=True)
    scan = FileScan(job, lines.end, reader.skipped)
    _select(scan, reader, scope)
    return scan


def _select(scan: FileScan, reader: RequestReader, scope: Scope) -> None:
    """Route each request by its own cwd, as live capture does. Rows and ledger lines are
    made here, in the worker, so the process that writes the ledger has less to do; from
    the reader's fields directly, as request_record would make them, in REQUEST_ROW's
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
        else:  # in REQUEST_ROW's order
            row = (key, message_id, request_id, session_id, agent_id, model, timestamp, mapped,
                   worktree.top, branch, version, path, captured_at, "import", *counts[key])
            scan.requests[key] = (row, request_line(row))


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
            worktree = find_worktree(mapped) if mapped else None
            if worktree is not None and worktree.common_dir != self.common_dir:
                worktree = None
            found = self.cache[cwd] = (mapped, worktree)
        return found


@dataclass
class Batch:
    """Records read but not yet in the ledger, and the cursors that may move after them."""

    # key -> (index row, ledger line); no line once two files' counts were merged.
    requests: dict[str, tuple[Row, bytes | None]] = field(default_factory=dict)
    cursors: list[tuple[Job, int]] = field(default_factory=list)


class Importer:
    """Takes each file's scan and writes the records in batches, dedup'd against the index."""

    def __init__(self, import_plan: Plan, summary: Summary, inference: Inference) -> None:
        self.summary, self.inference = summary, inference
        self.store = Store.of(import_plan.worktree)
        self.batch = Batch()

    def add(self, scan: FileScan) -> None:
        summary = self.summary
        if scan.gone or scan.unreadable:
            summary.unreadable_files += scan.unreadable
            return
        summary.files_read += 1
        summary.bytes_read += scan.end - scan.job.offset
        summary.skipped_lines += scan.skipped
        summary.other_repository += scan.other_repository
        summary.out_of_range += scan.out_of_range
        held = self.batch.requests
        for key, request in scan.requests.items():
            if key in held:  # the same request in two files (a copy, a compaction)
                held[key] = (_merged(held[key][0], request[0]), None)
            else:
                held[key] = request
                summary.requests += 1
        if not scan.out_of_range:  # a cursor means: every request before it is in the ledger
            self.batch.cursors.append((scan.job, scan.end))
        if len(held) >= BATCH_REQUESTS:
            self.flush()

    def flush_while_idle(self) -> None:
        """While the readers have nothing ready: a batch written now is not left for the
        end, when nothing else runs (the last flush took 17 ms of a 0.8 s import)."""
        if len(self.batch.requests) >= IDLE_BATCH_REQUESTS:
            self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, Batch()
        if not batch.requests and not batch.cursors:
            return
        with self.store.writing() as writer:
            new, corrections = self._split(writer.index, batch)
            rows = [row for row, _ in new]
            # Attributed in the same write: the work overlaps the reading of later files.
            records = corrections + self.inference.records(
                (row[0], row[_WORKTREE], row[_BRANCH], row[_TS]) for row in rows)
            data = b"".join(line or jsonl.encode_line(_record_of(row)) for row, line in new)
            append(writer, records, data + jsonl.encode(records), rows)
            for job, end in batch.cursors:
                _move_cursor(writer, job, end)

    def _split(self, index: Index, batch: Batch,
               ) -> tuple[list[tuple[Row, bytes | None]], list[Record]]:
        """The requests the ledger lacks, and corrections for those it holds lower counts of."""
        known = index.known_usage(batch.requests)
        new: list[tuple[Row, bytes | None]] = []
        corrections: list[Record] = []
        for key, (row, line) in batch.requests.items():
            before = known.get(key)
            if before is None:
                new.append((row, line))
                continue
            request = _request_of(_record_of(row))
            if before.maximum(request.usage) != before:
                corrections.append(correction_record(request, row[_CAPTURED_AT]))
        self.summary.new += len(new)
        self.summary.known += len(batch.requests) - len(new)
        self.summary.corrected += len(corrections)
        return new, corrections


Row = tuple[Any, ...]  # a request as index.REQUEST_ROW orders it
_WORKTREE, _BRANCH, _TS, _CAPTURED_AT = (REQUEST_ROW.index(c) for c in (
    "worktree", "branch", "ts", "captured_at"))
_USAGE_AT = REQUEST_ROW.index(USAGE_FIELDS[0])


def _merged(held: Row, other: Row) -> Row:
    """One request from two files: the first one's context, the larger counts."""
    return (*held[:_USAGE_AT], *map(max, held[_USAGE_AT:], other[_USAGE_AT:]))


def _record_of(row: Row) -> Record:
    """The request record a row was made from (same fields, same order)."""
    return {"v": SCHEMA_VERSION, "kind": "request", **dict(zip(REQUEST_ROW, row, strict=True))}


def _request_of(record: Record) -> Request:
    return Request(key=record["key"], message_id=record["message_id"],
                   request_id=record["request_id"], session_id=record["session_id"],
                   agent_id=record["agent_id"], model=record["model"], timestamp=record["ts"],
                   cwd=record["cwd"], branch=record["branch"], version=record["version"],
                   usage=Usage(*(record[f] for f in USAGE_FIELDS)))


def append(writer: Writer, records: list[Record], data: bytes | None = None,
           rows: list[Row] | None = None) -> None:
    """`writer.write` of the requests in `rows` then `records`, but folding them from
    memory when the ledger ends where the index has folded to: reading back and parsing
    what was just encoded would cost a bulk import as much as writing it. `data` is
    their ledger lines, if made already."""
    rows = rows or []
    if not records and not rows:
        return
    index, path = writer.index, writer.store.ledger_path
    if max(_size(path), 0) != int(index.meta("ledger_offset", "0")):
        writer.write([*map(_record_of, rows), *records])  # torn or not fully folded: the
        return                                           # reading path
    jsonl.append_encoded(path, jsonl.encode([*map(_record_of, rows), *records])
                          if data is None else data)
    index.fold_appended(records, _size(path), rows)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


def _move_cursor(writer: Writer, job: Job, end: int) -> None:
    if job.restart:  # cursors only move forward; a replaced file starts a new one
        writer.index.db.execute("DELETE FROM cursors WHERE path=? AND offset>?",
                                (job.path, end))
    writer.index.set_cursor(job.path, end, None, job.size, job.mtime_ns)


def execute(import_plan: Plan,
            on_file: Callable[[int, int], None] | None = None) -> Summary:
    """Read the planned files, write their requests, then attribute what no hook saw.
    `on_file(files done, bytes of the file just done)` drives a progress bar."""
    summary = Summary(files=import_plan.files)
    inference = Inference(import_plan.worktree)
    importer = Importer(import_plan, summary, inference)
    scope = Scope(import_plan.worktree.common_dir, import_plan.options)
    for done, scan in enumerate(scans(import_plan.jobs, scope, importer.flush_while_idle), 1):
        importer.add(scan)
        if on_file is not None:
            on_file(done, scan.job.size - scan.job.offset)
    importer.flush()
    finish_attribution(import_plan.worktree, summary, inference)
    return summary


def run_import(worktree: Worktree, options: Options | None = None) -> Summary:
    return execute(plan(worktree, options or Options()))


# -- retroactive attribution ----------------------------------------------------------------


Pending = tuple[str, str, str | None, str]  # key, worktree, branch, timestamp


class Inference:
    """The retroactive rule: a request goes to the first commit, in committer-time order,
    on its branch's first-parent history (the commits made on it, merges included, not
    those a merge brought in) whose commit time is at or after the request's timestamp.
    Branch tips and histories are read once per import."""

    def __init__(self, worktree: Worktree) -> None:
        self.worktree = worktree
        self.top = worktree.top
        self.histories: dict[str, BranchHistory] = {}
        self.touched: set[str] = set()
        self.count = 0
        self._tips: dict[str, str] | None = None
        # The ref files as they were just before the tips were read: stored with the tips,
        # so a branch that moves while the import runs is seen by the next one.
        self.refs_before_tips: str | None = None

    @property
    def tips(self) -> dict[str, str]:
        if self._tips is None:
            self.refs_before_tips = branch_refs_fingerprint(self.worktree.common_dir)
            self._tips = branch_tips(self.worktree)
        return self._tips

    def history(self, branch: str | None, since: float) -> BranchHistory | None:
        """None for a branch that does not exist here (deleted, or another clone's)."""
        if branch is None or branch not in self.tips:
            return None
        known = self.histories.get(branch)
        if known is None or known.since > since:
            known = self.histories[branch] = BranchHistory.load(self.top, branch,
                                                                since - HISTORY_REACH)
        return known

    def records(self, pending: Iterable[Pending]) -> list[Record]:
        """Attribution records, one per (commit, worktree), for those with a later commit."""
        groups: dict[tuple[str, str | None], list[tuple[str, float]]] = {}
        for key, worktree, branch, timestamp in pending:
            if branch is not None:
                groups.setdefault((worktree, branch), []).append((key, _epoch(timestamp)))
        assigned: dict[tuple[str, str], list[str]] = {}
        for (worktree, branch), items in groups.items():
            history = self.history(branch, min(moment for _, moment in items))
            if history is None:
                continue
            for key, moment in items:
                commit = history.first_at_or_after(moment)
                if commit is not None:
                    assigned.setdefault((commit, worktree), []).append(key)
        self.touched.update(commit for commit, _ in assigned)
        self.count += sum(len(keys) for keys in assigned.values())
        return [{"v": SCHEMA_VERSION, "kind": "attribution", "commit": commit,
                 "worktree": worktree, "keys": keys, "how": INFERRED, "at": now_iso()}
                for (commit, worktree), keys in assigned.items()]


_PENDING = "FROM requests WHERE commit_id IS NULL AND via='import' AND branch IS NOT NULL"


def finish_attribution(worktree: Worktree, summary: Summary, inference: Inference) -> None:
    """Attribute what is still pending (from earlier imports too: a branch may have moved
    since), then write the notes of every commit this import gave requests to."""
    # The notes' git processes finish after the lock is released, which hooks wait on.
    with contextlib.ExitStack() as after_the_lock, Store.of(worktree).writing() as writer:
        records, stamps = _leftovers(writer.index, inference, changed=summary.new > 0)
        append(writer, records)
        # After the records: a pass that failed is not skipped later.
        writer.index.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                    stamps.items())
        if inference.touched:
            written = after_the_lock.enter_context(NotesImport(worktree.top))
            for commit in sorted(inference.touched):
                body = content.note_for(writer.index, commit)
                if body is not None:
                    written.add(commit, body)
    summary.inferred, summary.inferred_commits = inference.count, len(inference.touched)


def _leftovers(index: Index, inference: Inference,
               changed: bool) -> tuple[list[Record], dict[str, str]]:
    """Records for pending imported requests, and the stamps of the branch tips they were
    decided on (index meta to keep). The same pending requests and the same tips give
    the same answer: with nothing new and no branch moved since the last pass, a
    repeated import skips it, looking at the ref files' sizes and mtimes alone if they
    did not change, else asking git for the tips."""
    refs = branch_refs_fingerprint(inference.worktree.common_dir)
    if not changed and refs is not None and index.meta(REFS_STAMP) == refs:
        return [], {}
    groups = index.query(f"SELECT worktree, branch, min(ts) AS first {_PENDING} "
                         f"GROUP BY worktree, branch")
    if not groups:
        return [], {}
    stamp = " ".join(f"{b}={sha}" for b, sha in sorted(inference.tips.items()))
    stamps = {INFER_STAMP: stamp, REFS_STAMP: inference.refs_before_tips or ""}
    if not changed and index.meta(INFER_STAMP) == stamp:
        return [], stamps
    pending: list[Pending] = []
    for group in groups:
        first = _epoch(group["first"])
        history = inference.history(group["branch"], first)
        if history is not None and history.has_after(first):
            pending.extend((row["key"], group["worktree"], group["branch"], row["ts"])
                           for row in index.query(f"SELECT key, ts {_PENDING} AND worktree=? "
                                                  f"AND branch=? ORDER BY seq",
                                                  (group["worktree"], group["branch"])))
    return inference.records(pending), stamps


def _epoch(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # no usable time: no commit can be said to follow it


def branch_tips(worktree: Worktree) -> dict[str, str]:
    """Local branch -> the commit it points at."""
    out = gitcmd.output_of(worktree.top, worktree.tokentag_dir, "for-each-ref",
                           "--format=%(objectname) %(refname:short)", "refs/heads/",
                           check=False)
    return {name: sha for sha, _, name in (line.partition(" ") for line in out.splitlines())}


class BranchHistory(NamedTuple):
    """A branch's own commits since `since` (a day of slack before it: committer times
    along a history need not be monotonic), in committer-time order."""

    since: float
    times: list[int]
    commits: list[str]

    @classmethod
    def load(cls, top: str, branch: str, since: float) -> BranchHistory:
        start = int(since) - 86400 if since != float("inf") else int(time.time())
        out = gitcmd.run(top, "log", "--first-parent", "--format=%ct %H", f"--since=@{start}",
                         f"refs/heads/{branch}", "--", check=False)
        pairs = [line.split(" ", 1) for line in reversed(out.splitlines()) if " " in line]
        ordered = sorted(((int(t), sha) for t, sha in pairs), key=lambda p: p[0])
        return cls(since, [t for t, _ in ordered], [sha for _, sha in ordered])

    def has_after(self, moment: float) -> bool:
        return bool(self.times) and self.times[-1] >= moment

    def first_at_or_after(self, moment: float) -> str | None:
        position = bisect_left(self.times, moment)
        return self.commits[position] if position < len(self.commits) else None


# The git commands that write an import's notes: NotesImport's, and write_notes' retries.
_NOTES_TIP = ("rev-parse", "-q", "--verify", f"{content.NOTES_REF}^{{commit}}")
_COMMITTER = ("var", "GIT_COMMITTER_IDENT")
_FAST_IMPORT = ("fast-import", "--quiet", "--date-format=raw")


class NotesImport:
    """An import's notes, in one `git fast-import` (one `git notes add` each would cost a
    process per commit). Its git processes start when it is made and it takes each note as
    soon as it is made, so git's start-up and work overlap the index queries that make
    them: 16 ms of a bulk import's serial end otherwise. Should fast-import fail (a hook
    moved the notes ref meanwhile), `write_notes` does it again; on an error in the
    caller, nothing is written. Leave it outside the repository lock: it waits for git."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.bodies: dict[str, dict[str, Any]] = {}
        self._parent = gitcmd.started(top, *_NOTES_TIP)
        self._ident = gitcmd.started(top, *_COMMITTER)
        self._importer = gitcmd.started(top, *_FAST_IMPORT, feed=True)
        self._input = cast("IO[str]", self._importer.stdin)  # a pipe: it was started to feed
        self._refused = False  # fast-import stopped reading

    def __enter__(self) -> NotesImport:
        return self

    def add(self, commit: str, body: dict[str, Any]) -> None:
        if not self.bodies:  # no header unless there is a note: an empty commit otherwise
            self._send(_notes_header(gitcmd.finished(self._ident),
                                     gitcmd.finished(self._parent) or None))
        self.bodies[commit] = body
        self._send(_note_command(commit, body))

    def _send(self, text: str) -> None:
        if not self._refused:
            try:
                self._input.write(text)
            except BrokenPipeError:
                self._refused = True

    def __exit__(self, error: type[BaseException] | None, *_: object) -> None:
        for query in (self._parent, self._ident):
            if query.returncode is None:  # not read: no note was added
                gitcmd.finished(query)
        if error is not None:  # killed before its input ends: no commit of part of the notes
            self._importer.kill()  # (its temporary pack file is left for `git gc` to prune)
        with contextlib.suppress(BrokenPipeError):
            self._input.close()
        failed = self._importer.wait() != 0 or self._refused
        if error is None and failed and self.bodies:
            write_notes(self.top, self.bodies)


def write_notes(top: str, bodies: dict[str, dict[str, Any]]) -> None:
    """All notes in one `git fast-import`, from scratch; a hook that moved the notes ref
    meanwhile makes it retry."""
    if not bodies:
        return
    for _ in range(3):
        parent = gitcmd.run(top, *_NOTES_TIP, check=False)
        ident = gitcmd.run(top, *_COMMITTER, check=False)
        stream = _notes_header(ident, parent or None) + "".join(
            _note_command(commit, body) for commit, body in sorted(bodies.items()))
        try:
            gitcmd.run(top, *_FAST_IMPORT, stdin=stream)
            return
        except TokentagError:
            continue
    for commit, body in bodies.items():  # contended or refused: the slow, certain way
        content.write_note(top, commit, body)


def _notes_header(ident: str, parent: str | None) -> str:
    ident = ident or f"tokentag <tokentag@localhost> {int(time.time())} +0000"
    header = f"commit {content.NOTES_REF}\ncommitter {ident}\n" + _data("tokentag import: notes\n")
    return header + (f"from {parent}\n" if parent else "")


def _note_command(commit: str, body: dict[str, Any]) -> str:
    return f"N inline {commit}\n" + _data(content.note_text(body))


def _data(text: str) -> str:
    return f"data {len(text.encode())}\n{text}\n"
