"""The user's repositories that tokentag keeps a ledger for, so `report --all-repos` can
show them together: one git common dir per line in `$XDG_STATE_HOME/tokentag/repositories`
(by default ~/.local/state/tokentag/repositories).

A repository is added when its ledger is made (by a hook, a commit or an import) and when
`tokentag install` runs in it; never on an ordinary hook call, which pays nothing for
the list. A line is appended with one `write` (O_APPEND): concurrent first sightings
of two repositories cannot tear each other's lines, and a repository listed twice is
read once.
"""

from __future__ import annotations

import os

LIST_NAME = "repositories"


def list_path() -> str:
    state = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):  # the XDG rule: a relative value is ignored
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "tokentag", LIST_NAME)


def remember(common_dir: str) -> None:
    """Add a repository (its git common dir) unless it is listed; a failure only leaves
    it out of `report --all-repos` until the next `tokentag install` there."""
    try:
        directory = os.path.realpath(common_dir)
        if directory in remembered():
            return
        path = list_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, os.fsencode(directory) + b"\n")
        finally:
            os.close(fd)
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        pass


def remembered() -> list[str]:
    """The listed common dirs, each once, in the order they were first seen."""
    try:
        with open(list_path(), "rb") as handle:
            lines = handle.read().split(b"\n")
    except OSError:
        return []
    return list(dict.fromkeys(os.fsdecode(line) for line in lines if line.strip()))
