"""Per-token prices by model, day and prompt band, kept between runs, so that `status`,
`report` and `log` price what they show without loading genai-prices.

Loading genai-prices costs 200-400 ms here (its data module, its pydantic models, an
HTTP client for updates tokentag never starts): more than the rest of `tokentag status`
together. Within one price group (a model, a day, a prompt band) a price is linear in
five counts: uncached input, output, 5-minute and 1-hour cache writes, cache reads. So
five rates per group price any sum of its requests exactly as `pricing.price_group` does.
They are derived from it, a million tokens of one kind at a time, the first time a
group is priced, and kept in `rates` in the repository's tokentag dir.

The file holds what its rates depend on: the genai-prices data file, tokentag's pricing
code and the two config files (which hold price overrides), each by size and
modification time; when any of them changes, every rate is derived again, and the
configuration is validated at once, so a typo in it is an error on the next command
whether or not it prices anything.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal, InvalidOperation

from tokentag.core import config_files
from tokentag.core.usage import Usage

TYPE_CHECKING = False  # the status line reads rates without `typing` or costs' dataclass
if TYPE_CHECKING:
    from typing import Any

    from tokentag.report.costs import PriceGroup, Totals

RATES_NAME = "rates"
_HEADER = "tokentag-rates-1"
_UNIT = 1_000_000
# One million tokens of each kind, in the order of `counts`.
_UNITS = (Usage(input=_UNIT), Usage(output=_UNIT),
          Usage(cache_creation=_UNIT, cache_creation_5m=_UNIT),
          Usage(cache_creation=_UNIT, cache_creation_1h=_UNIT), Usage(cache_read=_UNIT))
Rates = tuple[Decimal, ...] | None  # None: no known price


def counts(usage: Usage) -> tuple[int, ...]:
    """The five priced counts of `usage`, split as pricing splits cache writes: a total
    larger than its parts is trusted, and what is not known to be 1-hour is 5-minute."""
    writes = max(usage.cache_creation, usage.cache_creation_5m + usage.cache_creation_1h)
    hour = min(usage.cache_creation_1h, writes)
    return usage.input, usage.output, writes - hour, hour, usage.cache_read


def band(prompt: int) -> int:
    """The prompt band the index groups by: tiers start at 100k and 200k tokens."""
    return 2 if prompt > 200_000 else 1 if prompt > 100_000 else 0


class RateBook:
    """The rates of one repository's price groups, read from and saved to its tokentag
    dir (never made by this: a clone without a ledger keeps rates in memory only)."""

    def __init__(self, top: str, tokentag_dir: str) -> None:
        self._top = top
        self._path = os.path.join(tokentag_dir, RATES_NAME)
        self._key = _fingerprint(top)
        self._overrides: Any = None
        loaded = self._load()
        self._changed = loaded is None
        if loaded is None:  # new or changed config files: a typo is an error, once
            self._load_overrides()
        self._rates = loaded or {}

    def priced(self, group: PriceGroup) -> Totals:
        from tokentag.report.costs import Totals

        return Totals.of_group(group, self.cost(group.model, group.day, group.prompt,
                                                group.usage))

    def cost(self, model: str, day: str, prompt: int, usage: Usage) -> Decimal | None:
        """What `usage` of one price group costs; None: no price is known for `model`."""
        rates = self.rates(model, day, prompt)
        if rates is None:
            return None
        return sum((n * r for n, r in zip(counts(usage), rates, strict=True)), Decimal(0))

    def rates(self, model: str, day: str, prompt: int) -> Rates:
        key = f"{model}\t{day}\t{band(prompt)}"
        if key not in self._rates:
            self._rates[key] = self._derive(model, day, prompt)
            self._changed = True
        return self._rates[key]

    def _load_overrides(self) -> Any:
        if self._overrides is None:
            from tokentag.setup import config

            self._overrides = config.load(self._top).prices
        return self._overrides

    def _derive(self, model: str, day: str, prompt: int) -> Rates:
        from tokentag.report import costs, pricing

        prices = pricing.unit_prices(model, costs.day_noon(day), _UNITS, prompt,
                                     self._load_overrides())
        return None if prices is None else tuple(Decimal(price) / _UNIT for price in prices)

    def save(self) -> None:
        """Keep new rates for the next run, if the tokentag dir exists; a failure only
        costs the next run their derivation."""
        if not self._changed or not os.path.isdir(os.path.dirname(self._path)):
            return
        lines = [f"{_HEADER} {self._key}"]
        for key, rates in self._rates.items():
            if "\n" not in key:  # a model name with a line break is priced anew each run
                lines.append(f"{key}\t{'-' if rates is None else ' '.join(map(str, rates))}")
        scratch = f"{self._path}.{os.getpid()}.tmp"
        try:
            with open(scratch, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            os.replace(scratch, self._path)
            self._changed = False
        except OSError:
            _remove_quietly(scratch)

    def _load(self) -> dict[str, Rates] | None:
        """The kept rates, None when there are none for the files as they are now. Text,
        not JSON: `status` does not otherwise import `json`."""
        try:
            with open(self._path, encoding="utf-8") as handle:
                header, *lines = handle.read().splitlines()
            if header != f"{_HEADER} {self._key}":
                return None
            rates: dict[str, Rates] = {}
            for line in lines:
                key, _, values = line.rpartition("\t")
                rates[key] = None if values == "-" else tuple(map(Decimal, values.split()))
            return rates
        except (OSError, ValueError, InvalidOperation):
            return None  # none yet, or unreadable: derived again


def _fingerprint(top: str) -> str:
    """Each file the rates depend on, with its size, modification time and inode."""
    here = os.path.dirname(os.path.abspath(__file__))
    files = [_prices_data_file(), os.path.join(here, "pricing.py"),
             os.path.join(here, "ratebook.py"), *config_files.paths(top)]
    return " ".join(f"{path!r}:{_stat(path)}" for path in files)


def _prices_data_file() -> str:
    """genai-prices' price tables, found as the import system would, without importing."""
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "genai_prices", "data.py")
        if os.path.isfile(candidate):
            return candidate
    return ""


def _stat(path: str) -> str:
    try:
        found = os.stat(path)
    except OSError:
        return "-"
    return f"{found.st_size},{found.st_mtime_ns},{found.st_ino}"


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:  # not contextlib.suppress: the status line does without it
        return
