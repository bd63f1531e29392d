"""`tokentag log`: API requests, newest first."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json, time_range_options


@click.command("log")
@click.option("--session")
@click.option("--model")
@click.option("--branch")
@click.option("--agent", help="Subagent id ('sidechain' for old inline subagents).")
@click.option("--pending", "state", flag_value="pending", help="Only requests not yet committed.")
@click.option("--committed", "state", flag_value="committed", help="Only attributed requests.")
@time_range_options
@click.option("-n", "--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def log_command(session: str | None, model: str | None, branch: str | None, agent: str | None,
                state: str | None, since: str | None, until: str | None, limit: int,
                as_json: bool) -> int:
    """API requests, newest first."""
    from tokentag.ledger.store import Store
    from tokentag.report import grouping, queries

    filters = grouping.Filters(since=since, until=until, session=session, model=model,
                             branch=branch, agent=agent, state=state)
    with Store.of(current_worktree()).reading() as index:
        rows = queries.requests_log(index, filters, limit if limit > 0 else None)
    if as_json:
        dump_json({"requests": rows})
        return 0
    for row in rows:
        t = row["tokens"]
        where = (row["commit"] or "pending")[:10]
        click.echo(f"{row['timestamp'][:19]}  {row['session'][:8]}  {row['model'][:26]:<26} "
                   f"in {t['input']:>6} out {t['output']:>6} cw {t['cache_creation']:>7} "
                   f"cr {t['cache_read']:>9}  {where}")
    return 0
