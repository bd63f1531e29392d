"""`tokentag hook`: one entry for every Claude Code hook event.

Whatever happens, the hook exits 0 and prints nothing: a non-zero exit or stray
output would change what Claude Code does (exit 2 on Stop keeps Claude running).
Failures go to a log file instead, one line each. This module is on the hot path of
every tool call, so it imports only the standard library.
"""

from __future__ import annotations

import os
import sys

from tokentag.capture import transcript
from tokentag.capture.catch_up import CaptureResult, catch_up
from tokentag.core import faillog, fastjson
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.notes import content

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import Any

MAX_PAYLOAD = 16 * 1024 * 1024
_SUBAGENTS_SETTLED = frozenset({"SubagentStop", "Stop", "StopFailure", "PreCompact",
                                "SessionEnd"})


class PayloadError(ValueError):
    """The hook payload is not what Claude Code sends."""


def run(stdin: Any = None) -> int:
    """Read one payload from stdin and catch up on its session. Always returns 0."""
    home: Worktree | None = None
    try:
        payload = parse_payload(read_payload(stdin))
        home = find_worktree(payload["cwd"])
        if home is None:
            raise PayloadError(f"cwd is outside any git repository: {payload['cwd']}")
        _require_text(payload, "transcript_path")  # checked after cwd: log to its repository
        catch_up_session(payload, home)
    except Exception as error:  # noqa: BLE001 - the hook must never fail Claude Code
        log_failure(home, error)
    return 0


def read_payload(stdin: Any = None) -> bytes:
    """The payload, read whole however large, so Claude Code's write never fails on a
    closed pipe; beyond MAX_PAYLOAD it is read and dropped (no payload is that large)."""
    stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    if stream is None:  # started with stdin closed
        raise PayloadError("no payload: stdin is closed")
    raw = stream.read(MAX_PAYLOAD)
    if len(raw) < MAX_PAYLOAD:
        return bytes(raw)
    while stream.read(1 << 20):
        pass
    raise PayloadError(f"payload larger than {MAX_PAYLOAD} bytes")


def parse_payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = fastjson.loads(raw)
    except ValueError as error:
        raise PayloadError(f"payload is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    _require_text(payload, "cwd")
    return payload


def _require_text(payload: dict[str, Any], name: str) -> None:
    if not isinstance(payload.get(name), str) or not payload[name]:
        raise PayloadError(f"payload has no {name}")


def catch_up_session(payload: dict[str, Any], home: Worktree) -> CaptureResult:
    """Read every transcript of the session: its own file and its subagents'."""
    main = os.path.expanduser(payload["transcript_path"])
    session_id = payload.get("session_id") if isinstance(payload.get("session_id"), str) else None
    # Flat-layout agent files (2.0.28-2.1.1) are found by opening every agent file in the
    # project dir: only when a subagent or the turn ends, not on every tool call.
    flat = payload.get("hook_event_name") in _SUBAGENTS_SETTLED
    files = transcript.session_files(main, session_id if flat else None)
    agent_path = payload.get("agent_transcript_path")
    if isinstance(agent_path, str) and agent_path and agent_path not in files:
        files.append(agent_path)
    result = catch_up(files, home, session_id,
                      final=payload.get("hook_event_name") == "SessionEnd")
    if result.raised_commits:
        content.refresh(result.raised_commits)
    if result.failures:
        raise PayloadError("capture failed for " + "; ".join(result.failures))
    return result


def log_failure(home: Worktree | None, error: BaseException, where: str = "hook") -> None:
    """Into the repository's log (the user's state dir outside one); bad input and file
    errors are expected, anything else gets a few traceback lines."""
    faillog.log_failure(home.tokentag_dir if home else None, error, where,
                        expected=isinstance(error, (PayloadError, OSError)))
