"""`tokentag status`: where the ledger is, what it holds, what went wrong lately."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(as_json: bool) -> int:
    """Where the ledger is, what it holds, and what went wrong lately."""
    from tokentag.ledger.store import Store
    from tokentag.report import costs, queries

    result = queries.status(Store.of(current_worktree()))
    if as_json:
        dump_json(result.as_json())
        return 0
    click.echo(f"ledger:        {result.ledger}")
    click.echo(f"requests:      {result.requests} ({result.pending} pending, "
               f"{result.sessions} sessions, {result.commits} commits)")
    click.echo(f"last capture:  {result.last_capture or 'never'}")
    problems = f"{result.invalid_lines} unreadable ledger lines, " \
               f"{result.logged_failures} logged failures"
    click.echo(f"problems:      {problems}")
    click.echo(f"folded in:     {result.corrections} corrections, {result.superseded} "
               "superseded records (each request counted once)")
    click.echo(f"evidence:      {costs.evidence_text(result.evidence)} (tokens)")
    if result.last_failure:
        click.echo(f"last failure:  {result.last_failure}")
    return 0
