"""The append-only JSONL ledger: one record per line, written whole, read tolerantly.

Every writer holds an exclusive `flock` while it appends, and appends a batch of
records with a single `write`, so concurrent hooks never interleave lines. A writer
killed mid-write can leave a torn last line; the next writer ends it with a newline
first, so the torn bytes become one invalid line that readers skip and count.
"""

from __future__ import annotations

import os

from tokentag.core import fastjson, locking

LEDGER_NAME = "ledger.jsonl"
LOCK_NAME = "lock"

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any

    from _typeshed import StrPath

    from tokentag.ledger.records import LedgerRecord

    # A line read back: any JSON object with a `kind`, not checked against the schema.
    Record = dict[str, Any]


def encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON lines: the ledger is read far more often by machines than people."""
    return b"".join(map(encode_line, records))


def encode_line(record: Mapping[str, Any]) -> bytes:
    return fastjson.dumps(record).encode() + b"\n"


def locked(directory: StrPath, timeout: float | None = None) -> locking.HeldLock:
    """Hold the repository's tokentag lock: all ledger and index writes happen inside."""
    return locking.locked(os.path.join(os.fspath(directory), LOCK_NAME), timeout)


def append(ledger: StrPath, records: Sequence[LedgerRecord]) -> None:
    """Append records with one write. Call with the lock held."""
    if records:
        append_encoded(ledger, encode(records))


def append_encoded(ledger: StrPath, data: bytes) -> None:
    """Append what `encode` made of some records (import makes it in its reading
    processes) with one write. Call with the lock held."""
    try:
        fd = os.open(ledger, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:  # the repository's first record: list it for --all-repos
        from tokentag.core import repolist

        fd = os.open(ledger, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        repolist.remember(os.path.dirname(os.path.dirname(os.path.abspath(ledger))))
    try:
        if _ends_torn(fd):
            data = b"\n" + data
        written = os.write(fd, data)
        while written < len(data):  # only on a full disk or a signal; still under the lock
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def _ends_torn(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_records(ledger: StrPath, offset: int = 0) -> Iterator[tuple[Record | None, int]]:
    """Yield (record, offset after its line) for each complete line from `offset`.

    An unparsable line yields None so callers can count it; a last line without its
    newline is not yielded at all (it is torn, or still being written).
    """
    try:
        handle = open(ledger, "rb")  # noqa: SIM115 - closed below; a missing ledger is empty
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for line in handle:
            if not line.endswith(b"\n"):
                return
            position += len(line)
            yield _decode(line), position


def _decode(line: bytes) -> Record | None:
    try:
        record = fastjson.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return None
    return record
