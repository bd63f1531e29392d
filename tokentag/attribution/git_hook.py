"""`tokentag git-hook NAME [ARGS]`: what the installed git hooks call.

A git hook must never make a git command fail: every failure is logged to the
repository's tokentag log and the exit status is 0. Standard library only, because it
runs on every commit.
"""

from __future__ import annotations

import os
import sys

from tokentag.attribution import attribute
from tokentag.core import faillog
from tokentag.git.gitdirs import Worktree, find_worktree


def run(args: list[str]) -> int:
    worktree: Worktree | None = None
    try:
        worktree = find_worktree(os.getcwd())
        if worktree is None or not args:
            return 0
        dispatch(worktree, args[0], args[1:])
    except Exception as error:  # noqa: BLE001 - git must go on whatever happens here
        where = f"git-hook {args[0] if args else ''}".strip()
        faillog.log_failure(worktree.tokentag_dir if worktree else None, error, where,
                            expected=isinstance(error, OSError))
    return 0


def dispatch(worktree: Worktree, name: str, args: list[str]) -> None:
    if name == "post-commit":
        attribute.on_post_commit(worktree)
    elif name == "post-merge":
        attribute.on_post_merge(worktree)
    elif name == "prepare-commit-msg":
        attribute.on_prepare_commit_msg(worktree)
    elif name == "post-rewrite":
        kind = args[0] if args else "rebase"
        attribute.on_post_rewrite(worktree, kind, sys.stdin.read())
    elif name == "pre-push":
        # Installed only with `tokentag install --pre-push`: sync the notes with the remote
        # in the background, so the push itself never waits for or fails on them.
        from tokentag.notes import sync

        sync.on_pre_push(worktree, args, sys.stdin.read())
