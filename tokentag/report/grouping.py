"""Totals over the index: by session, model, branch, period or commit, with costs.

Costs are computed per group of requests that share model, day and prompt-size band:
within such a group every request has the same per-token prices, so pricing the
group's sums equals summing the requests' prices, and a report over a million
requests costs one price lookup per group instead of a million.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentag.core.errors import TokentagError
from tokentag.ledger.filters import Filters, normalise_time
from tokentag.ledger.index import GROUPINGS, Index
from tokentag.report import costs
from tokentag.report.costs import Totals

__all__ = ["GROUP_KEYS", "Filters", "grouped_totals", "normalise_time", "overall"]

GROUP_KEYS = GROUPINGS  # what `report --by` can name, besides tag


def grouped_totals(index: Index, by: str, filters: Filters | None = None,
                   prices: Mapping[str, Any] | None = None) -> dict[str, Totals]:
    """Totals per value of `by` (a GROUP_KEYS name), largest first."""
    if by not in GROUP_KEYS:
        raise TokentagError(f"cannot group by {by!r}; choose one of {', '.join(GROUP_KEYS)}")
    groups: dict[str, Totals] = {}
    for key, row in index.price_groups_by(by, filters or Filters()):
        groups.setdefault(key, Totals.empty()).add(costs.priced(costs.group_from_row(row),
                                                                prices))
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1].usage.total, kv[0])))


def overall(groups: Mapping[str, Totals]) -> Totals:
    return costs.overall(groups.values())
