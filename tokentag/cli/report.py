"""`tokentag report --by ...`: totals per group, pending included, in one repository or
across all of them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

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
    counted,
    dump_csv,
    format_options,
    number,
)

if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.filters import Filters
    from tokentag.report.costs import Totals
    from tokentag.report.rows import Report, ReportRow
    from tokentag.report.spikes import Spike
    from tokentag.report.zones import Zone

# `report --by`: grouping.GROUP_KEYS, and tag (a test holds them equal), spelled here so
# that --help need not import the report modules.
REPORT_GROUPS = ("session", "model", "branch", "day", "week", "month", "commit", "agent",
                 "tag", "task", "author", "pr")
# Groups read from each commit's message or author, or a work item's id (report.workitems).
WORK_ITEM_GROUPS = ("task", "author", "pr")
PERIODS = ("day", "week", "month")
REPOSITORY = "repository"  # --all-repos without --by: one row per repository


@click.command("report")
@click.option("--by", "by", type=click.Choice(REPORT_GROUPS),
              help="What a row is. [default: session; with --all-repos, a repository]")
@time_range_options
@evidence_option
@click.option("--tz", "tz_name", metavar="ZONE",
              help="Time zone of days, weeks, months and dates: an IANA name "
                   "(Europe/Berlin), UTC, or local (the default: the system's).")
@click.option("--order", type=click.Choice(["asc", "desc"]),
              help="asc: oldest (or smallest) first; desc: newest (or largest) first. "
                   "[default: oldest first for periods, commits and tags, else largest]")
@click.option("--last", "last", type=click.IntRange(min=1), metavar="N",
              help="Only the last N days, weeks or months, the current one included.")
@click.option("--breakdown", is_flag=True, help="Each row's totals by model.")
@click.option("--all-repos", is_flag=True,
              help="Every repository tokentag keeps a ledger for, in one table.")
@format_options
def report_command(by: str | None, since: str | None, until: str | None,
                   evidence: str | None, tz_name: str | None, order: str | None, last: int | None,
                   breakdown: bool, all_repos: bool, output_format: str,
                   as_json: bool) -> int:
    """Tokens, requests and cost per session, model, branch, period, commit, release tag,
    work item (task), commit author or pull request. Days, weeks and months are local
    (see --tz); the JSON gives their bounds in UTC."""
    from tokentag.report import rows, zones

    chosen = chosen_format(output_format, as_json)
    grouping = by or (REPOSITORY if all_repos else "session")
    zone = zones.resolve(tz_name)
    filters = _filters(grouping, since, until, last, zone)._replace(
        evidence=evidence_kinds(evidence))
    flagged = None
    if all_repos:
        report = _across_repositories(grouping, filters, zone)
    else:
        from tokentag.release import report_rows

        worktree = current_worktree()
        report = rows.Report(grouping, zone, report_rows.gather(worktree, grouping, filters,
                                                                zone))
        flagged = _spikes(worktree, report, filters)
    report.rows = rows.ordered(report.rows, grouping, order)
    if chosen == "json":
        data = report.as_json(breakdown)
        if flagged is not None:  # a commit, day or session row: null, or its spike
            for row in data["rows"]:
                row["spike"] = flagged[row["key"]].as_json() if row["key"] in flagged else None
        dump_json(data)
    elif chosen == "csv":
        _print_csv(report, breakdown, all_repos)
    else:
        _print_table(report, breakdown, all_repos)
        for key, spike in (flagged or {}).items():
            click.echo(f"spike: {key} cost {spike.text()} of the {spike.history} before it")
    return 0


def _spikes(worktree: Worktree, report: Report, filters: Filters) -> dict[str, Spike] | None:
    """The commits, days or sessions far above their recent median (report.spikes)."""
    from tokentag.report import spikes
    from tokentag.setup import config

    return spikes.in_report(worktree, report, filters, config.load(worktree.top).spikes)


def _filters(by: str, since: str | None, until: str | None, last: int | None,
             zone: Zone) -> Filters:
    from tokentag.ledger.filters import Filters
    from tokentag.report import zones

    if last is not None:
        if by not in PERIODS:
            raise click.UsageError("--last counts days, weeks or months: use it with --by "
                                   "day, week or month")
        if since is not None:
            raise click.UsageError("choose one of --last and --since")
        since = zones.last_periods_since(by, last, zone)
    filters = Filters(since=since, until=until, local=zone.utc_of)
    filters.time_range()  # a bad date is an error even where there is nothing to filter
    return filters


# -- gathering --------------------------------------------------------------------------------


def _across_repositories(by: str, filters: Filters, zone: Zone) -> Report:
    from tokentag.core import repolist
    from tokentag.git.gitdirs import find_worktree
    from tokentag.release import report_rows
    from tokentag.report import rows

    report = rows.Report(by, zone)
    gone = []
    for common_dir in repolist.remembered():
        top = os.path.dirname(common_dir) if os.path.basename(common_dir) == ".git" else None
        worktree = find_worktree(top) if top and os.path.isdir(common_dir) else None
        if worktree is None or os.path.realpath(worktree.common_dir) != common_dir:
            gone.append(common_dir)
            continue
        report.rows += report_rows.gather(worktree, by, filters, zone, worktree.top)
    if gone:
        click.echo(f"tokentag: {counted(len(gone), 'listed repository', 'listed repositories')}"
                   f" no longer there: {', '.join(gone)}", err=True)
    return report


# -- printing ---------------------------------------------------------------------------------

_NUMBERS = (("requests", 4), ("input", 6), ("output", 5), ("cache write", 8),
            ("cache read", 7), ("total", 1))


def _print_table(report: Report, breakdown: bool, all_repos: bool) -> None:
    from tokentag.report.rows import by_cost

    if not report.rows:
        click.echo("no requests to report")
        return
    terminal = Terminal.of()
    table = Table(_columns(report.by, all_repos, breakdown))
    for row in report.rows:
        table.add(*_lead_cells(report, row, all_repos), *_number_cells(row.totals),
                  style="quiet" if row.timeless else "")
        if breakdown:
            for model, totals in by_cost(row.models):
                label = f"  {terminal.branch}{model}"
                table.add(*_label_cells(report.by, label, True, all_repos),
                          *_number_cells(totals), style="sub")
    table.add(*_label_cells(report.by, "Total", False, all_repos),
              *_number_cells(report.totals), style="total")
    table.echo(terminal)
    for line in _footnotes(report):
        click.echo(line)


def _columns(by: str, all_repos: bool, breakdown: bool) -> list[Column]:
    lead = [Column(REPOSITORY, flex=True, min_width=12)] if _repo_column(by, all_repos) \
        else []
    if by == "commit":
        lead += [Column("commit", min_width=8), Column("date", priority=3),
                 Column("author", priority=9, flex=True, min_width=10),
                 Column("subject", priority=2, flex=True, min_width=28)]
    else:  # room for a model's name, in its own row or under its group's
        lead.append(Column(by, flex=True, min_width=24 if by == "model" or breakdown else 12))
    return [*lead, *(Column(name, right=True, priority=p) for name, p in _NUMBERS),
            Column("cost", right=True)]


def _repo_column(by: str, all_repos: bool) -> bool:
    return all_repos and by != REPOSITORY


def _lead_cells(report: Report, row: ReportRow, all_repos: bool) -> list[str]:
    if report.by == REPOSITORY:
        return [_home(row.key)]
    cells = [_home(row.repository or "")] if _repo_column(report.by, all_repos) else []
    if report.by != "commit":
        return [*cells, row.key]
    if row.timeless:
        return [*cells, row.key, "", "", "requests not committed yet"]
    info = row.commit
    if info is None:
        return [*cells, row.key[:8], "", "", "(not in this repository)"]
    return [*cells, row.key[:8], _local_time(report, info.committed, "%Y-%m-%d %H:%M"),
            info.author, info.subject]


def _label_cells(by: str, label: str, sub: bool, all_repos: bool) -> list[str]:
    """The lead cells of a breakdown or total line: the label in the key column (for
    commits, a model under the subject, where there is room for its name)."""
    cells = [""] if _repo_column(by, all_repos) else []
    if by != "commit":
        return [*cells, label]
    return [*cells, "", "", "", label] if sub else [*cells, label, "", "", ""]


def _number_cells(totals: Totals) -> list[str]:
    u = totals.usage
    return [number(totals.requests), number(u.input), number(u.output),
            number(u.cache_creation), number(u.cache_read), number(u.total), totals.cost_text()]


def _footnotes(report: Report) -> list[str]:
    notes = []
    totals = report.totals
    if totals.unpriced_requests:
        notes.append(f"* {counted(totals.unpriced_requests, 'request')} of models without a "
                     f"known price ({', '.join(sorted(totals.unpriced_models))}) are not in "
                     f"the cost")
    from_notes = sum(1 for row in report.rows if row.from_note)
    if from_notes:
        notes.append(f"{counted(from_notes, 'commit')} from git notes (not in this ledger)")
    if totals.requests:
        notes.append(f"evidence (tokens): {totals.evidence_text()}")
    if report.by in (*PERIODS, "commit"):
        notes.append(f"times in {report.zone.name} ({report.zone.offset_text()})")
    return notes


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home != "/" and path.startswith(home + os.sep) else path


def _print_csv(report: Report, breakdown: bool, all_repos: bool) -> None:
    from tokentag.report.rows import by_cost

    header = [*([REPOSITORY] if _repo_column(report.by, all_repos) else []), report.by]
    if report.by == "commit":
        header += ["date", "author", "subject"]
    header += [*(["model"] if breakdown else []), "requests", "input", "output",
               "cache_creation", "cache_read", "total", "cost_usd"]
    lines = []
    for row in report.rows:
        lead = [*([row.repository] if _repo_column(report.by, all_repos) else []), row.key]
        if report.by == "commit":
            info = row.commit
            lead += [_local_time(report, info.committed) if info else None,
                     info.author if info else None, info.subject if info else None]
        parts = by_cost(row.models) if breakdown else [(None, row.totals)]
        for model, totals in parts:
            lines.append([*lead, *([model] if breakdown else []), *_csv_numbers(totals)])
    dump_csv(header, lines)


def _local_time(report: Report, epoch: int, form: str = "%Y-%m-%dT%H:%M:%S") -> str:
    from datetime import UTC, datetime

    return report.zone.local(datetime.fromtimestamp(epoch, UTC)).strftime(form)


def _csv_numbers(totals: Totals) -> list[object]:
    u = totals.usage
    return [totals.requests, u.input, u.output, u.cache_creation, u.cache_read, u.total,
            totals.cost_usd]
