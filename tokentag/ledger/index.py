"""A SQLite index folded from the ledger: the fast way to answer questions about it.

Every SQL statement of tokentag is in this module and in ledger/reads.py, the index's read
side, which the hooks never load: the rest of the package asks the index by name (`pending`,
`set_cursors`, `reads.price_groups_of`, ...), and a test holds it to that.

The ledger is the record; `index.sqlite` is a cache that can always be rebuilt from it.
It remembers how far into the ledger it has folded (`ledger_offset`), so catching up
costs only the records appended since, and deleting it costs one full re-fold.

What no ledger record holds lives in `state.sqlite` beside it, attached to the same
connection (a hook still opens one): how far each transcript has been read (its cursor)
and a few stamps (when commits last looked for transcripts, what the last import pass
decided on). A rebuilt index leaves it alone. Its tables change by named migrations,
applied in order and recorded, never by dropping them. Losing it costs a re-read of the
transcripts, which the per-request dedup makes harmless.

A damaged file (any database error but busy or locked) is removed: the index is folded
again from the ledger, the state starts afresh with the stamps that could still be read.
"""

from __future__ import annotations

import os

from tokentag.core import lean_sqlite
from tokentag.core.timefmt import now_iso
from tokentag.core.tuples import tuple_type
from tokentag.core.usage import MAX_COUNT, USAGE_FIELDS, Usage
from tokentag.ledger.jsonl import read_records
from tokentag.ledger.records import (
    ESTIMATED,
    INFERRED,
    OBSERVED,
    RECORDED,
    REQUEST_FIELDS,
    REQUEST_TEXT_FIELDS,
    SCHEMA_VERSION,
    UNKNOWN_MODEL,
    evidence_of,
)

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any, NamedTuple

    from _typeshed import StrPath

    from tokentag.ledger.reads import Reads
    from tokentag.ledger.records import LedgerRecord

    # A record read back or about to be written; only the fold checks its fields.
    Record = Mapping[str, Any]
else:
    sqlite3 = lean_sqlite.load()  # the same classes and functions, loaded for less

# A row of a report query: its columns by name (`row["model"]`) or position.
Row = sqlite3.Row


if TYPE_CHECKING:  # typed for the checker, built without `typing` (see tokentag/__init__.py)
    class _CursorFields(NamedTuple):
        offset: int
        size: int
        mtime_ns: int
        dev: int | None
        ino: int | None
        carry: str | None = None

    class _PendingFields(NamedTuple):
        key: str
        via: str
        branch: str | None
        ts: str
        captured_at: str
        session_id: str
        seq: int
        worktree: str
        model: str
        tokens: int

    class Summary(NamedTuple):
        requests: int
        pending: int
        sessions: int
        commits: int
        last_capture: str | None
        invalid_lines: int
        corrections: int
        superseded: int
else:
    _CursorFields = tuple_type("_CursorFields", ("offset", "size", "mtime_ns", "dev", "ino",
                                                 "carry"), defaults=(None,))
    _PendingFields = tuple_type("_PendingFields", (
        "key", "via", "branch", "ts", "captured_at", "session_id", "seq", "worktree", "model",
        "tokens"))
    Summary = tuple_type("Summary", ("requests", "pending", "sessions", "commits",
                                      "last_capture", "invalid_lines", "corrections",
                                      "superseded"))
_CURSOR_COLUMNS = ", ".join(_CursorFields._fields)
# Whether a cursor written over another takes its place (see Index.set_cursors); its `?` is
# the writer's `restart`.
_CURSOR_MOVES = ("(? OR dev IS NOT excluded.dev OR ino IS NOT excluded.ino "
                 "OR excluded.offset >= offset)")


class Pending(_PendingFields):
    """A request no commit has taken yet, with what the attribution rules look at."""

    __slots__ = ()


class Cursor(_CursorFields):
    """How far a transcript has been read, and the file it was then: its size and mtime,
    and its identity (device and inode; None in a cursor kept from before they were).
    `carry` is what the reader knew at that offset and needs to go on from it (a running
    total the file's later lines build on), as the reader encoded it; None for most files."""

    __slots__ = ()

    @classmethod
    def at(cls, offset: int, stat: os.stat_result, carry: str | None = None) -> Cursor:
        return cls(offset, stat.st_size, stat.st_mtime_ns, stat.st_dev, stat.st_ino, carry)

    def continues(self, stat: os.stat_result) -> bool:
        """Whether `stat` is the file this cursor read, still as long at least; if not, it
        was replaced at the same path or truncated, and is read again from its start."""
        same = self.ino is None or (self.dev, self.ino) == (stat.st_dev, stat.st_ino)
        return same and stat.st_size >= self.offset


INDEX_NAME = "index.sqlite"
STATE_NAME = "state.sqlite"
# A request's whole prompt, and its band: price tables start tiers at these prompt sizes
# (Anthropic's long context at 200k; some tables also at 100k), so requests grouped by
# model, day and band all pay the same per-token prices.
_PROMPT = "(input + cache_creation + cache_read)"
_BAND = f"(CASE WHEN {_PROMPT} > 200000 THEN 2 WHEN {_PROMPT} > 100000 THEN 1 ELSE 0 END)"
# A price group's columns, for `SELECT {_PRICE_GROUP_COLUMNS} ... GROUP BY {_PRICE_GROUP_BY}`:
# reports, notes and releases all price what this selects (see costs.group_from_row). Each
# group is of one evidence kind, so every total can be split by evidence.
_PRICE_GROUP_COLUMNS = (f"model, substr(ts, 1, 10) AS day, {_BAND} AS band, evidence, "
                        f"max({_PROMPT}) AS prompt, count(*) AS requests, "
                        + ", ".join(f"sum({f}) AS {f}" for f in USAGE_FIELDS))
_PRICE_GROUP_BY = "model, day, band, evidence"
# The price groups of a note, each with its inferred requests and session ids on the side.
_NOTE_GROUPS = (f"SELECT {_PRICE_GROUP_COLUMNS}, sum(attribution='inferred') AS inferred, "
                "json_group_array(DISTINCT nullif(session_id, '')) AS session_ids "
                f"FROM requests WHERE commit_id=? GROUP BY {_PRICE_GROUP_BY} "
                f"ORDER BY {_PRICE_GROUP_BY}")
# A pending request: no commit yet, and no work item's (an estimate with a task is no commit's).
_PENDING = "commit_id IS NULL AND task IS NULL"
_PENDING_IMPORTED = ("FROM requests WHERE commit_id IS NULL AND (via='import' OR via LIKE "
                     "'import:%')")
_MAX_PARAMETERS = 500  # per statement: see _chunks
_TOTAL = ("input", "output", "cache_creation", "cache_read")  # a request's `total` tokens
_NOTES_WATERMARK = "notes_written_upto"
INDEX_VERSION = 9  # 4: cursors and stamps moved to the state file; 5: notes, agent
# commits, evidence, tasks; 6: requests by session; 7: requests by time; 8: roll-ups, and
# requests by time and seq; 9: observed commits by worktree and time. From 6, 7 and 8 an
# index is brought to 9 in place (see Index._to_current_version).
_UPGRADED_IN_PLACE = (6, 7, 8)
DROPPED = "(dropped)"  # the commit of a request set aside by `tokentag pending --drop`

# A request record's fields, each a column; then its place in the ledger, its commit and
# how the commit took it, its evidence kind (records.evidence_of), and an estimate's work
# item and note.
_REQUEST_COLUMNS = (*REQUEST_FIELDS, "seq", "commit_id", "attribution", "evidence", "task",
                    "note")
_ESTIMATE_TEXTS = ("key", "session_id", "agent_id", "model", "ts", "worktree", "branch",
                   "commit", "task", "note")


def _column(name: str) -> str:
    counted = name in USAGE_FIELDS or name == "seq"
    return f"{name} {'INTEGER' if counted else 'TEXT'}{' PRIMARY KEY' if name == 'key' else ''}"


# A day's requests, for the status line and the day budget, without a scan of them all;
# and `log -n 20`, newest first, by reading the last 20 entries.
_TIME_INDEX = "CREATE INDEX IF NOT EXISTS requests_time ON requests (ts, seq)"
# A commit's post-commit asks when its worktree's previous commit was made, and which came
# first after a late request: without it, a scan of every commit ever attributed.
_OBSERVED_INDEX = ("CREATE INDEX IF NOT EXISTS commits_observed ON commits (worktree, "
                   "attributed_at) WHERE how = 'observed'")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS requests (""" + ", ".join(map(_column, _REQUEST_COLUMNS)) + """);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (worktree) WHERE commit_id IS NULL;
CREATE INDEX IF NOT EXISTS requests_commit ON requests (commit_id);
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id);
""" + _TIME_INDEX + """;
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, transcript TEXT, cwd TEXT, worktree TEXT, seen_at TEXT,
    gone INTEGER);
CREATE INDEX IF NOT EXISTS sessions_live ON sessions (session_id) WHERE gone IS NULL;
CREATE TABLE IF NOT EXISTS commits (
    commit_id TEXT PRIMARY KEY, worktree TEXT, attributed_at TEXT, how TEXT,
    note_seq INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS commits_note ON commits (note_seq);
""" + _OBSERVED_INDEX + """;
CREATE TABLE IF NOT EXISTS agent_commits (
    commit_id TEXT PRIMARY KEY, worktree TEXT, session_id TEXT, at TEXT, settled INTEGER);
CREATE INDEX IF NOT EXISTS agent_commits_open ON agent_commits (worktree) WHERE settled IS NULL;
"""
_DERIVED = ("requests", "sessions", "commits", "agent_commits", "rollups", "rollup_minus",
            "captures")
_RETIRED = ("cursors",)  # in the state file since version 4
# Evidence after an attribution taking the request `how`: records.evidence_of on the row's
# `via`, which only an inferred attribution of an observed request changes.
_EVIDENCE_AFTER = (f"CASE WHEN evidence='{OBSERVED}' AND {{how}}='{INFERRED}' "
                   f"THEN '{INFERRED}' ELSE evidence END")
_INSERT_REQUEST = (f"INSERT INTO requests ({','.join(_REQUEST_COLUMNS)}) "
                   f"VALUES ({','.join('?' * len(_REQUEST_COLUMNS))})")
# A known request takes the field-wise maximum, as a correction would, and a commit only if
# it has none yet, as an attribution would (SET expressions read the row as it was).
_UPSERT_REQUEST = (
    f"{_INSERT_REQUEST} ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{f}=max({f}, excluded.{f})" for f in USAGE_FIELDS)
    + ", commit_id=coalesce(commit_id, excluded.commit_id), attribution=CASE WHEN commit_id "
      "IS NULL THEN excluded.attribution ELSE attribution END, evidence=CASE WHEN commit_id "
      "IS NULL THEN " + _EVIDENCE_AFTER.format(how="excluded.attribution")
    + " ELSE evidence END")
# An estimate's id recorded twice is one estimate: the first.
_INSERT_ESTIMATE = _INSERT_REQUEST.replace("INSERT", "INSERT OR IGNORE", 1)
_UNATTRIBUTED = (None, None)
_VIA = REQUEST_FIELDS.index("via")
# Kinds the fold tallies, and the meta value of each (see Reads.summary).
_TALLIED = {"request": "request_records", "estimate": "request_records",
            "correction": "corrections"}

# -- roll-ups: their tables; ledger/reads.py keeps them up to date and reads them -----------
#
# Before the fold first changes a request already rolled up, it keeps what the request was
# (`rollup_minus`), for the next roll-up to take out again.
_SLOTS = ("k1", "k2", "k3", "k4", "period", "model", "band", "evidence")
# The columns of a request reports read, the same from requests and from roll-ups (`n`: how
# many requests a row stands for).
_VIEW_TEXTS = ("session_id", "agent_id", "model", "ts", "worktree", "branch", "commit_id",
               "task")
# What a request was before the fold first changed it, while it is rolled up as it was.
_MINUS_COLUMNS = (*_VIEW_TEXTS, "evidence", *USAGE_FIELDS)
_ROLLUP_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS rollups (grain TEXT, {', '.join(_SLOTS)}, requests INTEGER,
    {', '.join(f"{f} INTEGER" for f in USAGE_FIELDS)}, prompt INTEGER,
    PRIMARY KEY (grain, {', '.join(_SLOTS)})) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_empty ON rollups (grain) WHERE requests = 0;
CREATE INDEX IF NOT EXISTS rollups_stale ON rollups (grain) WHERE prompt IS NULL;
CREATE TABLE IF NOT EXISTS rollup_minus (id INTEGER PRIMARY KEY, {', '.join(_MINUS_COLUMNS)});
CREATE TABLE IF NOT EXISTS captures (via TEXT PRIMARY KEY, at TEXT NOT NULL) WITHOUT ROWID;
"""
# Grains whose keys status counts (commits, sessions), and the meta value kept of each: how
# many of its keys are not NULL, changed as the roll-up adds and removes keys.
_COUNTED = {"commits": "commits_counted", "sessions": "sessions_counted"}
_ROLLUP_META = ("rolled_up_to", *_COUNTED.values())


class Index:
    """The folded view of one repository's ledger."""

    # Whether reports read the roll-ups (see Reads.roll_up); without them, every request. Off for
    # a copy in memory, which would roll up the whole ledger for the one read it serves.
    rollups = True
    _rolled_mark = 0  # during a fold: the last request the roll-ups hold

    def __init__(self, directory: StrPath) -> None:
        self.ledger = os.path.join(directory, "ledger.jsonl")
        # While folding a batch from memory: requests of the batch an attribution later in
        # it takes, and those already inserted with that commit (see fold_appended).
        self._ahead: dict[str, tuple[str, str]] = {}
        self._premerged: set[str] = set()
        # A damaged file is removed and opened afresh: leaving it would stop every hook and
        # commit until someone deletes it by hand. Each file at most once.
        for attempt in range(3):
            try:
                self._open(os.fspath(directory))
                return
            except sqlite3.DatabaseError as error:
                if attempt == 2 or not is_damage(error):
                    raise
                repair(directory, error)

    @classmethod
    def empty(cls) -> Index:
        """An index of nothing, in memory: what a repository tokentag never ran in has to
        show, without a tokentag dir made there by a command that only reads."""
        index = cls.__new__(cls)
        index.ledger, index._ahead, index._premerged = os.devnull, {}, set()
        index._open_files(":memory:", ":memory:")
        return index

    @classmethod
    def copied(cls, directory: StrPath) -> Index:
        """The index of a tokentag dir this process cannot write (a read-only mount, another
        user's repository): its files read into memory and caught up there with the ledger.
        Nothing is written; a copy that will not open is dropped and the ledger folded whole."""
        directory = os.fspath(directory)
        index = cls.__new__(cls)
        index.ledger, index._ahead, index._premerged = (
            os.path.join(directory, "ledger.jsonl"), {}, set())
        index.rollups = False
        try:
            index._open_copies(directory)
            index.catch_up()
        except sqlite3.DatabaseError:
            index.close()
            index._open_files(":memory:", ":memory:")
            index.catch_up()
        return index

    def _open_copies(self, directory: str) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("ATTACH DATABASE ':memory:' AS state")
        for name, file_name in (("main", INDEX_NAME), ("state", STATE_NAME)):
            try:
                with open(os.path.join(directory, file_name), "rb") as copy:
                    self._db.deserialize(copy.read(), name=name)
            except OSError:
                pass  # not there: an empty one
        _migrate(self._db)
        self._to_current_version()

    def _open(self, directory: str) -> None:
        self._open_files(os.path.join(directory, INDEX_NAME),
                         os.path.join(directory, STATE_NAME))

    def _open_files(self, index_path: str, state_path: str) -> None:
        self._db = sqlite3.connect(_uri(index_path), isolation_level=None, timeout=30,
                                   uri=True)
        try:
            self._db.row_factory = sqlite3.Row
            # No fsync: the index is rebuilt from the ledger, the state costs a re-read (and
            # a damaged one is reset). A rollback journal kept as an empty file, not WAL:
            # every hook and commit is a short-lived process, and WAL makes each close
            # checkpoint and delete its files and each open recreate them (0.9 ms per open
            # and close here, against 0.25). Readers may now make a writer wait, for as long
            # as a report's query.
            self._db.execute("PRAGMA journal_mode=TRUNCATE")
            self._db.execute("PRAGMA synchronous=OFF")
            _attach_state(self._db, state_path)
            self._to_current_version()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    @property
    def reads(self) -> Reads:
        """What reports, status, releases, the dashboard and the status line ask."""
        from tokentag.ledger.reads import Reads

        return Reads(self)

    def _create(self) -> None:
        # Takes effect in a new file only: an import inserts rows of ~700 bytes, 8% faster
        # with pages of 16 KiB than 4 KiB, and point lookups do not notice.
        self._db.execute("PRAGMA page_size=16384")
        self._db.executescript("DROP TABLE IF EXISTS main.meta;" + "".join(
            f"DROP TABLE IF EXISTS main.{t};" for t in (*_DERIVED, *_RETIRED)) + _SCHEMA
            + _ROLLUP_SCHEMA)
        self._db.execute(f"PRAGMA main.user_version={INDEX_VERSION}")

    def _to_current_version(self) -> None:
        """An index of another version is made afresh, but for versions 6 to 8, which
        differ from 9 by indexes (on time, on observed commits) and the roll-up tables: the
        indexes built from the rows there (about a second per million requests), the
        roll-ups left empty for the first read to fill, not the whole ledger folded again."""
        version = self._db.execute("PRAGMA main.user_version").fetchone()[0]
        if version in _UPGRADED_IN_PLACE:
            if version < 8:
                self._db.executescript("DROP INDEX IF EXISTS main.requests_time;"
                                       + _TIME_INDEX + ";" + _ROLLUP_SCHEMA)
                self._db.executemany("DELETE FROM meta WHERE name=?",
                                     ((name,) for name in _ROLLUP_META))
            self._db.execute(_OBSERVED_INDEX)
            self._db.execute(f"PRAGMA main.user_version={INDEX_VERSION}")
        elif version != INDEX_VERSION:
            self._create()

    def _meta(self, name: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, name: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, str(value)))

    def catch_up(self) -> int:
        """Fold the records appended since the last call; returns how many. Hold the lock."""
        offset, size = self._valid_offset()
        if offset == size:  # nothing appended: no write transaction, which costs ~0.2 ms
            return 0
        return self._fold(read_records(self.ledger, offset), offset)

    def fold_appended(self, records: Sequence[LedgerRecord], end: int,
                      rows: Sequence[tuple[Any, ...]] = ()) -> int:
        """Fold records the caller itself just appended, the ledger now ending at `end`,
        without reading back JSON it encoded a moment ago (a bulk import writes tens of
        thousands). Only under the lock, right after `catch_up`, and only if the ledger
        ended at `ledger_offset` before the append (no torn line, no other writer).

        `rows` are request records' values in REQUEST_FIELDS' order, appended before
        `records`: inserted in one statement, the bulk of an import costs the one process
        that writes no Python per record (they were built by tokentag, not read)."""
        if self._meta("ledger_offset", "0") == "0":  # the append made the ledger: adopt it
            self._set_meta("ledger_inode", os.stat(self.ledger).st_ino)
        # A request attributed later in the same batch (an import attributes what it reads)
        # is inserted with its commit: one row write instead of an insert and an update.
        self._ahead = _attributions_ahead({row[0] for row in rows}, records)
        try:
            return self._fold(((record, end) for record in records), end, rows)
        finally:
            self._ahead, self._premerged = {}, set()

    def _fold(self, pairs: Iterable[tuple[Record | None, int]], offset: int,
              rows: Sequence[tuple[Any, ...]] = ()) -> int:
        seq = int(self._meta("seq", "0"))
        folded = invalid = 0
        # Records of a request, and corrections: beside the requests they fold into, they
        # tell how many records a later one superseded (see Reads.summary).
        tally = {"request_records": len(rows), "corrections": 0}
        # A write transaction from the start: a read may roll up without the lock, and the
        # mark must be what the roll-ups hold while this fold changes rows (read before,
        # a roll-up in between would hold changed rows without their old values kept).
        with self._transaction("IMMEDIATE"):
            self._rolled_mark = self._rolled_up_to()
            if rows:
                self._insert_rows(rows, seq)
                seq += len(rows)
                folded += len(rows)
            for record, end in pairs:
                seq += 1
                if record is None or not self._apply(record, seq):
                    invalid += 1
                else:
                    tallied = _TALLIED.get(record["kind"])
                    if tallied is not None:
                        tally[tallied] += 1
                folded += 1
                offset = end
            self._set_meta("ledger_offset", offset)
            self._set_meta("seq", seq)
            for name, added in (("invalid_lines", invalid), *tally.items()):
                self._count(name, added)
        return folded

    def _transaction(self, kind: str = "") -> _Transaction:
        return _Transaction(self._db, kind)

    def _insert_rows(self, rows: Sequence[tuple[Any, ...]], seq: int) -> None:
        ahead = self._ahead
        if self._rolled_mark:  # new requests, as the caller found them: kept all the same
            for chunk, marks in _chunks([row[0] for row in rows]):
                self._keep_rolled_up(f"key IN ({marks})", chunk)
        self._db.executemany(_UPSERT_REQUEST, (
            _request_row(row, number, ahead.get(row[0], _UNATTRIBUTED))
            for number, row in enumerate(rows, seq + 1)))
        self._premerged.update(row[0] for row in rows if row[0] in ahead)

    def _valid_offset(self) -> tuple[int, int]:
        """Where folding resumes, and the ledger's size; a ledger that shrank or was
        replaced means a re-fold."""
        try:
            stat = os.stat(self.ledger)
        except FileNotFoundError:
            stat = None
        identity = f"{stat.st_ino}" if stat else ""
        offset = int(self._meta("ledger_offset", "0"))
        if stat is None or identity != self._meta("ledger_inode") or stat.st_size < offset:
            self._reset_derived()
            self._set_meta("ledger_inode", identity)
            return 0, stat.st_size if stat else 0
        return offset, stat.st_size

    def _reset_derived(self) -> None:
        for table in _DERIVED:
            self._db.execute(f"DELETE FROM {table}")
        for name in ("ledger_offset", "seq", "invalid_lines", *_TALLIED.values(),
                     *_ROLLUP_META):
            self._db.execute("DELETE FROM meta WHERE name=?", (name,))

    def _apply(self, record: Record, seq: int) -> bool:
        if not isinstance(record.get("v"), int) or record["v"] > SCHEMA_VERSION:
            return False
        handler = _HANDLERS.get(record["kind"])
        if handler is None:
            return False
        try:
            handler(self, record, seq)
        except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: an
            return False                                         # integer SQLite can't hold
        return True

    def _apply_request(self, record: Record, seq: int) -> None:
        """Insert a new request; a known one only takes the field-wise maximum, as a
        correction would. One upsert: a bulk import folds tens of thousands of these."""
        texts = _texts(*map(record.get, REQUEST_TEXT_FIELDS))
        key = texts[0]
        if key is None:  # SQLite would take a NULL key as a new row
            raise TypeError("request record without a key")
        commit = self._ahead.get(key, _UNATTRIBUTED) if self._ahead else _UNATTRIBUTED
        self._keep_rolled_up("key = ?", (key,))
        self._db.execute(_UPSERT_REQUEST, _request_row(
            (*texts, *_counts(record)), seq, commit))
        if commit is not _UNATTRIBUTED:
            self._premerged.add(key)

    def _apply_estimate(self, record: Record, seq: int) -> None:
        """An estimate as a request row of its own: the same columns, so every report,
        note and release counts it, with evidence `estimated` and its work item."""
        key, session, agent, model, ts, worktree, branch, commit, task, note = _texts(
            *map(record.get, _ESTIMATE_TEXTS))
        if key is None:
            raise TypeError("estimate record without a key")
        texts = {"key": key, "message_id": key, "request_id": "", "session_id": session,
                 "agent_id": agent, "model": model or UNKNOWN_MODEL, "ts": ts, "cwd": worktree,
                 "worktree": worktree, "branch": branch, "version": None, "transcript": "",
                 "captured_at": ts, "via": RECORDED}
        self._db.execute(_INSERT_ESTIMATE, (
            *map(texts.get, REQUEST_TEXT_FIELDS), *_counts(record),
            seq, commit, RECORDED if commit else None, ESTIMATED, task, note))
        if commit:  # the commit's note counts it now
            self._db.execute("INSERT INTO commits (commit_id, worktree, attributed_at, how, "
                             "note_seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT(commit_id) DO "
                             "UPDATE SET note_seq=excluded.note_seq",
                             (commit, worktree, ts, RECORDED, seq))

    def _apply_correction(self, record: Record, seq: int) -> None:
        if self._raise_usage(record):  # a committed request's commit shows it in its note
            self._db.execute("UPDATE commits SET note_seq=? WHERE commit_id=(SELECT "
                             "commit_id FROM requests WHERE key=?)", (seq, *_texts(record["key"])))

    def _raise_usage(self, record: Record) -> bool:
        """Take the field-wise maximum into a known request; False if it is unknown."""
        sets = ", ".join(f"{f}=max({f}, ?)" for f in USAGE_FIELDS)
        self._keep_rolled_up("key = ?", _texts(record["key"]))
        cursor = self._db.execute(f"UPDATE requests SET {sets} WHERE key=?",
                                 [*_counts(record), *_texts(record["key"])])
        return cursor.rowcount > 0

    def _apply_session(self, record: Record, seq: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO sessions (session_id, transcript, cwd, worktree, "
                        "seen_at) VALUES (?, ?, ?, ?, ?)",
                        _texts(record["session_id"], record["transcript"], record.get("cwd"),
                               record.get("worktree"), record.get("seen_at")))

    def _apply_attribution(self, record: Record, seq: int) -> None:
        commit, how = _attribution_of(record)
        worktree, at = _texts(record.get("worktree"), record.get("at"))
        keys = [key for key in map(str, record["keys"]) if key not in self._premerged]
        for chunk, marks in _chunks(keys) if self._rolled_mark else ():
            self._keep_rolled_up(f"key IN ({marks}) AND commit_id IS NULL", chunk)
        # One statement per key: with `key IN (...)` SQLite updates several times slower
        # (an import attributes tens of thousands of requests at once).
        self._db.executemany("UPDATE requests SET commit_id=?, attribution=?, evidence="
                            + _EVIDENCE_AFTER.format(how="?")
                            + " WHERE key=? AND commit_id IS NULL",
                            ((commit, how, how, key) for key in keys))
        self._db.execute("INSERT INTO commits (commit_id, worktree, attributed_at, how, "
                         "note_seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT(commit_id) DO UPDATE "
                         "SET note_seq=excluded.note_seq", (commit, worktree, at, how, seq))

    def _apply_rewrite(self, record: Record, seq: int) -> None:
        pairs = [_texts(old, new) for old, new in record["pairs"]]
        for old, new in pairs:
            self._keep_rolled_up("commit_id = ?", (old,))
            self._db.execute("UPDATE requests SET commit_id=? WHERE commit_id=?", (new, old))
            # Both notes change: the new commit's counts what the old one's did, which must
            # count nothing any more (or a release reading both would count it twice).
            self._db.execute("INSERT INTO commits (commit_id, worktree, attributed_at, how, "
                             "note_seq) SELECT ?, worktree, attributed_at, how, ? FROM commits "
                             "WHERE commit_id=? ON CONFLICT(commit_id) DO UPDATE SET "
                             "note_seq=excluded.note_seq", (new, seq, old))
            self._db.execute("UPDATE commits SET note_seq=? WHERE commit_id=?", (seq, old))

    def _apply_agent_commit(self, record: Record, seq: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO agent_commits VALUES (?, ?, ?, ?, NULL)",
                         _texts(record["commit"], record["worktree"], record.get("session_id"),
                                record["at"]))

    def _apply_settlement(self, record: Record, seq: int) -> None:
        self._db.execute("UPDATE agent_commits SET settled=1 WHERE commit_id=?",
                         _texts(record["commit"]))

    def _apply_drop(self, record: Record, seq: int) -> None:
        keys = list(map(str, record["keys"]))
        for chunk, marks in _chunks(keys) if self._rolled_mark else ():
            self._keep_rolled_up(f"key IN ({marks}) AND commit_id IS NULL", chunk)
        self._db.executemany("UPDATE requests SET commit_id=?, attribution='dropped' WHERE "
                             "key=? AND commit_id IS NULL",
                             ((DROPPED, key) for key in keys))

    # -- roll-ups ---------------------------------------------------------------------

    def _keep_rolled_up(self, condition: str, params: Sequence[Any]) -> None:
        """Before the fold changes requests the roll-ups hold, keep what they were: the
        next roll-up takes that out and adds what they became. The first change counts."""
        if self._rolled_mark:
            self._db.execute(f"INSERT OR IGNORE INTO rollup_minus SELECT rowid, "
                             f"{', '.join(_MINUS_COLUMNS)} FROM requests WHERE rowid <= ? AND "
                             f"{condition}", (self._rolled_mark, *params))


    def _rolled_up_to(self) -> int:
        return int(self._meta("rolled_up_to", "0"))

    def _last_rowid(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(rowid), 0) FROM requests"
                                    ).fetchone()[0])


    def _count(self, name: str, added: int) -> None:
        if added:
            self._set_meta(name, int(self._meta(name, "0")) + added)


    # -- capture ---------------------------------------------------------------------

    def known_usage(self, keys: Iterable[str]) -> dict[str, Usage]:
        """The counts held for those of `keys` that are known: an import asks about tens of
        thousands at once."""
        found: dict[str, Usage] = {}
        for chunk, marks in _chunks(list(keys)):
            for row in self._db.execute(f"SELECT key, {','.join(USAGE_FIELDS)} FROM requests "
                                       f"WHERE key IN ({marks})", chunk):
                found[row[0]] = Usage(*row[1:])
        return found

    def known_sessions(self, session_ids: Iterable[str]) -> set[str]:
        """Those of `session_ids` the index knows: a commit asks about each session that
        grew since the last one, together."""
        found: set[str] = set()
        for chunk, marks in _chunks(list(session_ids)):
            found.update(row[0] for row in self._db.execute(
                f"SELECT session_id FROM sessions WHERE session_id IN ({marks})", chunk))
        return found

    def session_usage_by_model(self, session_id: str, main: str,
                               main_through: str | None) -> dict[str, Usage]:
        """What the ledger holds of a session, per model, as far as the session's own running
        totals at a point of its main transcript can cover: everything but the main file's
        own requests after `main_through` (a timestamp; None: all of them are after it).
        Its subagents' requests (files, progress copies) and usage reconciled before all
        count. For the reconciliation of those totals (see capture.reconcile)."""
        sums = ", ".join(f"sum({f})" for f in USAGE_FIELDS)
        return {row[0]: Usage(*row[1:]) for row in self._db.execute(
            f"SELECT model, {sums} FROM requests WHERE session_id=? AND (transcript IS NOT ? "
            "OR via LIKE '%:reconciled' OR via LIKE '%:progress' OR ts <= ?) GROUP BY model",
            (session_id, main, main_through))}

    def commit_of(self, key: str) -> str | None:
        """The commit a request is attributed to, if any."""
        row = self._db.execute("SELECT commit_id FROM requests WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    # -- state: what the ledger does not hold -----------------------------------------

    def cursors(self) -> dict[str, Cursor]:
        with _state_damage():
            return {row[0]: Cursor(*row[1:]) for row in self._db.execute(
                f"SELECT path, {_CURSOR_COLUMNS} FROM state.cursors").fetchall()}

    def cursors_of(self, paths: Sequence[str]) -> dict[str, Cursor]:
        """How far each of `paths` that has a cursor has been read, and what the file was
        then: a session's files in one query."""
        found: dict[str, Cursor] = {}
        with _state_damage():
            for chunk, marks in _chunks(paths):
                found.update((row[0], Cursor(*row[1:])) for row in self._db.execute(
                    f"SELECT path, {_CURSOR_COLUMNS} FROM state.cursors WHERE path IN "
                    f"({marks})", chunk))
        return found

    def set_cursors(self, moved: Sequence[tuple[str, Cursor, bool]]) -> None:
        """(path, cursor, restart) each, in one transaction. Cursors only move forward, so a
        slower concurrent reader cannot rewind one; unless the file was read again from its
        start (`restart`) or is another file. The carry goes with the offset it was made at
        (SET reads the row as it was)."""
        if not moved:
            return
        with _state_damage(), self._transaction():
            self._db.executemany(
                f"INSERT INTO state.cursors (path, {_CURSOR_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                f"offset=CASE WHEN {_CURSOR_MOVES} THEN excluded.offset ELSE offset END, "
                f"carry=CASE WHEN {_CURSOR_MOVES} THEN excluded.carry ELSE carry END, "
                "size=excluded.size, mtime_ns=excluded.mtime_ns, dev=excluded.dev, "
                "ino=excluded.ino", ((path, *cursor, restart, restart)
                                     for path, cursor, restart in moved))

    def drop_cursors(self, paths: Iterable[str]) -> None:
        with _state_damage():
            self._db.executemany("DELETE FROM state.cursors WHERE path=?",
                                 ((p,) for p in paths))

    def agent_file_sessions(self, directory: str) -> dict[str, str]:
        """The session each flat-layout agent file in `directory` belongs to, for the files
        looked at before ("" for one whose first line names none)."""
        with _state_damage():
            return dict(self._db.execute(
                "SELECT path, session_id FROM state.agent_files WHERE path > ? AND path < ? "
                f"AND {_DIRECTLY_IN}", _directly_in(directory)).fetchall())

    def agent_files_of(self, directory: str, session_id: str) -> list[str]:
        """The flat-layout agent files in `directory` known to be `session_id`'s."""
        with _state_damage():
            return [row[0] for row in self._db.execute(
                "SELECT path FROM state.agent_files WHERE path > ? AND path < ? "
                f"AND {_DIRECTLY_IN} AND session_id=? ORDER BY path",
                (*_directly_in(directory), session_id))]

    def agent_dir_listed_ns(self, directory: str) -> int | None:
        """The mtime `directory` had when every agent file in it was last known whole."""
        return int(self._stamp(_agent_dir_stamp(directory)) or 0) or None

    def remember_agent_files(self, sessions: Mapping[str, str], gone: Iterable[str],
                             directory: str, listed_ns: int | None) -> None:
        """Which session each of these flat-layout agent files in `directory` belongs to (a
        first line, once written, never changes, so it is read once, not on every turn's
        end), which are gone from it, and, with `listed_ns`, that the files `directory`
        holds at that mtime are all known."""
        with _state_damage(), self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO state.agent_files VALUES (?, ?)",
                                 sessions.items())
            self._db.executemany("DELETE FROM state.agent_files WHERE path=?",
                                 ((path,) for path in gone))
            if listed_ns is not None:
                self._set_stamps({_agent_dir_stamp(directory): str(listed_ns)})

    def last_flush_ns(self) -> int | None:
        """When a commit last looked for transcripts (install counts as the first)."""
        return int(self._stamp("last_flush_ns") or 0) or None

    def set_last_flush_ns(self, moment_ns: int, keep_existing: bool = False) -> None:
        self._set_stamps({"last_flush_ns": str(moment_ns)}, keep_existing)

    def installed_ns(self) -> int | None:
        """When `tokentag install` first ran here (None before it, or before it was kept)."""
        return int(self._stamp("installed_ns") or 0) or None

    def set_installed_ns(self, moment_ns: int) -> None:
        self._set_stamps({"installed_ns": str(moment_ns)}, keep_existing=True)

    def import_stamps(self) -> tuple[str, str]:
        """What the last inference pass of an import decided on: the branch tips, and
        the ref files' sizes and mtimes before the tips were read (or, when the pass found
        nothing pending, as it found them: the tips are then those of an earlier pass)."""
        return self._stamp("import_inferred_at") or "", self._stamp("import_refs_seen") or ""

    def set_import_stamps(self, inferred_at: str, refs_seen: str) -> None:
        self._set_stamps({"import_inferred_at": inferred_at, "import_refs_seen": refs_seen})

    def _stamp(self, name: str) -> str | None:
        with _state_damage():
            row = self._db.execute("SELECT value FROM state.stamps WHERE name=?",
                                   (name,)).fetchone()
        return str(row[0]) if row else None

    def _set_stamps(self, values: dict[str, str], keep_existing: bool = False) -> None:
        with _state_damage():
            self._db.executemany(f"INSERT OR {'IGNORE' if keep_existing else 'REPLACE'} "
                                 "INTO state.stamps VALUES (?, ?)", values.items())

    # -- attribution -----------------------------------------------------------------

    def live_sessions(self) -> list[tuple[str, str]]:
        """(session id, main transcript) of the sessions whose transcripts may still grow."""
        return [(row[0], row[1]) for row in self._db.execute(
            "SELECT session_id, transcript FROM sessions WHERE gone IS NULL")]

    def mark_sessions_gone(self, session_ids: Iterable[str]) -> None:
        """Sessions whose transcripts Claude Code has pruned: looked at once, then skipped
        (a re-fold forgets this, costing one more look)."""
        self._db.executemany("UPDATE sessions SET gone=1 WHERE session_id=?",
                            ((s,) for s in session_ids))

    def pending(self, worktree: str | None) -> list[Pending]:
        """The worktree's unattributed requests (every worktree's when None), in ledger
        order."""
        where = _PENDING + (" AND worktree=?" if worktree is not None else "")
        return [Pending(*row) for row in self._db.execute(
            f"SELECT key, via, branch, ts, captured_at, session_id, seq, worktree, model, "
            f"{'+'.join(_TOTAL)} FROM requests WHERE {where} ORDER BY seq",
            (worktree,) if worktree is not None else ())]

    def has_pending(self, worktree: str) -> bool:
        """Whether the worktree has a request `pending` would list (the pending index)."""
        return self._db.execute(f"SELECT 1 FROM requests WHERE {_PENDING} AND worktree=? "
                                "LIMIT 1", (worktree,)).fetchone() is not None

    def latest_observed_commit_at(self, worktree: str) -> str | None:
        """When the worktree's last commit attributed by its own post-commit was made."""
        row = self._db.execute("SELECT max(attributed_at) FROM commits WHERE worktree=? AND "
                               "how='observed'", (worktree,)).fetchone()
        return row[0] if row and row[0] else None

    def commit_attributed_since(self, worktree: str, moment: str) -> str | None:
        """The worktree's first commit made at or after `moment` (a UTC stamp), as far as
        its post-commit said (an inferred commit was attributed long after it was made)."""
        row = self._db.execute("SELECT commit_id FROM commits WHERE worktree=? AND "
                               "how='observed' AND attributed_at >= ? ORDER BY attributed_at "
                               "LIMIT 1", (worktree, moment)).fetchone()
        return row[0] if row else None

    def unsettled_agent_commits(self, worktree: str) -> list[tuple[str, str | None, str]]:
        """(commit, session id, when) of the worktree's agent commits still waiting for
        their committing request, oldest first."""
        return [(row[0], row[1], row[2]) for row in self._db.execute(
            "SELECT commit_id, session_id, at FROM agent_commits WHERE worktree=? AND "
            "settled IS NULL ORDER BY at", (worktree,))]

    def request_seq(self, key: str) -> tuple[int, bool] | None:
        """Where a request stands in the ledger, and whether it is still pending."""
        row = self._db.execute("SELECT seq, commit_id IS NULL FROM requests WHERE key=?",
                               (key,)).fetchone()
        return (int(row[0]), bool(row[1])) if row else None

    def stale_notes(self, limit: int | None = None) -> list[tuple[str, str, int]]:
        """(commit, worktree, seq) of the commits whose note is missing or older than what
        the ledger holds for them (a failed write, a correction, a rewrite), oldest first:
        every commit, sync and import writes them again. Only changes after the watermark
        are looked at (notes written before tracking began are taken as written), so the
        look costs what changed, not every commit ever noted."""
        watermark = self._notes_watermark()
        sql = ("SELECT c.commit_id, c.worktree, c.note_seq FROM commits c LEFT JOIN "
               "state.notes_written w ON w.commit_id = c.commit_id WHERE c.note_seq > ? "
               "AND c.note_seq > coalesce(w.seq, -1) ORDER BY c.note_seq")
        with _state_damage():
            rows = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else ""),
                                    (watermark,)).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def _notes_watermark(self) -> int:
        """The seq up to which every note is written: set, the first time, to where the
        ledger is (older tokentag wrote each note as it went); then moved up by
        mark_notes_written past what it finds written."""
        stamp = self._stamp(_NOTES_WATERMARK)
        if stamp is None:
            stamp = str(self._db.execute("SELECT coalesce(max(note_seq), 0) FROM commits"
                                         ).fetchone()[0])
            self._set_stamps({_NOTES_WATERMARK: stamp})
        return int(stamp)

    def note_seq(self, commit: str) -> int | None:
        """Where the ledger last changed the commit's counts; None for a commit it does
        not know."""
        row = self._db.execute("SELECT note_seq FROM commits WHERE commit_id=?",
                               (commit,)).fetchone()
        return int(row[0]) if row else None

    def mark_notes_written(self, written: Iterable[tuple[str, int]]) -> None:
        """The notes now in git, each as of that seq: a later change makes it stale again.
        The watermark moves up to just below the oldest note still stale."""
        watermark = self._notes_watermark()
        with _state_damage(), self._transaction():  # one journal, not one per statement
            self._db.executemany(
                "INSERT INTO state.notes_written VALUES (?, ?) ON CONFLICT(commit_id) DO UPDATE "
                "SET seq=max(seq, excluded.seq)", written)
            oldest = self._db.execute(
                "SELECT min(c.note_seq) FROM commits c LEFT JOIN state.notes_written w ON "
                "w.commit_id = c.commit_id WHERE c.note_seq > ? AND c.note_seq > "
                "coalesce(w.seq, -1)", (watermark,)).fetchone()[0]
            newest = self._db.execute("SELECT coalesce(max(note_seq), 0) FROM commits"
                                      ).fetchone()[0]
            moved = newest if oldest is None else oldest - 1
            if moved > watermark:
                self._set_stamps({_NOTES_WATERMARK: str(moved)})

    def known_commits(self, commits: Iterable[str]) -> set[str]:
        """Those of `commits` the ledger has attributed anything to, even if it all moved
        on since (amend, reset, squash): their notes are not to be read instead."""
        found: set[str] = set()
        for chunk, marks in _chunks(list(commits)):
            found.update(row[0] for row in self._db.execute(
                f"SELECT commit_id FROM commits WHERE commit_id IN ({marks})", chunk))
        return found


    def is_attributed(self, commit: str) -> bool:
        return self._db.execute("SELECT 1 FROM commits WHERE commit_id=?",
                               (commit,)).fetchone() is not None

    # -- import ----------------------------------------------------------------------

    def folded_offset(self) -> int:
        """Where the ledger ended when it was last folded."""
        return int(self._meta("ledger_offset", "0"))

    def pending_imported_branches(self) -> list[tuple[str, str | None, str]]:
        """(worktree, branch or None, earliest timestamp) of imported requests still
        pending."""
        return [(row[0], row[1], row[2]) for row in self._db.execute(
            f"SELECT worktree, branch, min(ts) {_PENDING_IMPORTED} GROUP BY worktree, branch")]

    def pending_imported(self, worktree: str, branch: str | None) -> list[tuple[str, str]]:
        """(key, timestamp) of those on one worktree's branch, in ledger order."""
        return [(row[0], row[1]) for row in self._db.execute(
            f"SELECT key, ts {_PENDING_IMPORTED} AND worktree=? AND branch IS ? ORDER BY seq",
            (worktree, branch))]

    # -- totals ----------------------------------------------------------------------

    def note_groups(self, commit: str) -> list[dict[str, Any]]:
        """A commit's price groups, each with its inferred requests (`inferred`) and its
        session ids as a JSON array (`session_ids`): all a note needs, in one pass over
        the commit's rows (three queries took a bulk import's notes 37 ms, this one 27)."""
        return [dict(row) for row in self._db.execute(_NOTE_GROUPS, (commit,))]


# -- damage -------------------------------------------------------------------------------

_BUSY_OR_LOCKED = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another process, not damage
_FILE_SUFFIXES = ("", "-journal", "-wal", "-shm")


class StateDamaged(sqlite3.DatabaseError):
    """The state file failed, not the index: it is what must be reset."""


def is_damage(error: BaseException) -> bool:
    """Whether an error from the index's connection means a damaged file."""
    return isinstance(error, sqlite3.DatabaseError) and \
        getattr(error, "sqlite_errorcode", 0) & 0xFF not in _BUSY_OR_LOCKED


def repair(directory: StrPath, error: BaseException) -> None:
    """Remove the file `error` showed damaged, so the next open starts it afresh: the
    state file (its stamps kept if they can still be read), else the index."""
    directory = os.fspath(directory)
    if isinstance(error, StateDamaged):
        _reset_state(os.path.join(directory, STATE_NAME))
    else:
        _remove(os.path.join(directory, INDEX_NAME))


# The `with` blocks of this module are classes: no contextlib on the hook paths (see
# tokentag/__init__.py).


class _Transaction:
    """A transaction for a `with` block: committed at its end, rolled back on an error."""

    def __init__(self, db: sqlite3.Connection, kind: str) -> None:
        self._db = db
        self._kind = kind

    def __enter__(self) -> None:
        self._db.execute(f"BEGIN {self._kind}")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


class _StateDamage:
    """Tells a failure of the state file from one of the index, which share a connection."""

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, StateDamaged) \
                and is_damage(error):
            raise StateDamaged(f"{STATE_NAME}: {error}") from error


_state_damage = _StateDamage


def _remove(path: str) -> None:
    for suffix in _FILE_SUFFIXES:
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            continue


# Bytes a file name keeps as they are in an SQLite URI; the others are percent-encoded.
_URI_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-~")


def _uri(path: str) -> str:
    """A file as an SQLite URI, its bytes percent-encoded: SQLite takes a plain name as
    UTF-8, which a path that is not (lone surrogates in Python) cannot be encoded to."""
    if path == ":memory:":
        return path
    return "file:" + "".join(chr(byte) if byte in _URI_KEPT else f"%{byte:02X}"
                             for byte in os.fsencode(path))


def _stamps_of(path: str) -> list[tuple[str, str]]:
    """The stamps a damaged state file still gives, if any."""
    try:
        readable = sqlite3.connect(_uri(path), uri=True)
        try:
            return readable.execute("SELECT name, value FROM stamps").fetchall()
        finally:
            readable.close()
    except sqlite3.DatabaseError:
        return []


def _reset_state(path: str) -> None:
    stamps = _stamps_of(path)
    _remove(path)
    fresh = sqlite3.connect(":memory:", isolation_level=None, uri=True)
    try:
        _attach_state(fresh, path)
        fresh.executemany("INSERT INTO state.stamps VALUES (?, ?)", stamps)
    finally:
        fresh.close()


# -- the state file's migrations ------------------------------------------------------------


def _attach_state(db: sqlite3.Connection, path: str) -> None:
    with _state_damage():
        db.execute("ATTACH DATABASE ? AS state", (_uri(path),))
        db.execute("PRAGMA state.journal_mode=TRUNCATE")  # as the index's: see Index._open
        db.execute("PRAGMA state.synchronous=OFF")
        _migrate(db)


def _migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations the state file has not had, in order, each with its record."""
    db.execute("CREATE TABLE IF NOT EXISTS state.migrations (name TEXT PRIMARY KEY, "
               "applied_at TEXT)")
    applied = {row[0] for row in db.execute("SELECT name FROM state.migrations")}
    for migration in MIGRATIONS:
        if migration.__name__ in applied:
            continue
        # Deferred: an immediate transaction would also make a new index's file, with the
        # default pages, before Index._create could give it larger ones.
        db.execute("BEGIN")
        try:
            migration(db)
            db.execute("INSERT INTO state.migrations VALUES (?, ?)",
                       (migration.__name__, now_iso()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def m001_cursors(db: sqlite3.Connection) -> None:
    """How far each transcript has been read, keyed by path, and the file it was."""
    db.execute("CREATE TABLE state.cursors (path TEXT PRIMARY KEY, offset INTEGER NOT NULL, "
               "size INTEGER, mtime_ns INTEGER, dev INTEGER, ino INTEGER)")


def m002_stamps(db: sqlite3.Connection) -> None:
    """Single values no ledger record holds, by name."""
    db.execute("CREATE TABLE state.stamps (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def m003_kept_from_index_version_3(db: sqlite3.Connection) -> None:
    """Cursors and stamps from an index of version 3, which held them: an upgrade must
    not make the next commit read every transcript again. A damaged old index has none
    to give."""
    try:
        tables = {row[0] for row in db.execute(
            "SELECT name FROM main.sqlite_master WHERE type='table'")}
        if "cursors" in tables and db.execute("PRAGMA main.user_version").fetchone()[0] == 3:
            db.execute("INSERT OR IGNORE INTO state.cursors (path, offset, size, mtime_ns) "
                       "SELECT path, offset, size, mtime_ns FROM main.cursors")
            db.execute("INSERT OR IGNORE INTO state.stamps SELECT name, value FROM main.meta "
                       "WHERE name IN ('last_flush_ns', 'import_inferred_at', "
                       "'import_refs_seen')")
    except sqlite3.DatabaseError:
        pass


def m004_notes_written(db: sqlite3.Connection) -> None:
    """Which commit's note is in git, as of which ledger record: what failed to be written,
    or changed since, is written again (Index.stale_notes)."""
    db.execute("CREATE TABLE state.notes_written (commit_id TEXT PRIMARY KEY, "
               "seq INTEGER NOT NULL)")


def m005_cursor_carry(db: sqlite3.Connection) -> None:
    """What a reader knew at a cursor's offset (see Cursor)."""
    db.execute("ALTER TABLE state.cursors ADD COLUMN carry TEXT")


def m006_agent_files(db: sqlite3.Connection) -> None:
    """The session of each flat-layout agent file, from its first line (see
    Index.agent_file_sessions)."""
    db.execute("CREATE TABLE state.agent_files (path TEXT PRIMARY KEY, "
               "session_id TEXT NOT NULL) WITHOUT ROWID")


# Append only: a change to the state file is a new function here, never an edit of one
# that has run somewhere.
MIGRATIONS = (m001_cursors, m002_stamps, m003_kept_from_index_version_3, m004_notes_written,
              m005_cursor_carry, m006_agent_files)


def _agent_dir_stamp(directory: str) -> str:
    return f"agent_dir:{directory}"


# With _directly_in's values: a path in the dir itself, not in one below it.
_DIRECTLY_IN = "instr(substr(path, ?), ?) = 0"


def _directly_in(directory: str) -> tuple[str, str, int, str]:
    """The values of `path > ? AND path < ? AND _DIRECTLY_IN` for the files directly in
    `directory`: the bounds of every path below it, then no separator after its own."""
    low = directory.rstrip(os.sep) + os.sep
    return low, _after_prefix(low), len(low) + 1, os.sep


def _chunks(values: Sequence[str]) -> Iterator[tuple[Sequence[str], str]]:
    """`values` in slices small enough to bind (SQLite allows 999 parameters before
    3.32), each with its placeholders for `IN (...)`."""
    for start in range(0, len(values), _MAX_PARAMETERS):
        chunk = values[start:start + _MAX_PARAMETERS]
        yield chunk, ",".join("?" * len(chunk))



def _after_prefix(prefix: str) -> str:
    """The first text after every text that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)



def _counts(record: Record) -> list[int]:
    """A record's counts, checked first: one at or above MAX_COUNT would make the sums of
    every report overflow, so the line counts as invalid instead. A missing one is 0."""
    counts = [record.get(name) or 0 for name in USAGE_FIELDS]
    for count in counts:
        if count.__class__ is not int or not 0 <= count < MAX_COUNT:
            raise ValueError(f"not a token count: {count!r}")
    return counts


def _texts(*values: Any) -> tuple[Any, ...]:
    """Values bound as TEXT, checked first: SQLite refuses a list or an object, and an
    error there would stop every later fold at that ledger line, not count it invalid."""
    for value in values:
        if not _is_text(value):
            raise TypeError(f"text expected, not {type(value).__name__}")
    return values


def _is_text(value: object) -> bool:
    return value is None or value.__class__ is str


def _attribution_of(record: Record) -> tuple[str, str]:
    return str(record["commit"]), str(record.get("how") or "observed")


def _applies(attribution: Record) -> bool:
    """Whether folding this attribution record would apply it (see _apply and
    _apply_attribution): a premerge must not take one that the fold would skip."""
    version = attribution.get("v")
    return isinstance(version, int) and version <= SCHEMA_VERSION \
        and isinstance(attribution.get("commit"), str) \
        and isinstance(attribution.get("keys"), list) \
        and _is_text(attribution.get("worktree")) and _is_text(attribution.get("at"))


def _attributions_ahead(requested: set[object],
                        records: Sequence[Record]) -> dict[str, tuple[str, str]]:
    """Requests of this batch (`requested` ones first) that an attribution after them in
    the batch takes, with its (commit, how): the first one, as folding one by one would
    give. None when a rewrite is in the batch: it could move a commit between the two."""
    ahead: dict[str, tuple[str, str]] = {}
    for record in records:
        kind = record.get("kind")
        if kind == "rewrite":
            return {}
        if kind == "request":
            requested.add(record.get("key"))
        elif kind == "attribution" and _applies(record):
            commit = _attribution_of(record)
            for key in record["keys"]:
                if key in requested and isinstance(key, str):
                    ahead.setdefault(key, commit)
    return ahead


def _request_row(row: Sequence[Any], seq: int, commit: tuple[str | None, str | None]
                 ) -> tuple[Any, ...]:
    """A request's values in REQUEST_FIELDS' order as the `requests` table's row."""
    return (*row, seq, *commit, evidence_of(row[_VIA], commit[1]), None, None)


_HANDLERS = {
    "request": Index._apply_request,
    "estimate": Index._apply_estimate,
    "correction": Index._apply_correction,
    "session": Index._apply_session,
    "attribution": Index._apply_attribution,
    "rewrite": Index._apply_rewrite,
    "agent_commit": Index._apply_agent_commit,
    "settlement": Index._apply_settlement,
    "drop": Index._apply_drop,
}
