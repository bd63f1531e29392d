"""The command line: parses arguments, calls the library, prints. No logic of its own."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tokentag import __version__
from tokentag.core.errors import TokentagError
from tokentag.core.money import usd
from tokentag.git.gitdirs import Worktree, find_worktree

if TYPE_CHECKING:
    from tokentag.report.costs import Totals

# Each command imports what it needs: `tokentag import` has no use for the report and
# pricing modules, and a repeated import is mostly start-up (bench/README.md).
# `report --by`: grouping.GROUP_KEYS, and tag (a test holds them equal).
REPORT_GROUPS = ("session", "model", "branch", "day", "week", "month", "commit", "agent",
                 "tag")

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


def current_worktree() -> Worktree:
    worktree = find_worktree(os.getcwd())
    if worktree is None:
        raise TokentagError("not inside a git repository (run tokentag from your project)")
    return worktree


def _report_crash(error: Exception) -> int:
    """One line here, the whole traceback in the log: the repository's when tokentag keeps
    one there already (a crash must not create it), else the user's."""
    from tokentag.core import faillog

    worktree = find_worktree(os.getcwd())
    own = worktree.tokentag_dir if worktree and os.path.isdir(worktree.tokentag_dir) else None
    log = faillog.log_failure(own, error, "crash", traceback_lines=1000)
    where = f"traceback in {log}" if log else "no log could be written"
    click.echo(f"tokentag: unexpected {type(error).__name__}: {faillog.one_line(error)} "
               f"({where})", err=True)
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
    from tokentag.capture import hook as hook_module

    return hook_module.run()


@cli.command("git-hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def git_hook(args: tuple[str, ...]) -> int:
    """What the installed git hooks call (post-commit, post-merge, post-rewrite, pre-push)."""
    from tokentag.attribution import git_hook

    return git_hook.run(list(args))


_SCOPE = click.option("--scope", type=click.Choice(["user", "project", "local"]),
                      default="user", show_default=True,
                      help="Claude settings file: ~/.claude (every session), .claude/settings"
                           ".json (committed) or .claude/settings.local.json (yours only).")


@cli.command("install")
@_SCOPE
@click.option("--pre-push", is_flag=True, help="Also push tokentag notes along with branches.")
def install_command(scope: str, pre_push: bool) -> int:
    """Install the git hooks here and register the Claude Code hooks."""
    from tokentag.setup import install

    for line in install.install(current_worktree(), scope, pre_push):
        click.echo(line)
    return 0


@cli.command("uninstall")
@_SCOPE
def uninstall_command(scope: str) -> int:
    """Remove exactly what install added. The ledger and notes are kept."""
    from tokentag.setup import install

    for line in install.uninstall(current_worktree(), scope):
        click.echo(line)
    return 0


@cli.command()
@click.argument("commit", default="HEAD")
@click.option("--json", "as_json", is_flag=True)
def show(commit: str, as_json: bool) -> int:
    """Tokens and cost of one commit, by model."""
    from tokentag.report import queries
    from tokentag.setup import config

    worktree = current_worktree()
    result = queries.show_commit(worktree, commit, config.load(worktree.top).prices)
    if as_json:
        _dump(result)
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
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> int:
    """Where the ledger is, what it holds, and what went wrong lately."""
    from tokentag.ledger.store import Store
    from tokentag.report import queries

    result = queries.status(Store.of(current_worktree()))
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
              type=click.Choice(REPORT_GROUPS))
@_filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON.")
def report_command(by: str, since: str | None, until: str | None, as_json: bool) -> int:
    """Tokens, requests and cost per session, model, branch, period, commit or release tag."""
    from tokentag.ledger.store import Store
    from tokentag.release import releases
    from tokentag.report import grouping
    from tokentag.setup import config

    worktree = current_worktree()
    settings = config.load(worktree.top)
    filters = grouping.Filters(since=since, until=until)
    with Store.of(worktree).reading() as index:
        if by == "tag":
            groups = releases.grouped_by_tag(worktree, index, filters, settings.prices,
                                            settings.tag_pattern)
        else:
            groups = grouping.grouped_totals(index, by, filters, settings.prices)
    totals = grouping.overall(groups)
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
        cost = t.cost_text()
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
    from tokentag.ledger.store import Store
    from tokentag.report import grouping, queries

    filters = grouping.Filters(since=since, until=until, session=session, model=model,
                             branch=branch, agent=agent, state=state)
    with Store.of(current_worktree()).reading() as index:
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


@cli.command("release")
@click.argument("tag", required=False)
@click.option("--from", "from_ref", metavar="REF", help="Start after REF, not the previous tag.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Markdown; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON; write nothing.")
@click.option("--all", "all_tags", is_flag=True, help="One row per release tag; write nothing.")
def release_command(tag: str | None, from_ref: str | None, to_stdout: bool, as_json: bool,
                    all_tags: bool) -> int:
    """Tokens and cost of release TAG, written into the release notes.

    The release is the commits reachable from TAG and not from the previous tag. A TAG
    that does not exist yet means HEAD, so the notes can be written before tagging.
    """
    from tokentag.release import notes_file, releases
    from tokentag.setup import config

    if to_stdout and as_json:
        raise click.UsageError("choose one of --stdout and --json")
    if all_tags:
        if tag or from_ref or to_stdout:
            raise click.UsageError("--all takes no TAG, --from or --stdout")
        return _release_all(as_json)
    if tag is None:
        raise click.UsageError("missing TAG (or use --all)")
    worktree = current_worktree()
    settings = config.load(worktree.top)
    result = releases.build(worktree, tag, from_ref, settings.tag_pattern, settings.prices)
    if as_json:
        _dump(result.as_json())
    elif to_stdout:
        click.echo(notes_file.render(result))
    else:
        path = settings.notes_path(worktree.top)
        notes_file.update(path, result)
        if not result.range.tagged:
            click.echo(f"tokentag: {tag} is not tagged yet: the notes cover HEAD", err=True)
        click.echo(f"{result.summary()} -> {path}")
    return 0


def _release_all(as_json: bool) -> int:
    from tokentag.release import releases
    from tokentag.setup import config

    worktree = current_worktree()
    settings = config.load(worktree.top)
    tagged, unreleased = releases.build_all(worktree, settings.tag_pattern, settings.prices)
    if as_json:
        _dump({"releases": [r.as_json() for r in tagged],
               "unreleased": unreleased.as_json() if unreleased else None})
        return 0
    click.echo(f"{'tag':<24} {'previous':<24} {'commits':>7} {'requests':>8} {'tokens':>14} "
               f"{'cost':>12}")
    for item in [*tagged, *([unreleased] if unreleased else [])]:
        rng, total = item.range, item.total
        cost = total.cost_text()
        click.echo(f"{rng.tag[:24]:<24} {(rng.previous or '(root)')[:24]:<24} "
                   f"{len(rng.commits):>7} {total.requests:>8} {total.usage.total:>14,} "
                   f"{cost:>12}")
    return 0


@cli.group("config")
def config_group() -> None:
    """Settings: .tokentag.toml, or [tool.tokentag] in pyproject.toml (read only)."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True)
def config_show(as_json: bool) -> int:
    """The settings in force, defaults included."""
    from tokentag.setup import config

    data = config.effective(current_worktree().top)
    if as_json:
        _dump(data)
    else:
        click.echo(config.as_toml(data).rstrip("\n"))
    return 0


@config_group.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> int:
    """Set KEY: notes_file, tag_pattern, or prices.<model>.<input_mtok|output_mtok|...>."""
    from tokentag.setup import config

    path, missing = config.set_value(current_worktree().top, key, value)
    click.echo(f"{key} = {value} ({path.name})")
    for name in missing:
        click.echo(f"tokentag: set {name} too: until then the config is incomplete", err=True)
    return 0


@config_group.command("unset")
@click.argument("key")
def config_unset(key: str) -> int:
    """Remove KEY from .tokentag.toml."""
    from tokentag.setup import config

    path = config.unset_value(current_worktree().top, key)
    click.echo(f"{key} removed ({path.name})")
    return 0


# --- import command (issue: Backfill) ------------------------------------------------------


@cli.command("import")
@_filter_options
@click.option("--path-map", "path_map", multiple=True, metavar="OLD=NEW",
              help="Treat requests recorded under OLD as if run under NEW (a moved checkout, "
                   "another machine). Repeatable.")
@click.option("--all-projects", is_flag=True,
              help="Look in every project dir, not only those named after this repository's "
                   "worktrees (sessions started outside the repository that cd'ed into it).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_command(since: str | None, until: str | None, path_map: tuple[str, ...],
                   all_projects: bool, as_json: bool) -> int:
    """Bring in past Claude Code transcripts and tie them to past commits."""
    from tokentag.importer import discovery, run
    from tokentag.importer.options import Options, PathMap

    options = Options(
        since=_utc(since), until=_utc(until, end=True),
        path_map=PathMap.parse(path_map), all_projects=all_projects)
    work = discovery.plan(current_worktree(), options)
    if sys.stderr.isatty() and work.jobs:  # a bar only for a person watching
        def files_done(done: int | None) -> str:
            return f"{done or 0}/{len(work.jobs)} files"

        with click.progressbar(length=work.bytes_to_read, label="reading transcripts",
                               file=sys.stderr, item_show_func=files_done) as bar:
            summary = run.execute(work, lambda done, size: bar.update(size, done))
    else:
        summary = run.execute(work)
    if as_json:
        _dump(summary.as_json())
        return 0
    _print_import(summary)
    return 0


def _utc(moment: str | None, end: bool = False) -> str | None:
    if not moment:
        return None
    from tokentag.report import grouping

    return grouping.normalise_time(moment, end)


def _print_import(s: Any) -> None:
    click.echo(f"files:      {s.files} transcripts, {s.files_read} with new lines "
               f"({s.bytes_read / 1e6:,.1f} MB), {s.unreadable_files} unreadable")
    click.echo(f"requests:   {s.requests:,} of this repository: {s.new:,} new, {s.known:,} "
               f"already known ({s.corrected:,} with raised counts)")
    click.echo(f"skipped:    {s.skipped_lines:,} unreadable lines, {s.other_repository:,} "
               f"requests of other repositories, {s.out_of_range:,} out of --since/--until")
    click.echo(f"attributed: {s.inferred:,} requests to {s.inferred_commits:,} past commits "
               f"(inferred)")


# --- sync command (issue: Teams) -----------------------------------------------------------


@cli.command("sync")
@click.argument("remote", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def sync_command(remote: str | None, as_json: bool) -> int:
    """Fetch the remote's tokentag notes, merge them with yours, and push the result."""
    from tokentag.notes import sync
    from tokentag.notes.content import NOTES_REF

    result = sync.sync(current_worktree(), remote)
    if as_json:
        _dump(result.as_json())
        return 0
    m = result.merged
    click.echo(f"notes merged with {result.remote}: {m.from_remote} from the remote, "
               f"{m.from_local} kept from here, {m.from_ledger} recomputed from the ledger, "
               f"{m.joined} joined")
    retries = f" after {result.attempts - 1} rejected push(es)" if result.attempts > 1 else ""
    if result.pushed:
        click.echo(f"pushed {NOTES_REF} to {result.remote}{retries}")
    elif result.notes_head is None:
        click.echo(f"no tokentag notes here or on {result.remote} yet")
    else:
        click.echo(f"{result.remote} already has every note here")
    return 0


# --- doctor and demo commands (issue: Install and first run) -------------------------------


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor_command(as_json: bool) -> int:
    """Check every link from Claude Code to the ledger and git; print the fix for each problem."""
    from tokentag.setup import doctor

    checks = doctor.run_checks()
    if as_json:
        _dump(doctor.as_json(checks))
    else:
        for line in doctor.render(checks):
            click.echo(line)
    return 0 if doctor.all_ok(checks) else 1


@cli.command("demo")
@click.option("--keep", is_flag=True, help="Keep the throwaway directory and print its path.")
def demo_command(keep: bool) -> int:
    """Run the whole pipeline on a built-in sample session in a throwaway repository."""
    from tokentag.setup import demo

    result = demo.run(keep=keep, say=lambda line: click.echo(f"demo: {line}", err=True))
    click.echo(f"Commits:\n\n{result.commits}\n")
    click.echo(f"Release notes (tokentag release {demo.RELEASE_TAG} --stdout):\n")
    click.echo(result.release_notes.rstrip("\n") + "\n")
    click.echo(f"Per commit (tokentag report --by commit):\n\n{result.report.rstrip()}")
    if keep:
        click.echo(f"\nkept {result.directory} (repository: {result.directory / 'greeter'})")
    return 0
