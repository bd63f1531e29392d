"""`tokentag install` / `uninstall`: git hooks for attribution, Claude Code hooks (and
Codex's `notify`) for capture."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tokentag.core import repolist
from tokentag.core.errors import TokentagError
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.store import Store
from tokentag.setup import claude_settings, codex_config, git_hooks, mcp_config, watch_settings


def install(worktree: Worktree, scope: str = "user", pre_push: bool = False,
            codex: bool = False, extras: Sequence[str] = ()) -> list[str]:
    """Make capture and attribution work for this repository, with the `extras` asked for
    (EXTRAS). Running it twice changes nothing."""
    hooks = (*git_hooks.DEFAULT_HOOKS, "pre-push") if pre_push else git_hooks.DEFAULT_HOOKS
    lines = git_hooks.install_git_hooks(worktree.top, sys.executable, hooks)
    lines.append(_register_claude_hooks(worktree, scope))
    if codex:
        path = codex_config.config_path()
        changed = codex_config.register(path)
        lines.append(f"Codex: notify {'registered in' if changed else 'already in'} {path}")
    lines += [_install_extra(extra, worktree, scope) for extra in extras]
    _start_discovery_now(Store.of(worktree))
    lines += _assign_backlog(worktree)
    repolist.remember(worktree.common_dir)  # a ledger made before the list was kept
    return lines


# What `tokentag install` adds on request: the MCP server (.mcp.json), the status line
# and the budget warning at the end of a turn (the settings file of the scope).
EXTRAS = ("mcp", "statusline", "budget-warnings")


def _install_extra(extra: str, worktree: Worktree, scope: str) -> str:
    if extra == "mcp":
        changed = mcp_config.register(worktree.top)
        return f"Claude Code: MCP server {'registered in' if changed else 'already in'} " \
               f"{mcp_config.mcp_path(worktree.top)}"
    path = claude_settings.settings_path_to_write(scope, worktree.top)
    if extra == "statusline":
        changed, beside = watch_settings.register_statusline(path, scope)
        also = f" (beside the one there: {beside})" if beside else ""
        return f"Claude Code: status line {'set in' if changed else 'already in'} {path}{also}"
    changed = watch_settings.register_warning(path, scope)
    return f"Claude Code: budget warnings {'registered in' if changed else 'already in'} {path}"


def _uninstall_mcp(worktree: Worktree) -> list[str]:
    """tokentag's server out of .mcp.json; a file it cannot read is the project's own
    business (it holds nothing tokentag could remove) and stops nothing else."""
    try:
        removed = mcp_config.unregister(worktree.top)
    except TokentagError as error:
        return [f"Claude Code: {error}"]
    return [f"Claude Code: MCP server removed from {mcp_config.mcp_path(worktree.top)}"] \
        if removed else []


def _uninstall_extras(path: Path) -> list[str]:
    lines = []
    if watch_settings.unregister_statusline(path):
        lines.append(f"Claude Code: status line removed from {path}")
    if watch_settings.unregister_warning(path):
        lines.append(f"Claude Code: budget warnings removed from {path}")
    return lines


def _assign_backlog(worktree: Worktree) -> list[str]:
    """Installed after weeks of capture: that usage goes to the commits that followed it,
    not all to the next commit."""
    from tokentag.importer.inference import assign_backlog

    requests, commits = assign_backlog(worktree)
    if not requests:
        return []
    return [f"captured before install: {requests:,} request(s) assigned to the "
            f"{commits:,} past commit(s) that followed them (inferred)"]


def _register_claude_hooks(worktree: Worktree, scope: str) -> str:
    path = claude_settings.settings_path_to_write(scope, worktree.top)
    if claude_settings.plugin_active(claude_settings.user_config_dir(), worktree.top):
        return "Claude Code: the tokentag plugin is active, so no settings hooks were added"
    changed = claude_settings.register_hooks(path, claude_settings.hook_command(scope))
    return f"Claude Code: hooks {'registered in' if changed else 'already in'} {path}"


def _start_discovery_now(store: Store) -> None:
    """Commits look for unseen transcripts changed since the last flush; the first flush
    starts at install, so history from before is left to `tokentag import`."""
    with store.writing() as writer:
        now = time.time_ns()
        writer.index.set_last_flush_ns(now, keep_existing=True)
        writer.index.set_installed_ns(now)


def uninstall(worktree: Worktree | None, scope: str | None = None,
              everything: bool = False, codex: bool = False) -> list[str]:
    """Remove what install added; the ledger and notes stay.

    Without a scope: this repository's git hooks and the hooks in its own settings files
    (project, local). The user's settings file serves every repository, so its hooks go
    only when asked for by `scope="user"` (which needs no repository) or `everything`. With
    a scope alone, only that settings file changes: the git hooks serve every scope.
    Codex's `notify` serves every repository too: it goes with `codex` (alone, only it
    changes) or `everything`."""
    if codex and scope is None and not everything:
        return [_unregister_codex()]
    if worktree is None and (scope != "user" or everything):
        raise TokentagError("not inside a git repository: outside one, only "
                            "`tokentag uninstall --scope user` or `--codex` has something "
                            "to remove")
    lines: list[str] = []
    if codex or everything:
        lines.append(_unregister_codex())
    if scope is None or everything:
        assert worktree is not None
        lines += git_hooks.uninstall_git_hooks(worktree.top)
        lines += _uninstall_mcp(worktree)
    scopes = claude_settings.SCOPES if everything else (scope,) if scope else (
        "project", "local")
    for each in scopes:
        try:
            path = claude_settings.settings_path_to_write(each,
                                                          worktree.top if worktree else None)
        except TokentagError as error:
            if scope is not None and not everything:
                raise
            lines.append(f"Claude Code: {error}; left alone")  # the rest still goes
            continue
        changed = claude_settings.unregister_hooks(path)
        if changed or scope is not None or everything:
            lines.append(f"Claude Code: hooks {'removed from' if changed else 'not found in'} "
                         f"{path}")
        lines += _uninstall_extras(path)
    if scope is None and not everything:
        user = claude_settings.settings_path("user", None)
        if claude_settings.registered_in(None):
            lines.append(f"Claude Code: the hooks in {user} stay: they capture in every "
                         f"repository (`tokentag uninstall --scope user` removes them)")
        if codex_config.registered(codex_config.config_path()):
            lines.append(f"Codex: the notify in {codex_config.config_path()} stays: it "
                         f"captures in every repository (`tokentag uninstall --codex` removes it)")
    return lines


def _unregister_codex() -> str:
    path = codex_config.config_path()
    changed = codex_config.unregister(path)
    return f"Codex: notify {'given back in' if changed else 'not found in'} {path}"
