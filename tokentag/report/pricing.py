"""Dollar cost of one API request, from genai-prices' bundled tables or the user's overrides.

Prices come only from the data shipped inside the installed genai-prices wheel: its
`UpdatePrices` downloader is never started, so pricing never touches the network.
genai-prices is imported inside functions because this module is imported on paths that
must start fast and may never price anything.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from tokentag.core.usage import Usage
from tokentag.ledger.records import UNKNOWN_MODEL

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

__all__ = ["LONG_CONTEXT_THRESHOLD", "PriceOverride", "price_group", "price_request"]

# Anthropic bills every token of a request at the long-context rate once its prompt
# (uncached input + cache reads + cache writes) exceeds this many tokens.
LONG_CONTEXT_THRESHOLD = 200_000

# Anthropic's prompt-caching multipliers of the base input price.
CACHE_WRITE_5M_FACTOR = Decimal("1.25")
CACHE_WRITE_1H_FACTOR = Decimal(2)
CACHE_READ_FACTOR = Decimal("0.1")

# Claude Code writes "<synthetic>" for messages it made up itself; no API call, no price.
# An estimate recorded without its model has no price either (never $0).
_UNPRICED_MODELS = frozenset({"<synthetic>", UNKNOWN_MODEL})
# Bedrock ids ("us.anthropic.claude-…-v1:0") are auto-detected as Anthropic's, whose table
# does not list them; AWS's table does, with Bedrock's own prices. Some of the names Codex
# writes (`codex-mini-latest`) are found only in OpenAI's table, when it is named.
_LOOKUP_PROVIDERS: tuple[str | None, ...] = (None, "aws", "openai")
# Lets an override for "claude-sonnet-4-5" cover the dated "claude-sonnet-4-5-20250929".
_DATE_SUFFIX = re.compile(r"-\d{8}$")

PerMTok = Annotated[Decimal, Field(ge=0)]

# Prices already worked out, by all that decides them, while `memoised` is in force.
_MEMO: ContextVar[dict[Hashable, Decimal | None] | None] = ContextVar("_MEMO", default=None)


class PriceOverride(BaseModel):
    """A user's prices for one model, in USD per million tokens.

    Unset cache prices follow Anthropic's multipliers of `input_mtok`. Requests whose prompt
    exceeds 200k tokens pay `long_context_input_mtok` (and Anthropic's cache multiples of it)
    and `long_context_output_mtok` instead, each only when set.
    """

    # Built on first use: schema building is slow, and most imports never validate a price.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    input_mtok: PerMTok
    output_mtok: PerMTok
    cache_write_5m_mtok: PerMTok | None = None
    cache_write_1h_mtok: PerMTok | None = None
    cache_read_mtok: PerMTok | None = None
    long_context_input_mtok: PerMTok | None = None
    long_context_output_mtok: PerMTok | None = None


def price_request(model: str, when: datetime, usage: Usage,
                  overrides: Mapping[str, PriceOverride] | None = None) -> Decimal | None:
    """USD cost of one request made at `when`, or None when the model has no known price.

    Overrides win over the library. A naive `when` is taken as UTC.
    """
    return price_group(model, when, usage, usage.prompt, overrides)


@contextmanager
def memoised() -> Iterator[None]:
    """Within it, a group priced once is not priced again: for a caller that totals the
    same requests many ways (the dashboard prices each commit's groups for six views)."""
    token = _MEMO.set(_MEMO.get() if _MEMO.get() is not None else {})
    try:
        yield
    finally:
        _MEMO.reset(token)


def price_group(model: str, when: datetime, usage: Usage, prompt: int,
                overrides: Mapping[str, PriceOverride] | None = None) -> Decimal | None:
    """USD cost of requests summed into `usage`, all made on `when`'s prices and all in the
    context tier of a request whose prompt is `prompt` tokens. Pricing is linear within a
    tier, so this equals the sum of the requests priced one by one."""
    memo = _MEMO.get()
    if memo is None:
        return _price_group(model, when, usage, prompt, overrides)
    key = (model, when, usage, prompt, tuple(sorted((overrides or {}).items())))
    if key not in memo:
        memo[key] = _price_group(model, when, usage, prompt, overrides)
    return memo[key]


def unit_prices(model: str, when: datetime, units: tuple[Usage, ...], prompt: int,
                overrides: Mapping[str, PriceOverride] | None = None,
                ) -> tuple[Decimal, ...] | None:
    """`price_group` of each of `units` (one model, day and prompt), but the price table
    entry is looked up once, and an entry at one tier is priced once per process: most days
    of a model share one entry, and pricing through the library costs ~0.4 ms a call."""
    price = _model_price(model, when, overrides)
    if price is None:
        return None
    key = (id(price), _tiers_passed(price, prompt), units)
    known = _UNIT_PRICES.get(key)
    if known is None or known[0] is not price:  # the entry itself is kept: ids are reused
        flat = _at_prompt(price, prompt)
        known = _UNIT_PRICES[key] = (price, tuple(_priced(flat, unit) for unit in units))
    return known[1]


_UNIT_PRICES: dict[Hashable, tuple[ModelPrice, tuple[Decimal, ...]]] = {}


def _price_group(model: str, when: datetime, usage: Usage, prompt: int,
                 overrides: Mapping[str, PriceOverride] | None) -> Decimal | None:
    price = _model_price(model, when, overrides)
    if price is None:
        return None
    return _priced(_at_prompt(price, prompt), usage)


def _priced(flat: ModelPrice, usage: Usage) -> Decimal:
    try:
        return _total(_with_1h_writes(flat), usage)
    except ValueError:
        # The added 1h price can lack a join price some multi-modal tables require; the
        # library's own table is valid, it just prices 1h writes at the 5m rate.
        return _total(flat, usage)


def _model_price(model: str, when: datetime,
                 overrides: Mapping[str, PriceOverride] | None) -> ModelPrice | None:
    name = model.strip().lower()
    if not name or name in _UNPRICED_MODELS:
        return None
    override = _find_override(name, overrides)
    if override is not None:
        return _override_price(override)
    info = _library_model(name)
    if info is None:
        return None
    price = info.get_prices(when)
    if price.input_mtok is None and price.output_mtok is None:
        return None  # priced per request or per image only: no token price to apply
    return price


_PRICE_FIELDS = ("input_mtok", "output_mtok", "cache_write_mtok", "cache_write_1h_mtok",
                 "cache_read_mtok")


def _at_prompt(price: ModelPrice, prompt: int) -> ModelPrice:
    """`price` with each tiered field fixed at the tier a `prompt`-token request pays:
    once a prompt passes a tier's start, every token of the request pays that tier."""
    from genai_prices.types import ModelPrice, TieredPrices

    fixed = {}
    for name in _PRICE_FIELDS:
        value = getattr(price, name, None)
        if isinstance(value, TieredPrices):
            chosen = value.base
            for tier in value.tiers:
                if prompt > tier.start:
                    chosen = tier.price
            fixed[name] = chosen
    return ModelPrice(**{**price.__dict__, **fixed}) if fixed else price


def _tiers_passed(price: ModelPrice, prompt: int) -> tuple[tuple[bool, ...], ...]:
    """For each tiered field of `price`, which of its tiers a `prompt`-token request
    passes: what `_at_prompt` chooses by."""
    from genai_prices.types import TieredPrices

    return tuple(tuple(prompt > tier.start for tier in value.tiers)
                 for value in (getattr(price, name, None) for name in _PRICE_FIELDS)
                 if isinstance(value, TieredPrices))


def _find_override(name: str,
                   overrides: Mapping[str, PriceOverride] | None) -> PriceOverride | None:
    if not overrides:
        return None
    by_name = {key.strip().lower(): value for key, value in overrides.items()}
    found = by_name.get(name)
    return found if found is not None else by_name.get(_DATE_SUFFIX.sub("", name))


@lru_cache(maxsize=1024)
def _library_model(name: str) -> ModelInfo | None:
    """The genai-prices model for `name`; cached because a report prices thousands of requests."""
    from genai_prices.data_snapshot import get_snapshot

    for provider_id in _LOOKUP_PROVIDERS:
        try:
            return get_snapshot().find_provider_model(name, None, provider_id, None)[1]
        except LookupError:
            continue
    return None


def _total(price: ModelPrice, usage: Usage) -> Decimal:
    from genai_prices import Usage as LibraryUsage

    # Writes split by lifetime may sum to more than a stale total; trust the larger.
    writes = max(usage.cache_creation, usage.cache_creation_5m + usage.cache_creation_1h)
    counts = LibraryUsage(
        # genai-prices' input is the whole prompt, cache reads and writes being parts of it;
        # the uncached rest is priced at the input rate, and the whole sets the tier.
        input_tokens=usage.input + writes + usage.cache_read,
        output_tokens=usage.output,
        cache_read_tokens=usage.cache_read,
        # Writes outside the 1h part are priced as 5m ones, which also covers older
        # transcripts that give only the total.
        cache_write_tokens=writes,
        cache_write_1h_tokens=min(usage.cache_creation_1h, writes),
    )
    return price.calc_price(counts)["total_price"]


def _with_1h_writes(price: ModelPrice) -> ModelPrice:
    """`price` with 1h cache writes at 2x input when the table knows only one write price."""
    from genai_prices.types import ModelPrice

    if price.cache_write_1h_mtok is not None or price.cache_write_mtok is None \
            or price.input_mtok is None:
        return price
    return ModelPrice(**{**price.__dict__,
                         "cache_write_1h_mtok": _scaled(price.input_mtok, CACHE_WRITE_1H_FACTOR)})


def _scaled(price: Decimal | TieredPrices, factor: Decimal) -> Decimal | TieredPrices:
    from genai_prices.types import Tier, TieredPrices

    if isinstance(price, TieredPrices):
        tiers = [Tier(start=tier.start, price=tier.price * factor) for tier in price.tiers]
        return TieredPrices(base=price.base * factor, tiers=tiers)
    return price * factor


@lru_cache(maxsize=256)
def _override_price(override: PriceOverride) -> ModelPrice:
    """The override as a genai-prices table, so both sources share one arithmetic."""
    from genai_prices.types import ModelPrice

    base = override.input_mtok
    long = override.long_context_input_mtok
    return ModelPrice(
        input_mtok=_tiered(base, long),
        output_mtok=_tiered(override.output_mtok, override.long_context_output_mtok),
        cache_write_mtok=_tiered(_or(override.cache_write_5m_mtok, base * CACHE_WRITE_5M_FACTOR),
                                 _times(long, CACHE_WRITE_5M_FACTOR)),
        cache_write_1h_mtok=_tiered(_or(override.cache_write_1h_mtok, base * CACHE_WRITE_1H_FACTOR),
                                    _times(long, CACHE_WRITE_1H_FACTOR)),
        cache_read_mtok=_tiered(_or(override.cache_read_mtok, base * CACHE_READ_FACTOR),
                                _times(long, CACHE_READ_FACTOR)),
    )


def _tiered(base: Decimal, long: Decimal | None) -> Decimal | TieredPrices:
    from genai_prices.types import Tier, TieredPrices

    if long is None:
        return base
    return TieredPrices(base=base, tiers=[Tier(start=LONG_CONTEXT_THRESHOLD, price=long)])


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def _times(value: Decimal | None, factor: Decimal) -> Decimal | None:
    return None if value is None else value * factor
