"""`tokentag hook`, `tokentag git-hook` and `tokentag codex-notify`: what Claude Code, git
and Codex run. `_entry` takes the lean path to each without click; these serve
`python -m tokentag` and --help."""

from __future__ import annotations

import click


@click.command("hook")
def hook_command() -> int:
    """Read one Claude Code hook payload from stdin (any event) and capture its usage."""
    from tokentag.capture import hook as hook_module

    return hook_module.run()


@click.command("git-hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def git_hook_command(args: tuple[str, ...]) -> int:
    """What the installed git hooks call (post-commit, post-merge, post-rewrite, pre-push)."""
    from tokentag.attribution import git_hook

    return git_hook.run(list(args))


@click.command("codex-notify", hidden=True,
              context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def codex_notify_command(args: tuple[str, ...]) -> int:
    """What Codex's `notify` runs after each turn: capture the session's new usage."""
    from tokentag.capture import codex_notify

    return codex_notify.run(list(args))
