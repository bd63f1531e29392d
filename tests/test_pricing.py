"""Prices of single requests, checked against figures worked out by hand.

Per-MTok prices below are read from genai-prices 0.2.3's bundled data
(genai_prices/data.py) and stated where used; cost = tokens x price / 1,000,000.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pytest_mock import MockerFixture

from tokentag.core.usage import Usage
from tokentag.report import pricing
from tokentag.report.pricing import PriceOverride, memoised, price_group, price_request

WHEN = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
SONNET_45 = "claude-sonnet-4-5-20250929"

# All five fields: 1,000 uncached input, 2,000 output, 3,000 cache writes
# (2,000 of them 5-minute, 1,000 1-hour), 4,000 cache reads. Prompt = 8,000 tokens.
PLAIN = Usage(input=1_000, output=2_000, cache_creation=3_000, cache_creation_5m=2_000,
              cache_creation_1h=1_000, cache_read=4_000)


def test_plain_sonnet_45_request() -> None:
    # claude-sonnet-4-5 below 200k: input $3, output $15, 5m write $3.75, 1h write $6,
    # cache read $0.30 per MTok.
    # 1,000x3 + 2,000x15 + 2,000x3.75 + 1,000x6 + 4,000x0.3
    #   = 3,000 + 30,000 + 7,500 + 6,000 + 1,200 = 47,700 -> $0.0477
    assert price_request(SONNET_45, WHEN, PLAIN) == Decimal("0.0477")


def test_undated_name_and_case_match_the_same_model() -> None:
    assert price_request("Claude-Sonnet-4-5", WHEN, PLAIN) == Decimal("0.0477")


def test_long_context_prices_whole_request_at_higher_tier() -> None:
    # The prompt is 1 + 50,000 + 150,000 = 200,001 tokens, past 200k though almost all of it
    # is cache, so every token pays claude-sonnet-4-5's long-context rates:
    # input $6, output $22.50, 5m write $7.50, cache read $0.60 per MTok.
    # 1x6 + 1,000x22.5 + 50,000x7.5 + 150,000x0.6
    #   = 6 + 22,500 + 375,000 + 90,000 = 487,506 -> $0.487506
    usage = Usage(input=1, output=1_000, cache_creation=50_000, cache_read=150_000)
    assert usage.prompt == 200_001
    assert price_request(SONNET_45, WHEN, usage) == Decimal("0.487506")


def test_prompt_of_exactly_200k_stays_at_base_tier() -> None:
    # Prompt 0 + 50,000 + 150,000 = 200,000: not past the threshold, so base rates:
    # 1,000x15 + 50,000x3.75 + 150,000x0.3 = 15,000 + 187,500 + 45,000 = 247,500 -> $0.2475
    usage = Usage(input=0, output=1_000, cache_creation=50_000, cache_read=150_000)
    assert price_request(SONNET_45, WHEN, usage) == Decimal("0.2475")


def test_long_context_tier_applies_to_1h_writes_too() -> None:
    # 250,000 1h writes alone pass 200k: claude-sonnet-4-5's long 1h write price is $12/MTok.
    # The prompt (250,000 tokens) also moves output to $22.50/MTok.
    # 250,000x12 + 1,000x22.5 = 3,000,000 + 22,500 = 3,022,500 -> $3.0225
    usage = Usage(output=1_000, cache_creation=250_000, cache_creation_1h=250_000)
    assert price_request(SONNET_45, WHEN, usage) == Decimal("3.0225")


HAIKU_45 = "claude-haiku-4-5-20251001"


def test_1h_cache_writes_cost_2x_input_and_5m_writes_1_25x() -> None:
    # claude-haiku-4-5: input $1, 5m write $1.25, 1h write $2 per MTok.
    # 1,000,000 1h writes x 2 = $2; 1,000,000 5m writes x 1.25 = $1.25.
    one_hour = Usage(cache_creation=1_000_000, cache_creation_1h=1_000_000)
    five_min = Usage(cache_creation=1_000_000, cache_creation_5m=1_000_000)
    assert price_request(HAIKU_45, WHEN, one_hour) == Decimal("2")
    assert price_request(HAIKU_45, WHEN, five_min) == Decimal("1.25")


def test_writes_without_a_lifetime_split_are_5m() -> None:
    # Older transcripts give only the total: all 1,000,000 writes at $1.25/MTok -> $1.25.
    assert price_request(HAIKU_45, WHEN, Usage(cache_creation=1_000_000)) == Decimal("1.25")


def test_mixed_split_prices_each_part() -> None:
    # 600,000 5m x 1.25 + 400,000 1h x 2 = 750,000 + 800,000 = 1,550,000 -> $1.55
    usage = Usage(cache_creation=1_000_000, cache_creation_5m=600_000, cache_creation_1h=400_000)
    assert price_request(HAIKU_45, WHEN, usage) == Decimal("1.55")


def test_1h_writes_are_2x_input_when_the_table_lacks_a_1h_price() -> None:
    # AWS's entry for this Bedrock id has input $3, 5m write $3.75, cache read $0.30,
    # output $15 per MTok and no 1h write price, so 1h writes cost 2 x $3 = $6/MTok:
    # 1,000,000 x 6 = $6 (the library alone would charge the $3.75 5m price).
    usage = Usage(cache_creation=1_000_000, cache_creation_1h=1_000_000)
    bedrock = "global.anthropic.claude-sonnet-4-20250514-v1:0"
    assert price_request(bedrock, WHEN, usage) == Decimal("6")
    # The same prices as Sonnet 4.5 below 200k, so the plain request is $0.0477 again.
    assert price_request(bedrock, WHEN, PLAIN) == Decimal("0.0477")


# claude-opus-4-6 had a long-context tier until 2026-03-13 (UTC), when its 1M context
# became flat-priced. Before: input $5 -> $10, output $25 -> $37.50 per MTok past 200k.
# From 2026-03-13: input $5, output $25 per MTok at any length.
OPUS_46 = "claude-opus-4-6"
LONG_OPUS = Usage(input=250_000, output=10_000)


def test_price_change_applies_from_its_date() -> None:
    # Before: 250,000x10 + 10,000x37.5 = 2,500,000 + 375,000 = 2,875,000 -> $2.875
    # After:  250,000x5  + 10,000x25   = 1,250,000 + 250,000 = 1,500,000 -> $1.5
    before = datetime(2026, 3, 12, 23, 59, tzinfo=UTC)
    after = datetime(2026, 3, 13, 0, 0, tzinfo=UTC)
    assert price_request(OPUS_46, before, LONG_OPUS) == Decimal("2.875")
    assert price_request(OPUS_46, after, LONG_OPUS) == Decimal("1.5")


def test_price_change_date_is_taken_in_utc() -> None:
    # 01:00 on the 13th at UTC+2 is still the 12th in UTC: the old, tiered price.
    local = datetime(2026, 3, 13, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert price_request(OPUS_46, local, LONG_OPUS) == Decimal("2.875")


def test_short_request_is_unaffected_by_the_opus_change() -> None:
    # Below 200k both periods charge $5/$25: 1,000x5 + 1,000x25 = 30,000 -> $0.03
    usage = Usage(input=1_000, output=1_000)
    for when in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)):
        assert price_request(OPUS_46, when, usage) == Decimal("0.03")


@pytest.mark.parametrize("model", ["<synthetic>", "no-such-model-xyz", "", "  "])
def test_unknown_models_have_no_price(model: str) -> None:
    assert price_request(model, WHEN, PLAIN) is None


def test_override_replaces_library_price() -> None:
    # input $10, output $20; defaults: 5m write 1.25x10 = $12.50, 1h write 2x10 = $20,
    # cache read 0.1x10 = $1 per MTok.
    # 1,000x10 + 2,000x20 + 2,000x12.5 + 1,000x20 + 4,000x1
    #   = 10,000 + 40,000 + 25,000 + 20,000 + 4,000 = 99,000 -> $0.099
    override = PriceOverride(input_mtok=Decimal(10), output_mtok=Decimal(20))
    assert price_request(SONNET_45, WHEN, PLAIN, {SONNET_45: override}) == Decimal("0.099")
    # An undated key covers the dated snapshot name.
    assert price_request(SONNET_45, WHEN, PLAIN, {"claude-sonnet-4-5": override}) \
        == Decimal("0.099")
    # Overrides for other models leave the library price alone.
    assert price_request(SONNET_45, WHEN, PLAIN, {"claude-opus-4-6": override}) \
        == Decimal("0.0477")


def test_override_prices_a_model_the_library_does_not_know() -> None:
    # Explicit prices, from TOML floats: input 2, output 8, 5m write 3, 1h write 4, read 0.5.
    # 1,000x2 + 2,000x8 + 2,000x3 + 1,000x4 + 4,000x0.5
    #   = 2,000 + 16,000 + 6,000 + 4,000 + 2,000 = 30,000 -> $0.03
    override = PriceOverride.model_validate(
        {"input_mtok": 2.0, "output_mtok": 8.0, "cache_write_5m_mtok": 3.0,
         "cache_write_1h_mtok": 4.0, "cache_read_mtok": 0.5})
    assert price_request("my-proxy-model", WHEN, PLAIN, {"my-proxy-model": override}) \
        == Decimal("0.03")


def test_override_long_context_rates() -> None:
    # Past 200k: input $20, output $30, 5m write 1.25x20 = $25, read 0.1x20 = $2 per MTok.
    # 1x20 + 1,000x30 + 50,000x25 + 150,000x2 = 20 + 30,000 + 1,250,000 + 300,000
    #   = 1,580,020 -> $1.58002
    override = PriceOverride(input_mtok=Decimal(10), output_mtok=Decimal(20),
                             long_context_input_mtok=Decimal(20),
                             long_context_output_mtok=Decimal(30))
    usage = Usage(input=1, output=1_000, cache_creation=50_000, cache_read=150_000)
    assert price_request("m", WHEN, usage, {"m": override}) == Decimal("1.58002")


def test_override_rejects_negative_and_unknown_fields() -> None:
    with pytest.raises(ValueError):
        PriceOverride.model_validate({"input_mtok": -1, "output_mtok": 1})
    with pytest.raises(ValueError):
        PriceOverride.model_validate({"input_mtok": 1, "output_mtok": 1, "inptu_mtok": 2})


def test_memoised_prices_each_group_once_and_alike(mocker: MockerFixture) -> None:
    override = {SONNET_45: PriceOverride(input_mtok=Decimal(1), output_mtok=Decimal(2))}
    plain = price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt)
    overridden = price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt, override)
    spy = mocker.spy(pricing, "_price_group")
    with memoised():
        assert price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt) == plain
        with memoised():  # a nested scope shares the outer one's prices
            assert price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt) == plain
        assert price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt, override) == overridden
        assert spy.call_count == 2  # the override is part of what decides a price
    assert price_group(SONNET_45, WHEN, PLAIN, PLAIN.prompt) == plain
    assert spy.call_count == 3  # outside the scope nothing is kept


UNITS = (Usage(input=10**6), Usage(output=10**6),
         Usage(cache_creation=10**6, cache_creation_5m=10**6),
         Usage(cache_creation=10**6, cache_creation_1h=10**6), Usage(cache_read=10**6))


def test_unit_prices_are_price_group_of_each_unit_priced_once_per_entry_and_tier(
        mocker: MockerFixture) -> None:
    override = {SONNET_45: PriceOverride(input_mtok=Decimal(1), output_mtok=Decimal(2),
                                         long_context_input_mtok=Decimal(3))}
    days = [datetime(2026, 3, 10, 12, tzinfo=UTC) + timedelta(days=n) for n in range(6)]
    prompts = (8_000, 150_000, 200_000, 200_001, 900_000)
    cases = [(model, day, prompt, given) for model in (OPUS_46, SONNET_45, "no-such-model")
             for day in days for prompt in prompts for given in (None, override)]
    expected = [[price_group(model, day, unit, prompt, given) for unit in UNITS]
                for model, day, prompt, given in cases]
    pricing._UNIT_PRICES.clear()
    spy = mocker.spy(pricing, "_priced")
    for (model, day, prompt, given), prices in zip(cases, expected, strict=True):
        found = pricing.unit_prices(model, day, UNITS, prompt, given)
        assert found == (None if None in prices else tuple(prices))
    # Opus 4.6 has two entries (its price changed on 2026-03-13), the first tiered at 200k;
    # Sonnet 4.5 has one, tiered; so has the override: 3 + 2 + 2 (entry, tier) pairs
    # priced, one unit at a time, for the 90 (model, day, prompt) groups priced.
    assert spy.call_count == 5 * (3 + 2 + 2)


def test_import_is_lazy_and_pricing_never_uses_the_network() -> None:
    script = """
import socket, sys
from datetime import UTC, datetime
def refuse(*args, **kwargs):
    raise AssertionError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
import tokentag.report.pricing as pricing
assert "genai_prices" not in sys.modules, "genai_prices imported eagerly"
from tokentag.core.usage import Usage
print(pricing.price_request("claude-sonnet-4-5", datetime(2025, 11, 1, tzinfo=UTC),
                            Usage(input=100_000)))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    # 100,000 x $3/MTok = $0.3
    assert Decimal(result.stdout) == Decimal("0.3")
