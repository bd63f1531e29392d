"""Running git from tokentag, including from inside git's own hooks.

Git exports GIT_DIR, GIT_INDEX_FILE and friends to hooks; a nested git call that
inherits them acts on the wrong repository or index. Identity variables stay, so notes
commits carry the user's name.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tokentag.errors import TokentagError

# What `git rev-parse --local-env-vars` lists: the variables through which git tells a hook
# about the repository it runs in. Left in place, they would redirect a git command that a
# hook runs for another repository or worktree.
REPO_LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)


def git_env() -> dict[str, str]:
    """The current environment without the repository-local variables git exports to hooks."""
    env = dict(os.environ)
    for name in REPO_LOCAL_ENV_VARS:
        env.pop(name, None)
    return env


def run(cwd: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run git in `cwd` and return its stdout without the trailing newline."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, input=stdin, text=True,
                                capture_output=True, env=git_env(), check=False)
    except FileNotFoundError:
        raise TokentagError("git is not installed or not on PATH") from None
    if check and result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"exit {result.returncode}"
        raise TokentagError(f"git {args[0]} failed: {message}")
    return result.stdout.rstrip("\n")


def resolve_commit(cwd: Path, ref: str) -> str:
    """The full id of the commit `ref` names, or a one-line error."""
    out = run(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not out:
        raise TokentagError(f"unknown revision: {ref}")
    return out
