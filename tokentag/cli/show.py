"""`tokentag show [COMMIT]`: one commit's tokens and cost by model."""

from __future__ import annotations

from typing import Any

import click

from tokentag.cli.common import current_worktree, dump_json, evidence_kinds, evidence_option
from tokentag.cli.output import (
    Column,
    Table,
    Terminal,
    chosen_format,
    counted,
    dump_csv,
    format_options,
    number,
)
from tokentag.core.money import usd


@click.command("show")
@click.argument("commit", default="HEAD")
@evidence_option
@click.option("--tz", "tz_name", metavar="ZONE",
              help="Time zone of the commit's date: an IANA name, UTC, or local (default).")
@format_options
def show_command(commit: str, evidence: str | None, tz_name: str | None,
                 output_format: str, as_json: bool) -> int:
    """Tokens and cost of one commit, by model (from the ledger, else its git note)."""
    from tokentag.ledger.filters import Filters
    from tokentag.report import queries, zones
    from tokentag.setup import config

    chosen = chosen_format(output_format, as_json)
    zone = zones.resolve(tz_name)
    worktree = current_worktree()
    result = queries.show_commit(worktree, commit, config.load(worktree.top).prices,
                                 Filters(evidence=evidence_kinds(evidence)))
    if chosen == "json":
        dump_json(result)
    elif chosen == "csv":
        dump_csv(["model", "requests", "input", "output", "cache_creation", "cache_read",
                  "total", "cost_usd"],
                 [[row["model"], row["requests"], *_tokens(row), row["cost_usd"]]
                  for row in result["by_model"]])
    else:
        _print_commit(result, zone)
    return 0


def _tokens(row: dict[str, Any]) -> list[int]:
    t = row["tokens"]
    return [t["input"], t["output"], t["cache_creation"], t["cache_read"], t["total"]]


def _print_commit(result: dict[str, Any], zone: Any) -> None:
    from tokentag.core.timefmt import parse_iso
    from tokentag.report.costs import evidence_text

    terminal = Terminal.of()
    click.echo(terminal.style(f"commit {result['commit']}", "bold") + f" ({result['source']})")
    moment = parse_iso(result.get("date") or "")
    if moment is not None:
        when = zone.local(moment).strftime("%Y-%m-%d %H:%M")
        click.echo(terminal.line(f"{result['author']}, {when} {zone.name}: "
                                 f"{result['subject']}"))
    click.echo(f"{counted(result['requests'], 'request')} in "
               f"{counted(result['sessions'], 'session')}")
    if not result["by_model"]:
        return
    click.echo("")
    table = Table([Column("model", flex=True, min_width=18),
                   Column("requests", right=True, priority=4),
                   Column("input", right=True, priority=6),
                   Column("output", right=True, priority=5),
                   Column("cache write", right=True, priority=8),
                   Column("cache read", right=True, priority=7),
                   Column("total", right=True, priority=1), Column("cost", right=True)])
    for row in result["by_model"]:
        table.add(row["model"], *_cells(row))
    table.add("Total", *_cells(result), style="total")
    table.echo(terminal)
    click.echo(terminal.line(f"evidence (tokens): {evidence_text(result['evidence'])}"))


def _cells(row: dict[str, Any]) -> list[str]:
    return [number(row["requests"]), *map(number, _tokens(row)),
            usd(row["cost_usd"], "unpriced_requests" in row)]
