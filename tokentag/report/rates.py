"""Prices per kind of token, kept so that the status line can price without genai-prices.

Importing genai-prices (and pydantic with it) costs about 0.25 s, 0.6-0.8 s on a busy
machine: more than all else the status line does, after every assistant message. But
within one tier a model's price on a day is linear in five counts: uncached input, output,
cache reads, 5-minute and 1-hour cache writes (Usage.write_split). So a price group costs
those counts times five rates. `refresh` asks pricing, the one place that prices, for the
rates of each model and day (one set per tier), keeps a model's rates only when they price
a mixed usage exactly as pricing does (a price per request, say, would not be linear),
and stores them in `unit-prices.json` in the tokentag dir with a fingerprint of what they
came from: the interpreter, tokentag's pricing, genai-prices' tables and the project's
config files. Anything of those changed, and the file starts afresh.

Reading it (`RateBook`) is lean: no `json`, no `dataclasses` (costs.Totals is one), only
`decimal` beyond what the hook paths import.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from tokentag import __version__
from tokentag.core import fastjson
from tokentag.core.usage import Usage

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

CACHE_NAME = "unit-prices.json"
_MTOK = 1_000_000
# Usages of a million tokens of one kind each, in Usage.write_split's terms: uncached input,
# output, cache reads, 5-minute writes, 1-hour writes. Probing pricing with each gives the
# kind's price per million tokens.
_PROBES = (Usage(input=_MTOK), Usage(output=_MTOK), Usage(cache_read=_MTOK),
           Usage(cache_creation=_MTOK), Usage(cache_creation=_MTOK, cache_creation_1h=_MTOK))
# A usage of every kind at once, in odd amounts: what the rates must price as pricing does.
_MIXED = Usage(input=1_234, output=56_789, cache_creation=20_011, cache_creation_5m=7,
               cache_creation_1h=20_000, cache_read=3_456_789)
_CONFIG_FILES = ("pyproject.toml", ".tokentag.toml")
_UNPRICED = "unpriced"


def counts_of(usage: Usage) -> tuple[int, int, int, int, int]:
    """The five counts a rate applies to, in _PROBES' order."""
    five_minutes, hour = usage.write_split()
    return usage.input, usage.output, usage.cache_read, five_minutes, hour


def cost_at(rates: Sequence[Decimal | str], usage: Usage) -> Decimal:
    """The cost of `usage` at five rates per million tokens, summed as genai-prices sums
    its units: each count times its price, over a million."""
    if len(rates) != len(_PROBES):
        raise ValueError(f"{len(rates)} rates")
    return sum((Decimal(rate) * count / _MTOK for rate, count in zip(rates, counts_of(usage),
                                                                      strict=True)),
               Decimal(0))


def fingerprint(top: str) -> str:
    """What the rates were computed from, as one string that changes with any of it."""
    parts = [sys.prefix, __version__, _stamp(os.path.join(os.path.dirname(__file__),
                                                          "pricing.py"))]
    parts += [_stamp(os.path.join(top, name)) for name in _CONFIG_FILES]
    return "|".join(parts)


def _stamp(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "-"
    return f"{path}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


class RateBook:
    """The stored rates: per model and day, the tier starts and one set of five rates per
    tier (or `unpriced`)."""

    def __init__(self, path: str, stamp: str, entries: dict[str, Any] | None = None) -> None:
        self.path = path
        self.fingerprint = stamp
        self.entries: dict[str, Any] = entries or {}

    @classmethod
    def load(cls, directory: str, top: str) -> RateBook:
        """The book in `directory`; an empty one when it is missing, unreadable or was
        made from other prices (see fingerprint)."""
        path = os.path.join(directory, CACHE_NAME)
        stamp = fingerprint(top)
        try:
            with open(path, "rb") as handle:
                data = fastjson.loads(handle.read())
        except (OSError, ValueError):
            return cls(path, stamp)
        if not isinstance(data, dict) or data.get("fingerprint") != stamp \
                or data.get("genai_prices") != _stamp(str(data.get("genai_prices_file"))) \
                or not isinstance(data.get("entries"), dict):
            return cls(path, stamp)
        return cls(path, stamp, data["entries"])

    def cost(self, model: str, day: str, prompt: int, usage: Usage) -> Decimal | None:
        """What `usage` of a price group (model, day, largest prompt) costs, as
        costs.priced prices it; None for a model without a known price. KeyError when the
        book lacks the model's rates for that day (or holds a damaged entry)."""
        entry = self.entries[_key(model, day)]
        if entry == _UNPRICED:
            return None
        try:
            tier = sum(1 for start in entry["starts"] if prompt > start)
            return cost_at(entry["rates"][tier], usage)
        except (IndexError, TypeError, ValueError, ArithmeticError) as error:
            raise KeyError(f"damaged rates of {model} on {day}: {error}") from None

    def missing(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Those (model, day) whose rates are not here."""
        return sorted(pair for pair in set(pairs) if _key(*pair) not in self.entries)


def _key(model: str, day: str) -> str:
    return f"{model}\x00{day}"


# -- computing rates: pricing and genai-prices are imported here, on first need -----------


def refresh(book: RateBook, pairs: Iterable[tuple[str, str]],
            prices: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """Add the rates of each (model, day) to the book and store it; returns the pairs
    whose prices are not linear (they stay with pricing). `prices` are the configured
    overrides, which the fingerprint's config files hold."""
    from pathlib import Path

    import genai_prices.data

    from tokentag.core.fileio import write_atomic

    nonlinear = []
    for model, day in pairs:
        entry = _entry(model, day, prices)
        if entry is None:
            nonlinear.append((model, day))
        else:
            book.entries[_key(model, day)] = entry
    library = genai_prices.data.__file__
    data = {"fingerprint": book.fingerprint, "genai_prices_file": library,
            "genai_prices": _stamp(library), "entries": book.entries}
    write_atomic(Path(book.path), fastjson.dumps(data).encode())
    return nonlinear


def _entry(model: str, day: str, prices: Mapping[str, Any] | None) -> Any:
    """The rates of a model on a day, `unpriced`, or None when five rates cannot price it."""
    from tokentag.report import costs, pricing

    when = costs.day_noon(day)
    if pricing.price_group(model, when, _PROBES[0], 0, prices) is None:
        return _UNPRICED
    starts = pricing.tier_starts(model, when, prices)
    tiers = []
    for prompt in (0, *(start + 1 for start in starts)):
        found = [pricing.price_group(model, when, probe, prompt, prices) for probe in _PROBES]
        rates = [rate for rate in found if rate is not None]
        if len(rates) != len(found) or cost_at(rates, _MIXED) != pricing.price_group(
                model, when, _MIXED, prompt, prices):
            return None
        tiers.append([str(rate) for rate in rates])
    return {"starts": list(starts), "rates": tiers}
