"""Where Claude Code keeps transcripts: `<config dir>/projects/<encoded cwd>/`."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from _typeshed import StrPath


def config_dirs() -> list[str]:
    """`$CLAUDE_CONFIG_DIR` (a colon-separated list is allowed), else the two defaults."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR", "")
    if configured.strip():
        return [os.path.normpath(os.path.expanduser(p))
                for p in configured.split(os.pathsep) if p.strip()]
    home = os.path.expanduser("~")
    return [os.path.join(home, ".claude"), os.path.join(home, ".config", "claude")]


def settings_dir() -> str:
    """Where Claude Code reads the user's settings.json and plugins: the first config dir."""
    return config_dirs()[0]


def encode_project(path: StrPath) -> str:
    """Claude Code names a project's folder after its cwd, every other character a dash."""
    # Not `re.sub`: `re` would cost every commit 5 ms of imports.
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in os.fspath(path))


def project_dirs(worktree_top: StrPath) -> list[str]:
    name = encode_project(worktree_top)
    found = (os.path.join(d, "projects", name) for d in config_dirs())
    return [d for d in found if os.path.isdir(d)]
