"""The rows of `tokentag report` for one repository, each grouping from the function that
answers it: the ledger's groupings (report.rows), work items (report.workitems), commits
and release tags as `release` reads them, ledger first, then git notes (history). The
command and the dashboard both gather here, so the page shows what the command prints.

A repository without a ledger has only what its notes say (commits and tags), and gets
no tokentag dir made by a report. The configuration is read only by the groupings that
need a pattern from it (tag, task), late, as the rate book reads it: a report by day
loads no settings, and none of the modules (releases, pydantic) only others need.
"""

from __future__ import annotations

import os

from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.ledger.store import Store
from tokentag.report import rows
from tokentag.report.costs import Totals
from tokentag.report.grouping import Pricer
from tokentag.report.ratebook import RateBook
from tokentag.report.rows import ReportRow
from tokentag.report.zones import Zone

REPOSITORY = "repository"  # one row per repository (report --all-repos without --by)
WORK_ITEM_KEYS = ("task", "author", "pr")  # report.workitems', imported only for them


def gather(worktree: Worktree, by: str, filters: Filters, zone: Zone,
           repository: str | None = None) -> list[ReportRow]:
    """The rows of `report --by <by>` in one repository, in no particular order (see
    rows.ordered); `repository` labels them for a report across repositories."""
    store = Store.of(worktree)
    book = RateBook(worktree.top, store.directory)
    if os.path.exists(store.ledger_path):
        with store.reading() as index:
            found = _rows(worktree, index, by, filters, zone, book.priced)
    else:
        found = _rows(worktree, None, by, filters, zone, book.priced) \
            if by in ("commit", "tag") else []
    book.save()
    for row in found:
        row.repository = repository
    if by != REPOSITORY or not found:
        return found
    return [ReportRow(repository or worktree.top, _merged(found), repository)]


def _rows(worktree: Worktree, index: Index | None, by: str, filters: Filters, zone: Zone,
          pricer: Pricer) -> list[ReportRow]:
    if by in ("commit", "tag"):
        from tokentag.release import history  # releases load pydantic: only for these
        from tokentag.setup import config

        pattern = config.load(worktree.top).tag_pattern
        if by == "tag":
            return rows.rows_of(history.by_tag(worktree, index, filters, pricer, pattern))
        figures = history.by_commit(worktree, index, filters, pricer, pattern)
        return [ReportRow(commit, models, None, figures.infos.get(commit),
                          commit in figures.from_notes)
                for commit, models in figures.by_model.items()]
    assert index is not None
    if by in WORK_ITEM_KEYS:
        from tokentag.report import workitems
        from tokentag.setup import config

        pattern = config.load(worktree.top).task_pattern
        return rows.rows_of(workitems.by_model(worktree, index, by, filters, pricer, pattern))
    return rows.ledger_rows(index, "model" if by == REPOSITORY else by, filters, pricer, zone)


def _merged(found: list[ReportRow]) -> dict[str, Totals]:
    """One repository's rows (one per model) as one row's models."""
    return {row.key: row.totals for row in found}
