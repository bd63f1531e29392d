"""Spikes: a commit, day or session costing far more than the ones before it is flagged in
`report`, in the release JSON and in the release notes; generated history, real hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit
from tokentag.core.usage import Usage
from tokentag.report.costs import Totals
from tokentag.report.spikes import MIN_HISTORY, SpikeRule, flag

SPIKE_AT = 6  # the seventh commit, day and session cost twenty times the others
OUTPUTS = [1_000, 1_100, 900, 1_050, 950, 1_000, 20_000, 1_000]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Eight commits on eight days, each made in a session of its own."""
    from tests.conftest import RepoTemplate

    template = RepoTemplate(tmp_path_factory.mktemp("spikes"))
    with template.making() as tree:
        repo = tree / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        template.install(repo)
        shas = []
        for number, output in enumerate(OUTPUTS):
            session = Session(repo, session_id=f"0a0a0a0a-0000-4000-8000-00000000010{number}")
            session.add(output=output, timestamp=f"2026-10-0{number + 1}T10:00:00.000Z")
            session.hook()
            shas.append(commit(repo, f"change {number}"))
        git(repo, "tag", "v1.0")
        return repo, shas


def report_rows(repo: Path, by: str, *args: str) -> dict[str, dict[str, Any]]:
    data = json.loads(tokentag("report", "--by", by, "--json", *args, cwd=repo).stdout)
    return {row["key"]: row for row in data["rows"]}


@pytest.mark.parametrize("by", ["commit", "day", "session"])
def test_the_costly_item_alone_is_flagged_in_report(history: tuple[Path, list[str]],
                                                     by: str) -> None:
    repo, shas = history
    rows = report_rows(repo, by)
    keys = {"commit": shas, "day": [f"2026-10-0{n + 1}" for n in range(len(OUTPUTS))],
            "session": [f"0a0a0a0a-0000-4000-8000-00000000010{n}" for n in range(len(OUTPUTS))]}
    flagged = [key for key in keys[by] if rows[key]["spike"] is not None]
    assert flagged == [keys[by][SPIKE_AT]]
    spike = rows[flagged[0]]["spike"]
    assert spike["measure"] == "cost_usd" and spike["history"] == SPIKE_AT
    median_cost = sorted(rows[key]["cost_usd"] for key in keys[by][:SPIKE_AT])[SPIKE_AT // 2 - 1:
                                                                               SPIKE_AT // 2 + 1]
    assert spike["median"] == pytest.approx(sum(median_cost) / 2, abs=1e-6)
    assert spike["ratio"] == pytest.approx(rows[flagged[0]]["cost_usd"] / spike["median"],
                                           abs=0.01)
    text = tokentag("report", "--by", by, cwd=repo).stdout
    [marked] = [line for line in text.splitlines() if line.startswith("spike:")]
    assert marked == f"spike: {keys[by][SPIKE_AT]} cost {spike['ratio']:.1f}x median of the " \
                     f"{SPIKE_AT} before it"


def test_a_grouping_without_time_order_has_no_spike_key(history: tuple[Path, list[str]]) -> None:
    repo, _ = history
    assert all("spike" not in row for row in report_rows(repo, "model").values())


def test_the_factor_is_configurable(history: tuple[Path, list[str]], tmp_path: Path) -> None:
    repo, shas = history
    tokentag("config", "set", "spikes.factor", "25", cwd=repo)
    try:
        assert all(row["spike"] is None for row in report_rows(repo, "commit").values())
        tokentag("config", "set", "spikes.factor", "1.15", cwd=repo)
        flagged = {key for key, row in report_rows(repo, "commit").items() if row["spike"]}
        assert flagged == {shas[SPIKE_AT]}  # the others are within 10% of their medians
    finally:
        (repo / ".tokentag.toml").unlink()


def test_the_release_json_and_notes_flag_it(history: tuple[Path, list[str]]) -> None:
    repo, shas = history
    data = json.loads(tokentag("release", "v1.0", "--json", cwd=repo).stdout)
    spiked = [row["commit"] for row in data["by_commit"] if row["spike"] is not None]
    assert spiked == [shas[SPIKE_AT]]
    notes = tokentag("release", "v1.0", "--stdout", cwd=repo).stdout
    [line] = [line for line in notes.splitlines() if line.startswith("Spikes")]
    assert f"`{shas[SPIKE_AT][:10]}` (change {SPIKE_AT}, " in line
    assert line.count("`") == 2  # one commit


def totals(tokens: int, cost: float | None) -> Totals:
    from decimal import Decimal

    found = Totals(Usage(output=tokens), requests=1, cost=Decimal(str(cost or 0)))
    if cost is None:
        found.unpriced_requests = 1
    return found


def test_the_median_needs_history_and_ignores_earlier_spikes() -> None:
    series = [(f"c{n}", totals(100, 1.0)) for n in range(MIN_HISTORY - 1)]
    series.append(("early", totals(100, 50.0)))  # too little before it to tell
    assert flag(series) == {}
    series += [("c2", totals(100, 1.0)), ("big", totals(100, 40.0)), ("next", totals(100, 39.0))]
    # "next" follows two spikes, but the median of the five before it is still $1.
    assert set(flag(series)) == {"big", "next"}
    assert flag(series, SpikeRule(window=MIN_HISTORY))["big"].history == MIN_HISTORY


def test_unknown_prices_compare_tokens_not_zero_dollars() -> None:
    series = [("a", totals(100, 1.0)), ("b", totals(100, None)), ("c", totals(120, 1.0)),
              ("d", totals(1_000, 1.0))]
    found = flag(series)
    assert set(found) == {"d"} and found["d"].measure == "tokens"
    assert found["d"].ratio == pytest.approx(1_000 / 100)
