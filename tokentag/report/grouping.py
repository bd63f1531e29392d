"""Totals over the index: by session, model, branch, period or commit, with costs.

Costs are computed per group of requests that share model, day and prompt-size band:
within such a group every request has the same per-token prices, so pricing the
group's sums equals summing the requests' prices, and a report over a million
requests costs one price lookup per group instead of a million.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentag.core.errors import TokentagError
from tokentag.ledger.index import PRICE_GROUP_BY, PRICE_GROUP_COLUMNS, Index
from tokentag.report import costs
from tokentag.report.costs import Totals

GROUP_KEYS: dict[str, str] = {
    "session": "session_id",
    "model": "model",
    "branch": "coalesce(branch, '(none)')",
    "day": "substr(ts, 1, 10)",
    "week": "date(substr(ts, 1, 10), '-6 days', 'weekday 1')",
    "month": "substr(ts, 1, 7)",
    "commit": "coalesce(commit_id, '(pending)')",
    "agent": "coalesce(agent_id, '(main)')",
}


@dataclass(frozen=True)
class Filters:
    """Which requests a report or log covers."""

    since: str | None = None
    until: str | None = None
    session: str | None = None
    model: str | None = None
    branch: str | None = None
    agent: str | None = None
    state: str | None = None  # "pending" or "committed"
    commits: Sequence[str] | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("session_id", self.session), ("model", self.model),
                              ("branch", self.branch), ("agent_id", self.agent)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since:
            clauses.append("ts >= ?")
            params.append(normalise_time(self.since))
        if self.until:
            clauses.append("ts < ?")
            params.append(normalise_time(self.until, end=True))
        if self.state == "pending":
            clauses.append("commit_id IS NULL")
        elif self.state == "committed":
            clauses.append("commit_id IS NOT NULL")
        if self.commits is not None:
            clauses.append(f"commit_id IN ({','.join('?' * len(self.commits))})")
            params.extend(self.commits)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def normalise_time(text: str, end: bool = False) -> str:
    """`2026-02-10` or an ISO time, as the UTC string form transcripts use. A bare date
    as the end of a range includes that whole day."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if end and len(text) == 10:
            moment += timedelta(days=1)
        moment = moment.astimezone(UTC)
    except ValueError:
        raise TokentagError(f"not a date or time: {text!r} (use YYYY-MM-DD or ISO 8601)") from None
    except OverflowError:  # 9999-12-31 as an end has no next day
        raise TokentagError(f"date out of range: {text!r}") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def grouped_totals(index: Index, by: str, filters: Filters = Filters(),
                   prices: Mapping[str, Any] | None = None) -> dict[str, Totals]:
    """Totals per value of `by` (a GROUP_KEYS name), largest first."""
    if by not in GROUP_KEYS:
        raise TokentagError(f"cannot group by {by!r}; choose one of {', '.join(GROUP_KEYS)}")
    where, params = filters.where()
    rows = index.query(f"SELECT {GROUP_KEYS[by]} AS k, {PRICE_GROUP_COLUMNS} FROM requests"
                       f"{where} GROUP BY k, {PRICE_GROUP_BY}", params)
    groups: dict[str, Totals] = {}
    for row in rows:
        group = costs.group_from_row(row)
        groups.setdefault(str(row["k"]), Totals.empty()).add(costs.priced(group, prices))
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1].usage.total, kv[0])))


def overall(groups: Mapping[str, Totals]) -> Totals:
    return costs.overall(groups.values())
