"""One repository's tokentag files: the ledger, its index and state, and the lock around them."""

from __future__ import annotations

import errno
import os

from tokentag.core.errors import TokentagError
from tokentag.core.faillog import LOG_NAME
from tokentag.git.gitdirs import Worktree
from tokentag.ledger import jsonl
from tokentag.ledger.index import Index, is_damage, repair

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

    from _typeshed import StrPath

    from tokentag.ledger.records import LedgerRecord


# What opening the lock file for writing raises where this process may only read.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class Store:
    """`<git common dir>/tokentag/`: shared by every worktree, never in the working tree."""

    def __init__(self, directory: StrPath) -> None:
        self.directory = os.fspath(directory)
        self.ledger_path = os.path.join(directory, jsonl.LEDGER_NAME)
        self.log_path = os.path.join(directory, LOG_NAME)

    @classmethod
    def of(cls, worktree: Worktree) -> Store:
        return cls(worktree.tokentag_dir)

    def writing(self, lock_wait: float | None = None) -> _Writing:
        """Lock, bring the index up to date, and hand out a writer for this repository.
        `lock_wait`: at most so many seconds for the lock (LockTimeout), else unbounded."""
        return _Writing(self, lock_wait, None)

    def writing_to(self, index: Index, lock_wait: float | None = None) -> _Writing:
        """`writing` on an index already open (from `reading`): lock, catch it up with what
        others appended meanwhile, write. One open serves a whole hook call."""
        return _Writing(self, lock_wait, index)

    def reading(self, lock_wait: float | None = None, create: bool = False) -> _Reading:
        """An index brought up to date under the lock, then read without holding it.
        `lock_wait`: at most so many seconds for the lock (LockTimeout), else unbounded.
        Where tokentag never ran (no tokentag dir), an empty index in memory unless the
        caller is about to write (`create`): reading must not leave a dir behind. Where
        the dir is read-only to this process, a copy in memory (see Index.copied)."""
        return _Reading(self, lock_wait, create)

    def _open_for_reading(self, lock_wait: float | None) -> Index:
        """The index `reading` hands out where the tokentag dir exists (or is to be made)."""
        try:
            with jsonl.locked(self.directory, lock_wait):
                return self._current_index()
        except OSError as error:
            if error.errno not in _READ_ONLY:
                raise
            return Index.copied(self.directory)

    def _current_index(self) -> Index:
        """The index with every ledger record folded in. Call with the lock held. A file
        found damaged meanwhile is removed and made again (the index from the whole ledger)."""
        try:
            return self._caught_up_index()
        except BaseException as error:
            if not is_damage(error):
                raise
            repair(self.directory, error)
            return self._caught_up_index()

    def _caught_up_index(self) -> Index:
        index = Index(self.directory)
        try:
            index.catch_up()
        except BaseException:
            index.close()
            raise
        return index

    def _remove_damaged(self, error: BaseException) -> NoReturn:
        """A file found damaged in use is removed, so the next use starts it afresh; what
        was being done fails once, with a message that says so. Hold the lock."""
        repair(self.directory, error)
        raise TokentagError(f"{self.directory}: {error}; removed the damaged file, which is "
                            "made again on the next run (nothing recorded is lost)") from error


# `with store.writing()` and `with store.reading()` are classes: no contextlib on the hook
# paths (see tokentag/__init__.py).


class _Writing:
    """The lock, an index caught up under it (opened here, or the caller's), and a writer
    on it. A file found damaged meanwhile is removed (see Store._remove_damaged)."""

    def __init__(self, store: Store, lock_wait: float | None, index: Index | None) -> None:
        self._store = store
        self._lock = jsonl.locked(store.directory, lock_wait)
        self._given = index
        self._index = index

    def __enter__(self) -> Writer:
        self._lock.__enter__()
        try:
            if self._given is None:
                self._index = self._store._current_index()
            else:
                self._given.catch_up()
        except BaseException as error:
            self._end(error)
            raise
        return Writer(self._store, self._writing_index())

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self._end(error)

    def _writing_index(self) -> Index:
        assert self._index is not None  # set by __enter__
        return self._index

    def _end(self, error: BaseException | None) -> None:
        try:
            if error is not None and self._index is not None and is_damage(error):
                self._index.close()
                self._store._remove_damaged(error)
        finally:
            try:
                if self._given is None and self._index is not None:
                    self._index.close()
            finally:
                self._lock.__exit__()


class _Reading:
    """An index to read, closed at the end; one found damaged meanwhile is removed."""

    def __init__(self, store: Store, lock_wait: float | None, create: bool) -> None:
        self._store = store
        self._lock_wait = lock_wait
        self._create = create
        self._on_disk = False  # an index in memory where tokentag never ran: nothing to repair
        self._index: Index | None = None

    def __enter__(self) -> Index:
        self._on_disk = self._create or os.path.isdir(self._store.directory)
        self._index = self._store._open_for_reading(self._lock_wait) if self._on_disk \
            else Index.empty()
        return self._index

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        assert self._index is not None  # set by __enter__
        directory = self._store.directory
        try:
            if error is not None and self._on_disk and is_damage(error) \
                    and os.access(directory, os.W_OK):
                self._index.close()
                with jsonl.locked(directory):
                    self._store._remove_damaged(error)
        finally:
            self._index.close()


class Writer:
    """Appends to the ledger and folds what it appended, inside `Store.writing`."""

    def __init__(self, store: Store, index: Index) -> None:
        self.store = store
        self.index = index

    def write(self, records: Sequence[LedgerRecord]) -> None:
        jsonl.append(self.store.ledger_path, records)
        self.index.catch_up()
