"""Totals over the index: by session, model, branch, period or commit, with costs.

Costs are computed per group of requests that share model, day and prompt-size band:
within such a group every request has the same per-token prices, so pricing the
group's sums equals summing the requests' prices, and a report over a million
requests costs one price lookup per group instead of a million.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tokentag.core.errors import TokentagError
from tokentag.ledger.filters import Filters, normalise_time
from tokentag.ledger.index import Index
from tokentag.ledger.reads import GROUPINGS
from tokentag.report import costs
from tokentag.report.costs import PriceGroup, Totals

__all__ = ["GROUP_KEYS", "Filters", "Pricer", "by_model", "normalise_time"]

GROUP_KEYS = GROUPINGS  # what `report --by` can name, besides tag
# Prices one group: costs.priced with the configured overrides, or a RateBook's.
Pricer = Callable[[PriceGroup], Totals]
ByModel = dict[str, dict[str, Totals]]  # group key -> model -> totals


def by_model(index: Index, by: str, filters: Filters, pricer: Pricer,
             shifts: Sequence[tuple[str | None, int]] = ()) -> ByModel:
    """Totals per value of `by` (a GROUP_KEYS name) and model, in no particular order;
    periods in the zone whose offsets `shifts` gives (see Reads.price_groups_by)."""
    if by not in GROUP_KEYS:
        raise TokentagError(f"cannot group by {by!r}; choose one of {', '.join(GROUP_KEYS)}")
    groups: ByModel = {}
    for key, row in index.reads.price_groups_by(by, filters, shifts):
        group = costs.group_from_row(row)
        groups.setdefault(key, {}).setdefault(group.model, Totals.empty()).add(pricer(group))
    return groups
