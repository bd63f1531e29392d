"""`tokentag show [COMMIT]`: one commit's tokens and cost by model."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json, evidence_kinds, evidence_option
from tokentag.core.money import usd


@click.command("show")
@click.argument("commit", default="HEAD")
@evidence_option
@click.option("--json", "as_json", is_flag=True)
def show_command(commit: str, evidence: str | None, as_json: bool) -> int:
    """Tokens and cost of one commit, by model."""
    from tokentag.ledger.filters import Filters
    from tokentag.report import costs, queries
    from tokentag.setup import config

    worktree = current_worktree()
    result = queries.show_commit(worktree, commit, config.load(worktree.top).prices,
                                 Filters(evidence=evidence_kinds(evidence)))
    if as_json:
        dump_json(result)
        return 0
    click.echo(f"commit {result['commit']} ({result['source']})")
    click.echo(f"{result['requests']} requests, {result['sessions']} sessions")
    by_model = {row["model"]: row for row in result["by_model"]}
    for model, row in by_model.items():
        t = row["tokens"]
        cost = usd(row["cost_usd"], "unpriced_requests" in row)
        click.echo(f"  {model:<32} in {t['input']:>8,} out {t['output']:>8,} "
                   f"cache write {t['cache_creation']:>10,} cache read {t['cache_read']:>12,}"
                   f"  {cost}")
    total = result["tokens"]
    cost = usd(result["cost_usd"], "unpriced_requests" in result)
    click.echo(f"  {'total':<32} {total['total']:,} tokens  {cost}")
    click.echo(f"  {'evidence (tokens)':<32} {costs.evidence_text(result['evidence'])}")
    return 0
