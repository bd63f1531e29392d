"""Where OpenAI Codex CLI keeps sessions: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`
(and the same layout under `archived_sessions/`), `$CODEX_HOME` being `~/.codex` unless
set. The date folders are local dates; a rollout's name ends with its session id."""

from __future__ import annotations

import os

from tokentag.core import scan

SESSION_DIRS = ("sessions", "archived_sessions")


def is_rollout(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith("rollout-") and name.endswith(".jsonl")


def codex_home() -> str:
    configured = os.environ.get("CODEX_HOME", "")
    if configured.strip():
        return os.path.normpath(os.path.expanduser(configured))
    return os.path.join(os.path.expanduser("~"), ".codex")


def config_path() -> str:
    return os.path.join(codex_home(), "config.toml")


def session_roots() -> list[str]:
    home = codex_home()
    return [os.path.join(home, name) for name in SESSION_DIRS]


def rollouts() -> dict[str, os.stat_result]:
    """Every rollout file, live and archived, by path."""
    return scan.jsonl_files(session_roots(), prefix="rollout-")


def running_rollout() -> str | None:
    """The rollout of the Codex session this process runs under, if any: Codex gives the
    commands it runs (an agent's `git commit`, and so its git hooks) CODEX_THREAD_ID."""
    thread = os.environ.get("CODEX_THREAD_ID", "")
    return find_rollout(thread) if thread else None


def find_rollout(session_id: str) -> str | None:
    """The live rollout of a session, looked for newest day first: a session's file is in
    the folder of the day it started, most often today's."""
    if not session_id or os.sep in session_id:
        return None
    suffix = f"-{session_id}.jsonl"
    root = os.path.join(codex_home(), "sessions")
    for year in _newest_first(root):
        for month in _newest_first(year):
            for day in _newest_first(month):
                for name in _names(day):
                    if name.startswith("rollout-") and name.endswith(suffix):
                        return os.path.join(day, name)
    return None


def _newest_first(directory: str) -> list[str]:
    return [os.path.join(directory, name)
            for name in sorted(_names(directory), reverse=True) if name.isdigit()]


def _names(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []
