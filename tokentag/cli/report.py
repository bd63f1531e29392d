"""`tokentag report --by ...`: totals per group, pending included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from tokentag.cli.common import (
    current_worktree,
    dump_json,
    evidence_kinds,
    evidence_option,
    time_range_options,
)

if TYPE_CHECKING:
    from tokentag.report.costs import Totals
    from tokentag.report.spikes import Spike

# `report --by`: grouping.GROUP_KEYS, and tag (a test holds them equal), spelled here so
# that --help need not import the report modules.
REPORT_GROUPS = ("session", "model", "branch", "day", "week", "month", "commit", "agent",
                 "tag", "task", "author", "pr")
# Groups read from each commit's message or author, or a work item's id (report.workitems).
WORK_ITEM_GROUPS = ("task", "author", "pr")


@click.command("report")
@click.option("--by", "by", default="session", show_default=True,
              type=click.Choice(REPORT_GROUPS))
@time_range_options
@evidence_option
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON.")
def report_command(by: str, since: str | None, until: str | None, evidence: str | None,
                   as_json: bool) -> int:
    """Tokens, requests and cost per session, model, branch, period, commit, release tag,
    work item (task), commit author or pull request."""
    from tokentag.ledger.store import Store
    from tokentag.release import releases
    from tokentag.report import grouping, spikes, workitems
    from tokentag.setup import config

    worktree = current_worktree()
    settings = config.load(worktree.top)
    filters = grouping.Filters(since=since, until=until, evidence=evidence_kinds(evidence))
    with Store.of(worktree).reading() as index:
        if by == "tag":
            groups = releases.grouped_by_tag(worktree, index, filters, settings.prices,
                                            settings.tag_pattern)
        elif by in WORK_ITEM_GROUPS:
            groups = workitems.grouped_totals(worktree, index, by, filters, settings.prices,
                                              settings.task_pattern)
        else:
            groups = grouping.grouped_totals(index, by, filters, settings.prices)
        flagged = spikes.in_report(index, by, groups, filters, settings.spikes)
    totals = grouping.overall(groups)
    if as_json:
        rows = [{"key": key, **t.as_json(), **_spike_json(flagged, key)}
                for key, t in groups.items()]
        dump_json({"by": by, "rows": rows, "totals": totals.as_json()})
        return 0
    _print_table(by, groups, totals, flagged or {})
    return 0


def _spike_json(flagged: dict[str, Spike] | None, key: str) -> dict[str, Any]:
    """A commit, day or session row's `spike`: null, or how far above its recent median."""
    if flagged is None:
        return {}
    return {"spike": flagged[key].as_json() if key in flagged else None}


def _print_table(by: str, groups: dict[str, Totals], totals: Totals,
                 flagged: dict[str, Spike]) -> None:
    header = f"{by:<40} {'requests':>8} {'input':>10} {'output':>10} {'cache write':>12} " \
             f"{'cache read':>12} {'total':>12} {'cost':>10}"
    click.echo(header)
    for key, t in [*groups.items(), ("TOTAL", totals)]:
        u = t.usage
        cost = t.cost_text()
        spike = f"  spike: {flagged[key].text()}" if key in flagged else ""
        click.echo(f"{key[:40]:<40} {t.requests:>8} {u.input:>10,} {u.output:>10,} "
                   f"{u.cache_creation:>12,} {u.cache_read:>12,} {u.total:>12,} {cost:>10}"
                   f"{spike}")
    click.echo(f"evidence (tokens): {totals.evidence_text()}")
    if totals.unpriced_requests:
        click.echo(f"* {totals.unpriced_requests} requests of models without a known price "
                   f"({', '.join(sorted(totals.unpriced_models))}) are not in the cost")
