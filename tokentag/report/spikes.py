"""Spikes: a commit, day or session that cost far more than the ones just before it.

An item is a spike when it cost more than `factor` times the median of the `window` items
before it in time, given at least MIN_HISTORY of them: a median, not a mean, so one spike
does not hide the next. Costs are compared in dollars; where the item or one of those
before it has no known price, in tokens (an unknown price is not zero).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `report --by day` flags spikes: kept light, no pydantic
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.filters import Filters
    from tokentag.report.costs import Totals
    from tokentag.report.rows import Report

MIN_HISTORY = 3  # fewer items before it and there is no telling what is usual
SPIKE_GROUPS = ("commit", "day", "session")  # what `report --by` flags


@dataclass(frozen=True)
class SpikeRule:
    """What counts as a spike: more than `factor` times the median of the `window` items
    before it (`[spikes]` in the configuration, validated there)."""

    factor: float = 3.0
    window: int = 10


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
    median = _median([_value(t, priced) for t in before])
    if median <= 0 or value <= factor * median:
        return None
    return Spike(value / median, round(median, 6), measure, len(before))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _value(totals: Totals, priced: bool) -> float:
    return float(totals.cost_usd or 0.0) if priced else float(totals.usage.total)


def in_report(worktree: Worktree, report: Report, filters: Filters,
              rule: SpikeRule | None = None) -> dict[str, Spike] | None:
    """The spikes among a report's rows; None for a grouping that is not flagged. Days
    and commits are in time order already; sessions go by their first request."""
    from tokentag.ledger.store import Store
    from tokentag.report import rows

    if report.by not in SPIKE_GROUPS:
        return None
    if report.by == "session":
        with Store.of(worktree).reading() as index:
            began = index.reads.first_seen_by("session", filters)
        dated = sorted((began[row.key], row.key) for row in report.rows if row.key in began)
        totals = {row.key: row.totals for row in report.rows}
        return flag([(key, totals[key]) for _, key in dated if not key.startswith("(")], rule)
    ordered = rows.ordered(list(report.rows), report.by, "asc")
    return flag([(row.key, row.totals) for row in ordered
                 if not row.timeless and (report.by != "commit" or row.commit is not None)],
                rule)


def marked(report_json: dict[str, Any], flagged: Mapping[str, Spike] | None
           ) -> dict[str, Any]:
    """`report --json` with each row's spike (null for none) where its grouping is
    flagged at all (`flagged` not None)."""
    if flagged is not None:
        for row in report_json["rows"]:
            spike = flagged.get(row["key"])
            row["spike"] = spike.as_json() if spike is not None else None
    return report_json
