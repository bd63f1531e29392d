"""Writes what the readers found: batches of new requests and corrections, deduplicated
against the index under the repository lock, with the cursors that may move after them.
Then, once every request is in, what depends on them all: progress copies of subagent
requests no file held, and the reconciliation of sessions' running totals (see
capture.reconcile); the cursors of those files move only after it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokentag.capture import reconcile
from tokentag.core.timefmt import now_iso
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.importer.discovery import Job, Plan
from tokentag.importer.options import Summary
from tokentag.importer.reader import FileScan
from tokentag.ledger import jsonl, records
from tokentag.ledger.index import Cursor, Index
from tokentag.ledger.records import REQUEST_FIELDS, request_from_row
from tokentag.ledger.store import Store, Writer

if TYPE_CHECKING:
    from tokentag.importer.inference import Inference
    from tokentag.ledger.records import CorrectionRecord, LedgerRecord

# Requests held in memory before they go to the ledger: bounds memory and how long one
# write holds the lock that live hooks wait on.
BATCH_REQUESTS = 5_000
IDLE_BATCH_REQUESTS = 500  # ... and when the readers have nothing ready, if at least this many


@dataclass
class Batch:
    """Records read but not yet in the ledger, and the cursors that may move after them."""

    # key -> (index row, ledger line); no line once two files' counts were merged.
    requests: dict[str, tuple[Row, bytes | None]] = field(default_factory=dict)
    cursors: list[tuple[Job, int, str | None]] = field(default_factory=list)


class Importer:
    """Takes each file's scan and writes the records in batches, dedup'd against the index."""

    def __init__(self, import_plan: Plan, summary: Summary, inference: Inference) -> None:
        self.summary, self.inference = summary, inference
        self.store = Store.of(import_plan.worktree)
        self.batch = Batch()
        self.deferred: list[FileScan] = []  # scans with copies or a reading (see finish)

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
        if scan.deferred:
            self.deferred.append(scan)
        elif not scan.out_of_range:  # a cursor means: all before it is in the ledger
            self.batch.cursors.append((scan.job, scan.end, scan.carry))
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
            written: list[LedgerRecord] = [*corrections, *self.inference.records(
                (row[0], row[_WORKTREE], row[_BRANCH], row[_TS]) for row in rows)]
            data = b"".join(line or jsonl.encode_line(request_from_row(row)) for row, line in new)
            append(writer, written, data + jsonl.encode(written), rows)
            writer.index.set_cursors([(job.path, Cursor.at(end, job.stat, carry), job.restart)
                                      for job, end, carry in batch.cursors])

    def finish(self) -> None:
        """The last batch, then what waits for every request of the import: the progress
        copies no file had, the readings of running totals, and those files' cursors."""
        self.flush()
        deferred, self.deferred = self.deferred, []
        if not deferred:
            return
        with self.store.writing() as writer:
            self._write_copies(writer, deferred)
            for scan in deferred:
                if scan.reading is not None:
                    self._reconcile(writer, scan)
            writer.index.set_cursors([(scan.job.path, Cursor.at(scan.end, scan.job.stat,
                                                                 scan.carry), scan.job.restart)
                                      for scan in deferred if not scan.out_of_range])

    def _write_copies(self, writer: Writer, scans: list[FileScan]) -> None:
        """Copies of requests the ledger does not know, from a file or another copy."""
        copies = {key: row for scan in scans for key, (row, _) in scan.copies.items()}
        known = writer.index.known_usage(copies)
        rows = [row for key, row in copies.items() if key not in known]
        append(writer, self.inference.records(
            (row[0], row[_WORKTREE], row[_BRANCH], row[_TS]) for row in rows), rows=rows)
        self.summary.progress_copies += len(rows)

    def _reconcile(self, writer: Writer, scan: FileScan) -> None:
        assert scan.reading is not None
        reading, worktree = scan.reading
        found = reconcile.reconciled(writer, reading, worktree, scan.job.path, now_iso(),
                                     records.VIA_IMPORT)
        known = writer.index.known_usage(record["key"] for record in found)
        new = [record for record in found if record["key"] not in known]
        if new:
            writer.write([*new, *self.inference.records(
                (r["key"], r["worktree"], r["branch"], r["ts"]) for r in new)])
        self.summary.reconciled += len(new)

    def _split(self, index: Index, batch: Batch,
               ) -> tuple[list[tuple[Row, bytes | None]], list[CorrectionRecord]]:
        """The requests the ledger lacks, and corrections for those it holds lower counts of."""
        known = index.known_usage(batch.requests)
        new: list[tuple[Row, bytes | None]] = []
        corrections: list[CorrectionRecord] = []
        for key, (row, line) in batch.requests.items():
            before = known.get(key)
            if before is None:
                new.append((row, line))
                continue
            usage = Usage(*row[_USAGE_AT:])
            if before.maximum(usage) != before:
                corrections.append(records.correction(key, row[_CAPTURED_AT], usage))
        self.summary.new += len(new)
        self.summary.known += len(batch.requests) - len(new)
        self.summary.corrected += len(corrections)
        return new, corrections


Row = tuple[Any, ...]  # a request as records.REQUEST_FIELDS orders it
_WORKTREE, _BRANCH, _TS, _CAPTURED_AT = (REQUEST_FIELDS.index(c) for c in (
    "worktree", "branch", "ts", "captured_at"))
_USAGE_AT = REQUEST_FIELDS.index(USAGE_FIELDS[0])


def _merged(held: Row, other: Row) -> Row:
    """One request from two files: the first one's context, the larger counts."""
    return (*held[:_USAGE_AT], *map(max, held[_USAGE_AT:], other[_USAGE_AT:]))


def append(writer: Writer, written: Sequence[LedgerRecord], data: bytes | None = None,
           rows: list[Row] | None = None) -> None:
    """`writer.write` of the requests in `rows` then `written`, but folding them from
    memory when the ledger ends where the index has folded to: reading back and parsing
    what was just encoded would cost a bulk import as much as writing it. `data` is
    their ledger lines, if made already."""
    rows = rows or []
    if not written and not rows:
        return
    index, path = writer.index, writer.store.ledger_path
    if max(_size(path), 0) != index.folded_offset():
        # Torn, or not fully folded: the reading path.
        writer.write([*map(request_from_row, rows), *written])
        return
    jsonl.append_encoded(path, jsonl.encode([*map(request_from_row, rows), *written])
                         if data is None else data)
    index.fold_appended(written, _size(path), rows)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1
