"""`tokentag log`: API requests, newest first."""

from __future__ import annotations

import click

from tokentag.cli.common import (
    current_worktree,
    dump_json,
    evidence_kinds,
    evidence_option,
    time_range_options,
)


@click.command("log")
@click.option("--session")
@click.option("--model")
@click.option("--branch")
@click.option("--agent", help="Subagent id ('sidechain' for old inline subagents).")
@click.option("--pending", "state", flag_value="pending", help="Only requests not yet committed.")
@click.option("--committed", "state", flag_value="committed", help="Only attributed requests.")
@time_range_options
@evidence_option
@click.option("-n", "--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def log_command(session: str | None, model: str | None, branch: str | None, agent: str | None,
                state: str | None, since: str | None, until: str | None,
                evidence: str | None, limit: int, as_json: bool) -> int:
    """API requests, newest first."""
    from tokentag.ledger.store import Store
    from tokentag.report import grouping, queries

    filters = grouping.Filters(since=since, until=until, session=session, model=model,
                             branch=branch, agent=agent, state=state,
                             evidence=evidence_kinds(evidence))
    with Store.of(current_worktree()).reading() as index:
        rows = queries.requests_log(index, filters, limit if limit > 0 else None)
    if as_json:
        dump_json({"requests": rows})
        return 0
    for row in rows:
        t = row["tokens"]
        where = row["commit"][:10] if row["commit"] else \
            f"task {row['task']}" if row["task"] else "pending"
        click.echo(f"{row['timestamp'][:19]}  {(row['session'] or '')[:8]:<8}  "
                   f"{row['model'][:26]:<26} in {t['input']:>6} out {t['output']:>6} "
                   f"cw {t['cache_creation']:>7} cr {t['cache_read']:>9}  {where:<10}  "
                   f"{row['evidence']}")
    return 0
