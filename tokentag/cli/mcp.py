"""`tokentag mcp`: the MCP server an agent asks about its own spending."""

from __future__ import annotations

import os

import click

from tokentag.core.errors import TokentagError


@click.command("mcp")
def mcp_command() -> int:
    """Serve the MCP tools get_token_summary, list_token_events and record_token_event on
    stdio, for this repository (Claude Code's project dir when it starts the server).
    `tokentag install --mcp` registers it in the project's .mcp.json."""
    from tokentag.git.gitdirs import find_worktree
    from tokentag.watch import mcp_server

    where = os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    worktree = find_worktree(where)
    if worktree is None:
        raise TokentagError(f"not inside a git repository: {where}")
    mcp_server.serve(worktree)
    return 0
