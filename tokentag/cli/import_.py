"""`tokentag import`: past transcripts into the ledger, past work onto past commits."""

from __future__ import annotations

import sys

import click

from tokentag.cli.common import current_worktree, dump_json, utc, utc_range_options


@click.command("import")
@utc_range_options
@click.option("--path-map", "path_map", multiple=True, metavar="OLD=NEW",
              help="Treat requests recorded under OLD as if run under NEW (a moved checkout, "
                   "another machine). Repeatable.")
@click.option("--all-projects", is_flag=True,
              help="Look in every project dir, not only those named after this repository's "
                   "worktrees (sessions started outside the repository that cd'ed into it).")
@click.option("--agent", type=click.Choice(["claude", "codex", "all"]), default="claude",
              show_default=True,
              help="Whose sessions to read: Claude Code's, OpenAI Codex CLI's ($CODEX_HOME, "
                   "else ~/.codex; every session, each request routed by its cwd), or both.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_command(since: str | None, until: str | None, path_map: tuple[str, ...],
                   all_projects: bool, agent: str, as_json: bool) -> int:
    """Bring in past Claude Code (or Codex) sessions and tie them to past commits."""
    from tokentag.importer import run
    from tokentag.importer.options import AGENTS, Options, PathMap

    options = Options(
        since=utc(since), until=utc(until, end=True),
        path_map=PathMap.parse(path_map), all_projects=all_projects,
        agents=AGENTS if agent == "all" else (agent,))
    work = run.plan_for(current_worktree(), options)
    if sys.stderr.isatty() and work.jobs:  # a bar only for a person watching
        def files_done(done: int | None) -> str:
            return f"{done or 0}/{len(work.jobs)} files"

        with click.progressbar(length=work.bytes_to_read, label="reading transcripts",
                               file=sys.stderr, item_show_func=files_done) as bar:
            summary = run.execute(work, lambda done, size: bar.update(size, done))
    else:
        summary = run.execute(work)
    if as_json:
        dump_json(summary.as_json())
        return 0
    for line in summary.lines():
        click.echo(line)
    return 0

