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
@click.option("--codex", is_flag=True,
              help="Also capture OpenAI Codex CLI sessions: tokentag becomes the `notify` "
                   "program in $CODEX_HOME/config.toml (a program already there still runs).")
@click.option("--mcp", is_flag=True,
              help="Also register the MCP server (`tokentag mcp`) in the project's .mcp.json.")
@click.option("--statusline", is_flag=True,
              help="Also show `tokentag statusline` in Claude Code's status line (beside the "
                   "status line set there, if any).")
@click.option("--budget-warnings", is_flag=True,
              help="Also tell the user at the end of a turn when a budget is newly exceeded.")
def install_command(scope: str, pre_push: bool, codex: bool, mcp: bool, statusline: bool,
                    budget_warnings: bool) -> int:
    """Install the git hooks here and register the Claude Code hooks."""
    from tokentag.setup import install

    asked = {"mcp": mcp, "statusline": statusline, "budget-warnings": budget_warnings}
    extras = [extra for extra in install.EXTRAS if asked[extra]]
    for line in install.install(current_worktree(), scope, pre_push, codex, extras):
        click.echo(line)
    return 0


@click.command("uninstall")
@click.option("--scope", type=click.Choice(["user", "project", "local"]),
              help="Remove only the Claude Code hooks of this settings file (user: the ones "
                   "that capture in every repository; works outside a repository too).")
@click.option("--codex", is_flag=True,
              help="Give Codex's `notify` back what it was before install (alone: only that).")
@click.option("--all", "everything", is_flag=True,
              help="This repository's git hooks, the hooks of every settings file, and "
                   "Codex's notify.")
def uninstall_command(scope: str | None, codex: bool, everything: bool) -> int:
    """Remove what install added: by default this repository's git hooks and its own
    Claude Code settings' hooks. The ledger and notes are kept."""
    import os

    from tokentag.git.gitdirs import find_worktree
    from tokentag.setup import install

    worktree = find_worktree(os.getcwd())
    for line in install.uninstall(worktree, scope, everything, codex):
        click.echo(line)
    return 0
