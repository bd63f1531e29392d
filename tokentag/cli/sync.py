"""`tokentag sync [REMOTE]`: share the notes through a remote."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json
from tokentag.cli.output import counted


@click.command("sync")
@click.argument("remote", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def sync_command(remote: str | None, as_json: bool) -> int:
    """Fetch the remote's tokentag notes, merge them with yours, and push the result."""
    from tokentag.notes import NOTES_REF, sync

    result = sync.sync(current_worktree(), remote)
    if as_json:
        dump_json(result.as_json())
        return 0
    m = result.merged
    click.echo(f"notes merged with {result.remote}: {m.from_remote} from the remote, "
               f"{m.from_local} kept from here, {m.from_ledger} recomputed from the ledger, "
               f"{m.joined} joined")
    retries = f" after {result.attempts - 1} rejected push(es)" if result.attempts > 1 else ""
    if result.pushed:
        click.echo(f"pushed {counted(result.pushed_notes, 'note')} ({NOTES_REF}) to "
                   f"{result.remote}{retries}")
    elif result.notes_head is None:
        click.echo(f"no tokentag notes here or on {result.remote} yet")
    else:
        click.echo(f"{result.remote} already has every note here")
    return 0
