"""`tokentag codex-notify [PROGRAM [ARGS...]] PAYLOAD`: what Codex's `notify` runs.

Codex runs its `notify` program after every turn with one more argument, a JSON object:
`{"type":"agent-turn-complete","thread-id":...,"cwd":...,...}`. It holds no token counts:
the session's rollout (found by its thread id) holds them, and its new bytes are read as
the Claude Code hook reads a transcript's. A notify program the user had before install
is kept as PROGRAM ARGS and run after the capture, with the same payload, in this process's
place. Whatever happens here, nothing is printed and the exit status is 0 (the program run
after, if any, has its own); failures go to the repository's log.

Codex versions with hooks send their Stop event the Claude Code way, `transcript_path`
included: `tokentag hook` takes those. Lean: the standard library only.
"""

from __future__ import annotations

import os

from tokentag.capture.catch_up import catch_up
from tokentag.capture.hook import PayloadError, log_failure, parse_payload
from tokentag.core import codex_paths
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.notes import publish

TURN_COMPLETE = "agent-turn-complete"


def run(args: list[str]) -> int:
    home: Worktree | None = None
    try:
        if not args:
            raise PayloadError("no payload argument")
        payload = parse_payload(args[-1].encode())
        home = find_worktree(payload["cwd"])
        if home is None:
            raise PayloadError(f"cwd is outside any git repository: {payload['cwd']}")
        if payload.get("type") == TURN_COMPLETE:
            capture(payload, home)
    except Exception as error:  # noqa: BLE001 - Codex must never see tokentag fail
        log_failure(home, error, "codex-notify")
    if len(args) > 1:
        return run_next(args[:-1], args[-1], home)
    return 0


def capture(payload: dict[str, object], home: Worktree) -> None:
    thread = payload.get("thread-id")
    if not isinstance(thread, str) or not thread:
        raise PayloadError("payload has no thread-id")
    rollout = codex_paths.find_rollout(thread)
    if rollout is None:
        raise PayloadError(f"no rollout of session {thread} in {codex_paths.codex_home()}")
    result = catch_up([rollout], home, thread)
    failures = publish.refresh(result.raised_commits) if result.raised_commits else []
    if result.failures or failures:
        raise PayloadError("capture failed for " + "; ".join([*result.failures, *failures]))


def run_next(program: list[str], payload: str, home: Worktree | None) -> int:
    """The notify program install found in place: run as Codex would have run it."""
    try:
        os.execvp(program[0], [*program, payload])
    except OSError as error:
        log_failure(home, error, f"codex-notify: running {program[0]}")
    return 0
