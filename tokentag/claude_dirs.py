"""Where Claude Code keeps transcripts: `<config dir>/projects/<encoded cwd>/`."""

from __future__ import annotations

import os
import re
from pathlib import Path


def config_dirs() -> list[Path]:
    """`$CLAUDE_CONFIG_DIR` (a colon-separated list is allowed), else the two defaults."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR", "")
    if configured.strip():
        return [Path(p).expanduser() for p in configured.split(os.pathsep) if p.strip()]
    home = Path.home()
    return [home / ".claude", home / ".config" / "claude"]


def encode_project(path: Path | str) -> str:
    """Claude Code names a project's folder after its cwd, every other character a dash."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


def project_dirs(worktree_top: Path) -> list[Path]:
    name = encode_project(worktree_top)
    return [d / "projects" / name for d in config_dirs() if (d / "projects" / name).is_dir()]
