"""`tokentag status`: what was spent today, this week, on this branch and not committed
yet; where the ledger is and what went wrong lately."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tokentag.cli.common import current_worktree, dump_json
from tokentag.cli.output import (
    Column,
    Table,
    Terminal,
    ago,
    chosen_format,
    counted,
    dump_csv,
    format_options,
    number,
)

if TYPE_CHECKING:
    from tokentag.report.queries import Spending, Status
    from tokentag.report.zones import Zone

_LABELS = {"today": "today", "this_week": "this week", "this_branch": "this branch",
           "pending": "pending"}


@click.command("status")
@click.option("--tz", "tz_name", metavar="ZONE",
              help="Time zone of today and this week: an IANA name, UTC, or local (default).")
@format_options
def status_command(tz_name: str | None, output_format: str, as_json: bool) -> int:
    """What was spent today, this week, on this branch and not yet committed; where the
    ledger is, and what went wrong lately."""
    from tokentag.ledger.store import Store
    from tokentag.report import queries, zones

    chosen = chosen_format(output_format, as_json)
    worktree = current_worktree()
    zone = zones.resolve(tz_name)
    store = Store.of(worktree)
    result = queries.status(store)  # first: a failure here leaves no tokentag dir behind
    spending = queries.spending(store, worktree, zone)
    if chosen == "json":
        dump_json({**result.as_json(), **spending.as_json()})
    elif chosen == "csv":
        dump_csv(["spent", "requests", "input", "output", "cache_creation", "cache_read",
                  "total", "cost_usd"],
                 [[name, t.requests, t.usage.input, t.usage.output, t.usage.cache_creation,
                   t.usage.cache_read, t.usage.total, t.cost_usd]
                  for name, t in spending.spent.items()])
    else:
        _print_status(result, spending)
    return 0


def _print_status(result: Status, spending: Spending) -> None:
    from tokentag.report.costs import evidence_text

    terminal = Terminal.of()
    table = Table([Column("spent", flex=True, min_width=11), Column("requests", right=True,
                   priority=2), Column("tokens", right=True, priority=1),
                   Column("cost", right=True)])
    for name, totals in spending.spent.items():
        label = _LABELS[name]
        if name == "this_branch":
            label += f" ({spending.branch})" if spending.branch else " (detached HEAD)"
        table.add(label, number(totals.requests), number(totals.usage.total),
                  totals.cost_text(), style="" if totals.requests else "quiet")
    table.echo(terminal)
    click.echo("")
    click.echo(terminal.line(f"recorded:      {counted(result.requests, 'request')} in "
                             f"{counted(result.sessions, 'session')}, "
                             f"{counted(result.commits, 'commit')}"))
    click.echo(terminal.line(f"last capture:  {_last_capture(result.last_capture, spending.zone)}"))
    problems = [counted(result.invalid_lines, "unreadable ledger line"),
                counted(result.logged_failures, "logged failure")] \
        if result.invalid_lines or result.logged_failures else ["none"]
    click.echo(terminal.line(f"problems:      {', '.join(problems)}"))
    click.echo(terminal.line(f"evidence:      {evidence_text(result.evidence)} (tokens)"))
    if result.corrections or result.superseded:
        click.echo(terminal.line(
            f"folded in:     {counted(result.corrections, 'correction')}, "
            f"{counted(result.superseded, 'superseded record')} (each request counted once)"))
    if result.last_failure:
        click.echo(terminal.line(f"last failure:  {result.last_failure}"))
    click.echo(f"ledger:        {result.ledger}")  # whole, to be copied


def _last_capture(stamp: str | None, zone: Zone) -> str:
    from tokentag.core.timefmt import parse_iso
    from tokentag.report import zones

    moment = parse_iso(stamp) if stamp else None
    if moment is None:
        return "never"
    local = zone.local(moment).strftime("%Y-%m-%d %H:%M")
    return f"{local} {zone.name} ({ago((zones.now() - moment).total_seconds())})"
