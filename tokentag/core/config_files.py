"""Where a repository's settings live: `.tokentag.toml`, and `[tool.tokentag]` in
`pyproject.toml`. Lean, so that a command can tell whether there is anything to load
before it loads the models that validate it (pydantic costs ~150 ms to import)."""

from __future__ import annotations

import os

PYPROJECT = "pyproject.toml"
OWN_FILE = ".tokentag.toml"


def paths(top: str) -> list[str]:
    """The files settings may be in, in the order they are merged (the later wins)."""
    return [os.path.join(top, PYPROJECT), os.path.join(top, OWN_FILE)]


def any_present(top: str) -> bool:
    """Whether one of them exists (pyproject.toml may not hold any)."""
    return any(os.path.isfile(path) for path in paths(top))
