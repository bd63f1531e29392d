"""`tokentag release TAG`: a release's tokens and cost, into the release notes."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json, evidence_kinds, evidence_option


@click.command("release")
@click.argument("tag", required=False)
@click.option("--from", "from_ref", metavar="REF", help="Start after REF, not the previous tag.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Markdown; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the contract JSON; write nothing.")
@click.option("--all", "all_tags", is_flag=True, help="One row per release tag; write nothing.")
@evidence_option
def release_command(tag: str | None, from_ref: str | None, to_stdout: bool, as_json: bool,
                    all_tags: bool, evidence: str | None) -> int:
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
    elif to_stdout:
        click.echo(notes_file.render(result))
    else:
        path = notes_file.update(worktree, settings.notes_file, result)
        if not result.range.tagged:
            click.echo(f"tokentag: {tag} is not tagged yet: the notes cover HEAD", err=True)
        click.echo(f"{result.summary()} -> {path}")
    return 0


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
    click.echo(f"{'tag':<24} {'previous':<24} {'commits':>7} {'requests':>8} {'tokens':>14} "
               f"{'cost':>12}")
    for item in [*tagged, *([unreleased] if unreleased else [])]:
        rng, total = item.range, item.total
        cost = total.cost_text()
        click.echo(f"{rng.tag[:24]:<24} {(rng.previous or '(root)')[:24]:<24} "
                   f"{len(rng.commits):>7} {total.requests:>8} {total.usage.total:>14,} "
                   f"{cost:>12}")
    return 0
