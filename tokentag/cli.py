"""The command line: parses arguments, calls the library, prints. No logic of its own."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tokentag import __version__, queries, report
from tokentag.commits import Totals
from tokentag.errors import TokentagError
from tokentag.store import Store

F = TypeVar("F", bound=Callable[..., int])


def main() -> None:
    """Entry point: expected errors become one line; unexpected ones a line and a log."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 130
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except TokentagError as error:
        click.echo(f"tokentag: {error}", err=True)
        code = error.exit_code
    except Exception as error:  # noqa: BLE001 - last resort, logged with its traceback
        code = _report_crash(error)
    sys.exit(code if isinstance(code, int) else 0)


def _report_crash(error: Exception) -> int:
    where = "stderr"
    try:
        store = Store.of(queries.current_worktree())
        store.directory.mkdir(parents=True, exist_ok=True)
        with store.log_path.open("a", encoding="utf-8") as log:
            log.write(f"crash {type(error).__name__}: {error}\n")
            log.writelines("  " + line for line in traceback.format_exception(error))
        where = str(store.log_path)
    except Exception:  # noqa: BLE001 - outside a repository there is nowhere to log
        traceback.print_exception(error)
    click.echo(f"tokentag: unexpected {type(error).__name__}: {error} (traceback: {where})",
               err=True)
    return 2


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
@click.version_option(__version__, prog_name="tokentag")
def cli() -> None:
    """Tokens and dollars that AI coding agents spend, attributed to git commits and releases."""


@cli.command()
def hook() -> int:
    """Read one Claude Code hook payload from stdin (any event) and capture its usage."""
    from tokentag import hook as hook_module

    return hook_module.run()


@cli.command("git-hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def git_hook(args: tuple[str, ...]) -> int:
    """What the installed git hooks call (post-commit, post-merge, post-rewrite, pre-push)."""
    from tokentag import git_hook_entry

    return git_hook_entry.run(list(args))


_SCOPE = click.option("--scope", type=click.Choice(["user", "project", "local"]),
                      default="user", show_default=True,
                      help="Claude settings file: ~/.claude (every session), .claude/settings"
                           ".json (committed) or .claude/settings.local.json (yours only).")


@cli.command("install")
@_SCOPE
@click.option("--pre-push", is_flag=True, help="Also push tokentag notes along with branches.")
def install_command(scope: str, pre_push: bool) -> int:
    """Install the git hooks here and register the Claude Code hooks."""
    from tokentag import install

    for line in install.install(queries.current_worktree(), scope, pre_push):
        click.echo(line)
    return 0


@cli.command("uninstall")
@_SCOPE
def uninstall_command(scope: str) -> int:
    """Remove exactly what install added. The ledger and notes are kept."""
    from tokentag import install

    for line in install.uninstall(queries.current_worktree(), scope):
        click.echo(line)
    return 0


@cli.command()
@click.argument("commit", default="HEAD")
@click.option("--json", "as_json", is_flag=True)
def show(commit: str, as_json: bool) -> int:
    """Tokens and cost of one commit, by model."""
    result = queries.show_commit(queries.current_worktree(), commit)
    if as_json:
        _dump(result)
        return 0
    click.echo(f"commit {result['commit']} ({result['source']})")
    click.echo(f"{result['requests']} requests, {result['sessions']} sessions")
    by_model = {row["model"]: row for row in result["by_model"]}
    for model, row in by_model.items():
        t = row["tokens"]
        cost = "unpriced" if row["cost_usd"] is None else f"${row['cost_usd']:,.4f}"
        click.echo(f"  {model:<32} in {t['input']:>8,} out {t['output']:>8,} "
                   f"cache write {t['cache_creation']:>10,} cache read {t['cache_read']:>12,}"
                   f"  {cost}")
    total = result["tokens"]
    cost = "unpriced" if result["cost_usd"] is None else f"${result['cost_usd']:,.4f}"
    click.echo(f"  {'total':<32} {total['total']:,} tokens  {cost}")
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> int:
    """Where the ledger is, what it holds, and what went wrong lately."""
    result = queries.status(Store.of(queries.current_worktree()))
    if as_json:
        _dump(result.as_json())
        return 0
    click.echo(f"ledger:        {result.ledger}")
    click.echo(f"requests:      {result.requests} ({result.pending} pending, "
               f"{result.sessions} sessions, {result.commits} commits)")
    click.echo(f"last capture:  {result.last_capture or 'never'}")
    problems = f"{result.invalid_lines} unreadable ledger lines, " \
               f"{result.logged_failures} logged failures"
    click.echo(f"problems:      {problems}")
    if result.last_failure:
        click.echo(f"last failure:  {result.last_failure}")
    return 0


def _filter_options(func: F) -> F:
    options = [
        click.option("--since", help="From this date or time (YYYY-MM-DD or ISO 8601, UTC)."),
        click.option("--until", help="Up to this date (inclusive) or time (exclusive)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("report")
@click.option("--by", "by", default="session", show_default=True,
              type=click.Choice(list(report.GROUP_KEYS)))
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON.")
def report_command(by: str, since: str | None, until: str | None, as_json: bool) -> int:
    """Tokens, requests and cost per session, model, branch, period or commit."""
    store = Store.of(queries.current_worktree())
    with store.reading() as index:
        groups = report.grouped_totals(index, by, report.Filters(since=since, until=until))
    totals = report.overall(groups)
    if as_json:
        rows = [{"key": key, **t.as_json()} for key, t in groups.items()]
        _dump({"by": by, "rows": rows, "totals": totals.as_json()})
        return 0
    _print_table(by, groups, totals)
    return 0


def _print_table(by: str, groups: dict[str, Totals], totals: Totals) -> None:
    header = f"{by:<40} {'requests':>8} {'input':>10} {'output':>10} {'cache write':>12} " \
             f"{'cache read':>12} {'total':>12} {'cost':>10}"
    click.echo(header)
    for key, t in [*groups.items(), ("TOTAL", totals)]:
        u = t.usage
        cost = "unpriced" if t.cost_usd is None else f"${t.cost_usd:,.2f}"
        if t.unpriced_requests and t.cost_usd is not None:
            cost += "*"
        click.echo(f"{key[:40]:<40} {t.requests:>8} {u.input:>10,} {u.output:>10,} "
                   f"{u.cache_creation:>12,} {u.cache_read:>12,} {u.total:>12,} {cost:>10}")
    if totals.unpriced_requests:
        click.echo(f"* {totals.unpriced_requests} requests of models without a known price "
                   f"({', '.join(sorted(totals.unpriced_models))}) are not in the cost")


@cli.command("log")
@click.option("--session")
@click.option("--model")
@click.option("--branch")
@click.option("--agent", help="Subagent id ('sidechain' for old inline subagents).")
@click.option("--pending", "state", flag_value="pending", help="Only requests not yet committed.")
@click.option("--committed", "state", flag_value="committed", help="Only attributed requests.")
@_filter_options
@click.option("-n", "--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def log_command(session: str | None, model: str | None, branch: str | None, agent: str | None,
                state: str | None, since: str | None, until: str | None, limit: int,
                as_json: bool) -> int:
    """API requests, newest first."""
    filters = report.Filters(since=since, until=until, session=session, model=model,
                             branch=branch, agent=agent, state=state)
    with Store.of(queries.current_worktree()).reading() as index:
        rows = queries.requests_log(index, filters, limit if limit > 0 else None)
    if as_json:
        _dump({"requests": rows})
        return 0
    for row in rows:
        t = row["tokens"]
        where = (row["commit"] or "pending")[:10]
        click.echo(f"{row['timestamp'][:19]}  {row['session'][:8]}  {row['model'][:26]:<26} "
                   f"in {t['input']:>6} out {t['output']:>6} cw {t['cache_creation']:>7} "
                   f"cr {t['cache_read']:>9}  {where}")
    return 0


# --- release, config and tag commands (issue: Release) -------------------------------------


# --- import command (issue: Backfill) ------------------------------------------------------


# --- sync command (issue: Teams) -----------------------------------------------------------


# --- doctor and demo commands (issue: Install and first run) -------------------------------
