"""Spikes: a commit, day or session that cost far more than the ones just before it.

An item is a spike when it cost more than `factor` times the median of the `window` items
before it in time, given at least MIN_HISTORY of them: a median, not a mean, so one spike
does not hide the next. Costs are compared in dollars; where the item or one of those
before it has no known price, in tokens (an unknown price is not zero).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.report.costs import Totals

MIN_HISTORY = 3  # fewer items before it and there is no telling what is usual
SPIKE_GROUPS = ("commit", "day", "session")  # what `report --by` flags


class SpikeRule(BaseModel):
    """`[spikes]` in the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: float = Field(default=3.0, gt=1)
    window: int = Field(default=10, ge=MIN_HISTORY)


@dataclass(frozen=True)
class Spike:
    ratio: float  # the item's cost over the median
    median: float  # of the items before it, in `measure`
    measure: str  # "cost_usd" or "tokens"
    history: int  # how many items the median is of

    def as_json(self) -> dict[str, Any]:
        return {"ratio": round(self.ratio, 2), "median": self.median, "measure": self.measure,
                "history": self.history}

    def text(self) -> str:
        return f"{self.ratio:.1f}x median"


def flag(series: Sequence[tuple[str, Totals]], rule: SpikeRule | None = None
         ) -> dict[str, Spike]:
    """The spikes among `series`, oldest item first, by key."""
    rule = rule or SpikeRule()
    found: dict[str, Spike] = {}
    for place, (key, totals) in enumerate(series):
        before = [t for _, t in series[max(0, place - rule.window):place]]
        if len(before) < MIN_HISTORY:
            continue
        spike = _spike(totals, before, rule.factor)
        if spike is not None:
            found[key] = spike
    return found


def _spike(totals: Totals, before: Sequence[Totals], factor: float) -> Spike | None:
    priced = all(t.cost_usd is not None for t in (totals, *before))
    measure = "cost_usd" if priced else "tokens"
    value = _value(totals, priced)
    median = statistics.median(_value(t, priced) for t in before)
    if median <= 0 or value <= factor * median:
        return None
    return Spike(value / median, round(median, 6), measure, len(before))


def _value(totals: Totals, priced: bool) -> float:
    return float(totals.cost_usd or 0.0) if priced else float(totals.usage.total)


def in_report(index: Index, by: str, groups: Mapping[str, Totals], filters: Filters,
              rule: SpikeRule | None = None) -> dict[str, Spike] | None:
    """The spikes among a report's rows; None for a grouping that is not flagged."""
    if by not in SPIKE_GROUPS:
        return None
    return flag(in_time_order(groups, index.first_seen_by(by, filters)), rule)


def in_time_order(groups: Mapping[str, Totals], first_seen: Mapping[str, str]
                  ) -> list[tuple[str, Totals]]:
    """The groups a time is known for, oldest first; placeholders such as `(pending)` or
    `(none)` are no commit, day or session of their own and are left out."""
    timed = [(first_seen[key], key) for key in groups
             if key in first_seen and not key.startswith("(")]
    return [(key, groups[key]) for _, key in sorted(timed)]
