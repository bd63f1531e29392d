"""One repository's tokentag files: the ledger, its index and state, and the lock around them."""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

from tokentag.core.errors import TokentagError
from tokentag.core.faillog import LOG_NAME
from tokentag.git.gitdirs import Worktree
from tokentag.ledger import jsonl
from tokentag.ledger.index import Index, is_damage, repair

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
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

    @contextmanager
    def writing(self, lock_wait: float | None = None) -> Iterator[Writer]:
        """Lock, bring the index up to date, and hand out a writer for this repository.
        `lock_wait`: at most so many seconds for the lock (LockTimeout), else unbounded."""
        with jsonl.locked(self.directory, lock_wait):
            index = self._current_index()
            try:
                with self._writer(index) as writer:
                    yield writer
            finally:
                index.close()

    @contextmanager
    def writing_to(self, index: Index, lock_wait: float | None = None) -> Iterator[Writer]:
        """`writing` on an index already open (from `reading`): lock, catch it up with what
        others appended meanwhile, write. One open serves a whole hook call."""
        with jsonl.locked(self.directory, lock_wait), self._writer(index) as writer:
            index.catch_up()
            yield writer

    @contextmanager
    def _writer(self, index: Index) -> Iterator[Writer]:
        """A writer on `index`; a file found damaged meanwhile is removed (see repair)."""
        try:
            yield Writer(self, index)
        except BaseException as error:
            if is_damage(error):
                index.close()
                self._remove_damaged(error)
            raise

    @contextmanager
    def reading(self, lock_wait: float | None = None,
                create: bool = False) -> Iterator[Index]:
        """An index brought up to date under the lock, then read without holding it.
        `lock_wait`: at most so many seconds for the lock (LockTimeout), else unbounded.
        Where tokentag never ran (no tokentag dir), an empty index in memory unless the
        caller is about to write (`create`): reading must not leave a dir behind. Where
        the dir is read-only to this process, a copy in memory (see Index.copied)."""
        if not create and not os.path.isdir(self.directory):
            index = Index.empty()
            try:
                yield index
            finally:
                index.close()
            return
        try:
            with jsonl.locked(self.directory, lock_wait):
                index = self._current_index()
        except OSError as error:
            if error.errno not in _READ_ONLY:
                raise
            index = Index.copied(self.directory)
        try:
            yield index
        except BaseException as error:
            if is_damage(error) and os.access(self.directory, os.W_OK):
                index.close()
                with jsonl.locked(self.directory):
                    self._remove_damaged(error)
            raise
        finally:
            index.close()

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


class Writer:
    """Appends to the ledger and folds what it appended, inside `Store.writing`."""

    def __init__(self, store: Store, index: Index) -> None:
        self.store = store
        self.index = index

    def write(self, records: Sequence[LedgerRecord]) -> None:
        jsonl.append(self.store.ledger_path, records)
        self.index.catch_up()
