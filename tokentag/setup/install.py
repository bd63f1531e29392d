"""`tokentag install` / `uninstall`: git hooks for attribution, Claude Code hooks for capture."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tokentag.git.gitdirs import Worktree
from tokentag.ledger.store import Store
from tokentag.setup import claude_settings, git_hooks


def install(worktree: Worktree, scope: str = "user", pre_push: bool = False) -> list[str]:
    """Make capture and attribution work for this repository. Running it twice changes nothing."""
    hooks = (*git_hooks.DEFAULT_HOOKS, "pre-push") if pre_push else git_hooks.DEFAULT_HOOKS
    lines = git_hooks.install_git_hooks(worktree.top, sys.executable, hooks)
    lines.append(_register_claude_hooks(worktree, scope))
    _start_discovery_now(Store.of(worktree))
    return lines


def _register_claude_hooks(worktree: Worktree, scope: str) -> str:
    path = claude_settings.settings_path(scope, worktree.top)
    if claude_settings.plugin_active(claude_settings.user_config_dir(), worktree.top):
        return "Claude Code: the tokentag plugin is active, so no settings hooks were added"
    changed = claude_settings.register_hooks(path, claude_settings.hook_command())
    return f"Claude Code: hooks {'registered in' if changed else 'already in'} {path}"


def _start_discovery_now(store: Store) -> None:
    """Commits look for unseen transcripts changed since the last flush; the first flush
    starts at install, so history from before is left to `tokentag import`."""
    with store.writing() as writer:
        writer.index.set_last_flush_ns(time.time_ns(), keep_existing=True)


def uninstall(worktree: Worktree, scope: str = "user") -> list[str]:
    """Remove exactly what install added; the ledger and notes stay."""
    lines = git_hooks.uninstall_git_hooks(worktree.top)
    path: Path = claude_settings.settings_path(scope, worktree.top)
    changed = claude_settings.unregister_hooks(path)
    lines.append(f"Claude Code: hooks {'removed from' if changed else 'not found in'} {path}")
    return lines
