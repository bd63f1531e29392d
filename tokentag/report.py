"""Totals over the index: by session, model, branch, period or commit, with costs.

Costs are computed per group of requests that share model, day and prompt-size band:
within such a group every request has the same per-token prices, so pricing the
group's sums equals summing the requests' prices, and a report over a million
requests costs one price lookup per group instead of a million.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tokentag.errors import TokentagError
from tokentag.index import BAND_SQL, PROMPT_SQL, Index
from tokentag.usage import USAGE_FIELDS, Usage

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


@dataclass
class Totals:
    """Tokens, requests and cost of a set of requests. `cost` covers priced requests only."""

    usage: Usage = field(default_factory=Usage)
    requests: int = 0
    cost: Decimal = Decimal(0)
    unpriced_requests: int = 0
    unpriced_models: set[str] = field(default_factory=set)

    def add(self, other: Totals) -> None:
        self.usage += other.usage
        self.requests += other.requests
        self.cost += other.cost
        self.unpriced_requests += other.unpriced_requests
        self.unpriced_models |= other.unpriced_models

    @property
    def cost_usd(self) -> float | None:
        """None when nothing could be priced: unknown is not zero."""
        if self.requests and self.unpriced_requests == self.requests:
            return None
        return float(round(self.cost, 6))

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tokens": self.usage.as_totals(), "cost_usd": self.cost_usd,
                                "requests": self.requests}
        if self.unpriced_requests:
            data["unpriced_requests"] = self.unpriced_requests
            data["unpriced_models"] = sorted(self.unpriced_models)
        return data


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
    except ValueError:
        raise TokentagError(f"not a date or time: {text!r} (use YYYY-MM-DD or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text) == 10:
        moment += timedelta(days=1)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def grouped_totals(index: Index, by: str, filters: Filters = Filters(),
                   prices: Mapping[str, Any] | None = None) -> dict[str, Totals]:
    """Totals per value of `by` (a GROUP_KEYS name), largest first."""
    if by not in GROUP_KEYS:
        raise TokentagError(f"cannot group by {by!r}; choose one of {', '.join(GROUP_KEYS)}")
    where, params = filters.where()
    sums = ", ".join(f"sum({f})" for f in USAGE_FIELDS)
    rows = index.query(
        f"SELECT {GROUP_KEYS[by]} AS k, model, substr(ts, 1, 10) AS day, "
        f"{BAND_SQL} AS band, max({PROMPT_SQL}) AS prompt, "
        f"count(*) AS n, {sums} FROM requests{where} GROUP BY k, model, day, band", params)
    groups: dict[str, Totals] = {}
    for row in rows:
        groups.setdefault(str(row["k"]), Totals()).add(_priced(row, prices))
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1].usage.total, kv[0])))


def overall(groups: Mapping[str, Totals]) -> Totals:
    total = Totals()
    for totals in groups.values():
        total.add(totals)
    return total


def _priced(row: Any, prices: Mapping[str, Any] | None) -> Totals:
    from tokentag import pricing  # genai-prices loads its tables lazily; keep it off the hook

    usage = Usage(*(int(row[f"sum({f})"]) for f in USAGE_FIELDS))
    when = _day_noon(row["day"])
    cost = pricing.price_group(row["model"], when, usage, int(row["prompt"]), prices)
    if cost is None:
        return Totals(usage, row["n"], Decimal(0), row["n"], {row["model"]})
    return Totals(usage, row["n"], cost)


def _day_noon(day: str) -> datetime:
    try:
        return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)
