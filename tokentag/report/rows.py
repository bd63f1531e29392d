"""The rows of `tokentag report`, in the order a person reads them, and their JSON.

Days, weeks and months are the report zone's and come in date order; commits in the
order they were committed; releases in release order; sessions, models, branches and
agents largest first. Rows that are not a point in time (pending requests, commits no
longer in history) come last whatever the order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from tokentag.git.gitrepo import CommitInfo
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.report import costs, grouping, zones
from tokentag.report.costs import Totals
from tokentag.report.grouping import ByModel, Pricer

PENDING = "(pending)"
NO_COMMIT = "(no commit)"  # estimates recorded under a task, so no commit's
UNTAGGED = "(untagged)"
CHRONOLOGICAL = ("day", "week", "month", "commit", "tag")


@dataclass
class ReportRow:
    key: str
    models: dict[str, Totals]
    repository: str | None = None  # --all-repos: the repository's top directory
    commit: CommitInfo | None = None  # --by commit: what git says of it, if it has it
    from_note: bool = False  # --by commit: figures from the commit's git note

    @cached_property
    def totals(self) -> Totals:
        return costs.overall(self.models.values())

    @property
    def timeless(self) -> bool:
        """Pending requests, estimates of no commit and untagged commits: listed after
        the dated rows."""
        return self.key in (PENDING, NO_COMMIT, UNTAGGED)


@dataclass
class Report:
    by: str
    zone: zones.Zone
    rows: list[ReportRow] = field(default_factory=list)

    @cached_property
    def totals(self) -> Totals:
        return costs.overall(row.totals for row in self.rows)

    def as_json(self, breakdown: bool = False) -> dict[str, Any]:
        """The contract's `{"by", "rows", "totals"}`, the zone its periods are in, and
        per row what the table shows besides: period bounds in UTC, a commit's date,
        author and subject, the repository; with `breakdown`, totals by model."""
        return {"by": self.by, **self.zone.describe(),
                "rows": [self._row_json(row, breakdown) for row in self.rows],
                "totals": self.totals.as_json()}

    def _row_json(self, row: ReportRow, breakdown: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"key": row.key, **row.totals.as_json()}
        if row.repository is not None:
            data["repository"] = row.repository
        bounds = period_bounds(self.by, row.key, self.zone)
        if bounds:
            data["start"], data["end"] = (utc_text(moment) for moment in bounds)
        if self.by == "commit" and not row.timeless:
            info = row.commit
            data.update(date=utc_text(datetime.fromtimestamp(info.committed, UTC))
                        if info else None, author=info.author if info else None,
                        subject=info.subject if info else None,
                        source="git note" if row.from_note else "ledger")
        if breakdown:
            data["by_model"] = [{"model": model, **totals.as_json()}
                                for model, totals in by_cost(row.models)]
        return data


def period_bounds(by: str, key: str, zone: zones.Zone) -> tuple[datetime, datetime] | None:
    """The UTC moments a period row starts and ends at."""
    start = zones.key_start(by, key) if by in zones.PERIODS else None
    if start is None:
        return None
    return zone.start_of(start), zone.start_of(zones.next_period(by, start))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def by_cost(models: dict[str, Totals]) -> list[tuple[str, Totals]]:
    """Models most expensive first (unpriced after priced), then by tokens."""
    return sorted(models.items(), key=lambda kv: (_cost_key(kv[1]), kv[0]))


def _cost_key(totals: Totals) -> tuple[float, int]:
    cost = totals.cost_usd
    return -(cost if cost is not None else -1.0), -totals.usage.total


# -- gathering ----------------------------------------------------------------------------


def ledger_rows(index: Index, by: str, filters: Filters, pricer: Pricer,
                zone: zones.Zone) -> list[ReportRow]:
    """Rows of a grouping the ledger alone answers (not commit or tag); periods in `zone`."""
    shifts: list[tuple[str | None, int]] = []
    if by in zones.PERIODS and zone.tz is not UTC:
        first, last = index.reads.time_span(filters)
        if first and last:
            shifts = zone.shifts(first, last)
    if shifts == [(None, 0)]:  # UTC all along: the index's own day expressions
        shifts = []
    return rows_of(grouping.by_model(index, by, filters, pricer, shifts))


def rows_of(groups: ByModel, repository: str | None = None) -> list[ReportRow]:
    return [ReportRow(key, models, repository) for key, models in groups.items()]


# -- order ----------------------------------------------------------------------------------


def ordered(rows: list[ReportRow], by: str, order: str | None) -> list[ReportRow]:
    """Rows in reading order: `order` "asc" or "desc" overrides the default, which is
    oldest first for points in time and largest first for everything else. Timeless
    rows stay last; with several repositories, rows of one period stay together."""
    descending = order == "desc" if order else by not in CHRONOLOGICAL
    last: list[ReportRow] = []
    dated: list[ReportRow] = []
    for row in rows:  # one pass: `row not in last` compared rows field by field, n x n
        (last if row.timeless or (by == "commit" and row.commit is None) else dated).append(row)
    if by == "tag":  # already in release order, repository by repository
        dated = dated[::-1] if descending else dated
    else:
        key = _sort_key(by)
        dated.sort(key=lambda row: row.repository or "")
        dated.sort(key=key, reverse=descending)
    last.sort(key=lambda row: (row.key == NO_COMMIT, row.key == PENDING, row.key == UNTAGGED,
                               row.repository or ""))
    return dated + last


def _sort_key(by: str) -> Callable[[ReportRow], Any]:
    if by in zones.PERIODS:
        return lambda row: row.key
    if by == "commit":
        return lambda row: (row.commit.committed, row.commit.place) if row.commit else (0, 0)
    return lambda row: row.totals.usage.total
