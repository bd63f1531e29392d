"""Per-commit totals: from the local ledger when it knows the commit, else from its note.

Both sources reduce to the same price groups (model, day, prompt band, evidence kind,
summed counts), so a teammate's commit known only through its note is priced exactly as
the ledger would price it, and split by evidence alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from tokentag.core.money import usd
from tokentag.core.timefmt import parse_iso
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.ledger.index import Index
from tokentag.ledger.records import EVIDENCE_KINDS


class PriceGroup(NamedTuple):  # a NamedTuple: a dataclass costs `status` a millisecond
    """Requests of one model on one day in one prompt band, all of one evidence kind: one
    price lookup prices all."""

    model: str
    day: str
    prompt: int
    requests: int
    usage: Usage
    evidence: str


@dataclass
class Totals:
    """Tokens, requests and cost of a set of requests. `cost` covers priced requests only;
    `evidence` splits the total tokens by evidence kind, every kind present (zero when
    none), so the split always sums to `usage.total`."""

    usage: Usage
    requests: int = 0
    cost: Decimal = Decimal(0)
    unpriced_requests: int = 0
    unpriced_models: frozenset[str] = frozenset()
    evidence: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVIDENCE_KINDS, 0))

    @classmethod
    def empty(cls) -> Totals:
        return cls(Usage())

    @classmethod
    def of_group(cls, group: PriceGroup, cost: Decimal | None) -> Totals:
        """A price group's totals at `cost`; None: no price is known for its model."""
        totals = cls(group.usage, group.requests, cost or Decimal(0))
        if cost is None:
            totals.unpriced_requests, totals.unpriced_models = group.requests, \
                frozenset({group.model})
        totals.evidence[group.evidence] = group.usage.total
        return totals

    def add(self, other: Totals) -> None:
        self.usage += other.usage
        self.requests += other.requests
        self.cost += other.cost
        self.unpriced_requests += other.unpriced_requests
        self.unpriced_models |= other.unpriced_models
        for kind, tokens in other.evidence.items():
            self.evidence[kind] = self.evidence.get(kind, 0) + tokens

    @property
    def cost_usd(self) -> float | None:
        """None when nothing could be priced: unknown is not zero."""
        if self.requests and self.unpriced_requests == self.requests:
            return None
        return float(round(self.cost, 6))

    def cost_text(self, partly_marker: str = "*") -> str:
        """The cost as printed everywhere (see core.money)."""
        return usd(self.cost_usd, self.unpriced_requests > 0, partly_marker)

    def evidence_text(self) -> str:
        return evidence_text(self.evidence)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tokens": self.usage.as_totals(), "cost_usd": self.cost_usd,
                                "requests": self.requests, "evidence": dict(self.evidence)}
        if self.unpriced_requests:
            data["unpriced_requests"] = self.unpriced_requests
            data["unpriced_models"] = sorted(self.unpriced_models)
        return data


def evidence_text(evidence: Mapping[str, int]) -> str:
    """An evidence split in one line: each kind present and its tokens."""
    return ", ".join(f"{kind} {tokens:,}" for kind, tokens in evidence.items() if tokens) \
        or "none"


def priced(group: PriceGroup, prices: Mapping[str, Any] | None = None) -> Totals:
    from tokentag.report import (
        pricing,  # genai-prices loads its tables lazily; keep it off the hook
    )

    return Totals.of_group(group, pricing.price_group(group.model, day_noon(group.day),
                                                      group.usage, group.prompt, prices))


def day_noon(day: str) -> datetime:
    moment = parse_iso(day)
    return moment.replace(hour=12) if moment is not None else datetime.now(UTC)


def group_from_row(row: Any) -> PriceGroup:
    """A price group from the index's row or a note's checked group (content.valid_note)."""
    return PriceGroup(str(row["model"]), str(row["day"]), int(row["prompt"]),
                      int(row["requests"]), Usage(*(int(row[f] or 0) for f in USAGE_FIELDS)),
                      str(row["evidence"]))


def index_groups(index: Index, commits: Iterable[str]) -> dict[str, list[PriceGroup]]:
    """Price groups per commit for the commits the ledger knows."""
    return {commit: [group_from_row(row) for row in rows]
            for commit, rows in index.reads.price_groups_of(commits).items()}


def totals_by_model(groups: Iterable[PriceGroup],
                    prices: Mapping[str, Any] | None = None) -> dict[str, Totals]:
    by_model: dict[str, Totals] = {}
    for group in groups:
        by_model.setdefault(group.model, Totals.empty()).add(priced(group, prices))
    return by_model


def overall(parts: Iterable[Totals]) -> Totals:
    total = Totals.empty()
    for part in parts:
        total.add(part)
    return total
