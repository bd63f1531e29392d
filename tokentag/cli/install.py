"""`tokentag install` and `tokentag uninstall`."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree

_SCOPE = click.option("--scope", type=click.Choice(["user", "project", "local"]),
                      default="user", show_default=True,
                      help="Claude settings file: ~/.claude (every session), .claude/settings"
                           ".json (committed) or .claude/settings.local.json (yours only).")


@click.command("install")
@_SCOPE
@click.option("--pre-push", is_flag=True, help="Also push tokentag notes along with branches.")
def install_command(scope: str, pre_push: bool) -> int:
    """Install the git hooks here and register the Claude Code hooks."""
    from tokentag.setup import install

    for line in install.install(current_worktree(), scope, pre_push):
        click.echo(line)
    return 0


@click.command("uninstall")
@_SCOPE
def uninstall_command(scope: str) -> int:
    """Remove exactly what install added. The ledger and notes are kept."""
    from tokentag.setup import install

    for line in install.uninstall(current_worktree(), scope):
        click.echo(line)
    return 0
