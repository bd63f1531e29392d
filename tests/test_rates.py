"""The price cache the status line prices with: five rates per model, day and tier, held
to pricing itself on genai-prices' real tables and on configured overrides."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from tokentag.core.usage import Usage
from tokentag.report import costs, rates
from tokentag.report.costs import PriceGroup
from tokentag.report.pricing import PriceOverride

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001",
          "claude-sonnet-4-20250514", "claude-opus-4-6",
          "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "gpt-4o", "gemini-2.5-pro",
          "<synthetic>", "(unknown model)", "a-model-nobody-prices")
DAYS = ("2025-03-01", "2026-01-15", "2026-11-30")
PROMPTS = (5_000, 150_000, 200_000, 200_001, 900_000)


def random_usage(rng: random.Random) -> Usage:
    writes = rng.randrange(0, 90_000)
    hour = rng.choice((0, writes // 3, writes))
    return Usage(input=rng.randrange(0, 5_000), output=rng.randrange(0, 90_000),
                 cache_creation=writes, cache_creation_5m=rng.choice((0, writes - hour)),
                 cache_creation_1h=hour, cache_read=rng.randrange(0, 2_000_000))


def test_the_rates_price_every_tier_exactly_as_pricing_does(tmp_path: Path) -> None:
    book = rates.RateBook.load(str(tmp_path), str(tmp_path))
    pairs = [(model, day) for model in MODELS for day in DAYS]
    assert book.missing(pairs) == sorted(pairs)
    assert rates.refresh(book, pairs) == []  # every table here is five rates a tier
    book = rates.RateBook.load(str(tmp_path), str(tmp_path))  # as the next call reads it
    assert book.missing(pairs) == []
    rng = random.Random(5)
    for model, day in pairs:
        for prompt in PROMPTS:
            usage = random_usage(rng)
            expected = costs.priced(PriceGroup(model, day, prompt, 3, usage, "observed"))
            found = book.cost(model, day, prompt, usage)
            if expected.unpriced_requests:
                assert found is None, model
            else:
                assert found == expected.cost, (model, day, prompt)  # to the last digit


def test_overrides_are_priced_and_a_changed_config_starts_afresh(tmp_path: Path) -> None:
    top, directory = tmp_path / "tree", tmp_path / "tokentag"
    top.mkdir()
    directory.mkdir()
    (top / ".tokentag.toml").write_text('[prices."my-proxy"]\ninput_mtok = 2\n')
    override = {"my-proxy": PriceOverride(input_mtok=Decimal(2), output_mtok=Decimal("8.5"),
                                          long_context_input_mtok=Decimal(4))}
    book = rates.RateBook.load(str(directory), str(top))
    rates.refresh(book, [("my-proxy", "2026-02-01")], override)
    usage = Usage(input=1_000, output=1_000, cache_read=300_000)
    book = rates.RateBook.load(str(directory), str(top))
    for prompt in (1_000, 301_000):
        expected = costs.priced(PriceGroup("my-proxy", "2026-02-01", prompt, 1, usage,
                                           "observed"), override)
        assert book.cost("my-proxy", "2026-02-01", prompt, usage) == expected.cost
    (top / ".tokentag.toml").write_text('[prices."my-proxy"]\ninput_mtok = 3\n')
    assert rates.RateBook.load(str(directory), str(top)).entries == {}


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"fingerprint": 3}'])
def test_an_unreadable_cache_is_an_empty_one(tmp_path: Path, text: str) -> None:
    (tmp_path / rates.CACHE_NAME).write_text(text)
    assert rates.RateBook.load(str(tmp_path), str(tmp_path)).entries == {}


def test_a_damaged_entry_is_missing_not_a_wrong_price(tmp_path: Path) -> None:
    book = rates.RateBook.load(str(tmp_path), str(tmp_path))
    book.entries["claude-opus-4-6\x002026-01-15"] = {"starts": [], "rates": [["1", "2"]]}
    with pytest.raises(KeyError, match="damaged rates"):
        book.cost("claude-opus-4-6", "2026-01-15", 10, Usage(input=5))
