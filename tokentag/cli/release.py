"""`tokentag release TAG`: a release's tokens and cost, into the release notes."""

from __future__ import annotations

from typing import Any

import click

from tokentag.cli.common import current_worktree, dump_json, evidence_kinds, evidence_option


@click.command("release")
@click.argument("tag", required=False)
@click.option("--from", "from_ref", metavar="REF", help="Start after REF, not the previous tag.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Markdown; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON; write nothing.")
@click.option("--all", "all_tags", is_flag=True, help="One row per release tag; write nothing.")
@evidence_option
@click.option("--compact/--full", "compact", default=None,
              help="One table line and a details block, or every table in view. "
                   "[default: compact_notes in the config, else --full]")
def release_command(tag: str | None, from_ref: str | None, to_stdout: bool, as_json: bool,
                    all_tags: bool, evidence: str | None, compact: bool | None) -> int:
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
        return _release_all(as_json, evidence_kinds(evidence))
    if tag is None:
        raise click.UsageError("missing TAG (or use --all)")
    worktree = current_worktree()
    settings = config.load(worktree.top)
    result = releases.build(worktree, tag, from_ref, settings.tag_pattern, settings.prices,
                            evidence_kinds(evidence), settings.spikes)
    if not result.total.requests:
        hint = releases.unfetched_notes(worktree)
        if hint:
            click.echo(f"tokentag: no usage recorded here; {hint}", err=True)
    if as_json:
        dump_json(result.as_json())
        return 0
    style = _style(worktree.top, settings, compact)
    if to_stdout:
        click.echo(notes_file.render(result, style=style))
    else:
        path = notes_file.update(worktree, settings.notes_file, result, style)
        if not result.range.tagged:
            click.echo(f"tokentag: {tag} is not tagged yet: the notes cover HEAD", err=True)
        click.echo(f"{result.summary()} -> {path}")
    return 0


def _style(top: str, settings: Any, compact: bool | None) -> Any:
    """The notes' look: --compact/--full over the config; commit links from the
    configured template, else from the origin remote."""
    from tokentag.git import gitrepo
    from tokentag.release import links, notes_file

    template = links.commit_url_template(gitrepo.open_repo(top).git, settings.commit_url)
    return notes_file.Style(settings.compact_notes if compact is None else compact, template)


def _release_all(as_json: bool, evidence: tuple[str, ...] | None) -> int:
    from tokentag.release import releases
    from tokentag.setup import config

    worktree = current_worktree()
    settings = config.load(worktree.top)
    tagged, unreleased = releases.build_all(worktree, settings.tag_pattern, settings.prices,
                                            evidence, settings.spikes)
    if as_json:
        dump_json({"releases": [r.as_json() for r in tagged],
                   "unreleased": unreleased.as_json() if unreleased else None})
        return 0
    from tokentag.cli.output import Column, Table, number

    table = Table([Column("tag", flex=True, min_width=12),
                   Column("previous", flex=True, min_width=12, priority=3),
                   Column("commits", right=True, priority=2),
                   Column("requests", right=True, priority=1),
                   Column("tokens", right=True), Column("cost", right=True)])
    for item in [*tagged, *([unreleased] if unreleased else [])]:
        rng, total = item.range, item.total
        table.add(rng.tag, rng.previous or "(root)", number(len(rng.commits)),
                  number(total.requests), number(total.usage.total), total.cost_text())
    table.echo()
    return 0
