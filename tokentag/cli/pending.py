"""`tokentag pending`: what no commit has taken yet; assign it to a commit or drop it."""

from __future__ import annotations

import time

import click

from tokentag.attribution.pending import SessionPending
from tokentag.cli.common import current_worktree, dump_json, utc


@click.command("pending")
@click.option("--assign", "commit", metavar="REV",
              help="Give the selected pending requests to this commit (marked assigned).")
@click.option("--drop", "dropping", is_flag=True,
              help="Set the selected pending requests aside (part of no release, shown as "
                   "dropped).")
@click.option("--session", help="Select a session's requests (an id or its prefix).")
@click.option("--before", help="Select requests made before this date or time.")
@click.option("--all", "everything", is_flag=True, help="Select every pending request here.")
@click.option("--reason", default="", help="Why they are dropped (kept in the ledger).")
@click.option("--all-worktrees", is_flag=True, help="List every worktree's pending requests.")
@click.option("--json", "as_json", is_flag=True)
def pending_command(commit: str | None, dropping: bool, session: str | None,
                    before: str | None, everything: bool, reason: str, all_worktrees: bool,
                    as_json: bool) -> int:
    """Pending usage (no commit has taken it): per session, with its age."""
    from tokentag.attribution import pending

    selection = pending.Selection(session, utc(before), everything)
    if commit and dropping:
        raise click.UsageError("choose one of --assign and --drop")
    worktree = current_worktree()
    if commit:
        count, sha = pending.assign(worktree, commit, selection)
        click.echo(f"assigned {count:,} pending request(s) to {sha[:12]}")
        return 0
    if dropping:
        count = pending.drop(worktree, selection, reason)
        click.echo(f"dropped {count:,} pending request(s): {reason.strip()}")
        return 0
    sessions = pending.by_session(worktree, all_worktrees)
    if as_json:
        dump_json({"sessions": [vars(s) for s in sessions]})
        return 0
    _print(sessions, all_worktrees)
    return 0


def _print(rows: list[SessionPending], all_worktrees: bool) -> None:
    if not rows:
        click.echo("nothing pending")
        return
    now = time.time()
    click.echo(f"{'session':<10} {'branch':<20} {'requests':>8} {'tokens':>14} {'age':>8}"
               + ("  worktree" if all_worktrees else ""))
    for s in rows:
        age = f"{s.age_days(now):.1f}d"
        click.echo(f"{s.session_id[:8]:<10} {(s.branch or '-')[:20]:<20} {s.requests:>8,} "
                   f"{s.tokens:>14,} {age:>8}" + (f"  {s.worktree}" if all_worktrees else ""))
    click.echo("assign: tokentag pending --assign REV --session ID | --before DATE | --all; "
               "drop: tokentag pending --drop ... --reason TEXT")

