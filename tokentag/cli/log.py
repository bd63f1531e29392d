"""`tokentag log`: API requests, newest first, each with its cost."""

from __future__ import annotations

from typing import Any

import click

from tokentag.cli.common import (
    current_worktree,
    dump_json,
    evidence_kinds,
    evidence_option,
    time_range_options,
)
from tokentag.cli.output import (
    Column,
    Table,
    Terminal,
    chosen_format,
    dump_csv,
    format_options,
    number,
)


@click.command("log")
@click.option("--session", metavar="ID", help="Sessions whose id starts with ID.")
@click.option("--model", metavar="TEXT", help="Models whose name contains TEXT (any case).")
@click.option("--branch")
@click.option("--agent", help="Subagent id ('sidechain' for old inline subagents).")
@click.option("--pending", "state", flag_value="pending", help="Only requests not yet committed.")
@click.option("--committed", "state", flag_value="committed", help="Only attributed requests.")
@time_range_options
@evidence_option
@click.option("--tz", "tz_name", metavar="ZONE",
              help="Time zone of times and dates: an IANA name, UTC, or local (default).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many requests.")
@click.option("--all", "everything", is_flag=True, help="Every matching request (no -n).")
@format_options
def log_command(session: str | None, model: str | None, branch: str | None, agent: str | None,
                state: str | None, since: str | None, until: str | None, evidence: str | None,
                tz_name: str | None,
                limit: int, everything: bool, output_format: str, as_json: bool) -> int:
    """API requests, newest first, with their tokens and cost."""
    from tokentag.ledger.filters import Filters
    from tokentag.ledger.store import Store
    from tokentag.report import queries, zones
    from tokentag.report.ratebook import RateBook

    chosen = chosen_format(output_format, as_json)
    zone = zones.resolve(tz_name)
    filters = Filters(since=since, until=until, session=session, model=model, branch=branch,
                      agent=agent, state=state, local=zone.utc_of,
                      evidence=evidence_kinds(evidence))
    worktree = current_worktree()
    store = Store.of(worktree)
    book = RateBook(worktree.top, store.directory)
    with store.reading() as index:
        rows = queries.requests_log(index, filters, None if everything else limit, book.priced)
    book.save()
    if chosen == "json":
        dump_json({"requests": rows, **zone.describe()})
    elif chosen == "csv":
        dump_csv(["timestamp", "session", "agent", "model", "branch", "commit", "task",
                  "evidence", "input", "output", "cache_creation", "cache_read", "total",
                  "cost_usd"],
                 [[r["timestamp"], r["session"], r["agent"], r["model"], r["branch"],
                   r["commit"], r["task"], r["evidence"], *r["tokens"].values(),
                   r["cost_usd"]] for r in rows])
    elif not rows:
        click.echo("no requests match")
    else:
        _print_table(rows, zone)
    return 0


def _print_table(rows: list[dict[str, Any]], zone: Any) -> None:
    from tokentag.core.money import usd
    from tokentag.core.timefmt import parse_iso

    table = Table([Column("time"), Column("session", min_width=8),
                   Column("model", flex=True, min_width=18, priority=2),
                   Column("input", right=True, priority=6),
                   Column("output", right=True, priority=4),
                   Column("cache write", right=True, priority=7),
                   Column("cache read", right=True, priority=5),
                   Column("cost", right=True), Column("commit", priority=3),
                   Column("evidence", priority=8)])
    for row in rows:
        t, moment = row["tokens"], parse_iso(row["timestamp"])
        when = zone.local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else row["timestamp"]
        table.add(when, (row["session"] or "")[:8], row["model"] or "", number(t["input"]),
                  number(t["output"]), number(t["cache_creation"]), number(t["cache_read"]),
                  usd(row["cost_usd"]), _where(row), row["evidence"],
                  style="" if row["commit"] else "quiet")
    table.echo(Terminal.of())
    click.echo(f"times in {zone.name} ({zone.offset_text()})")


def _where(row: dict[str, Any]) -> str:
    """The commit a request went to; else the work item an estimate was recorded for."""
    if row["commit"]:
        return str(row["commit"])[:8]
    return f"task {row['task']}" if row["task"] else "pending"
