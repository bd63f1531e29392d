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
from tokentag.capture.catch_up import LOCK_WAIT, CaptureResult, catch_up
from tokentag.core import faillog, fastjson
from tokentag.git.gitdirs import Worktree, find_worktree

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import Any

MAX_PAYLOAD = 16 * 1024 * 1024
# Events after which an agent commit's committing request may have landed: the tool call's
# end, and the turn's (after which nothing more is awaited).
_SETTLING = frozenset({"PostToolUse", "PostToolUseFailure", "Stop", "StopFailure",
                       "SessionEnd"})
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
    # Flat-layout agent files (2.0.28-2.1.1) are found by listing the project dir: only when
    # a subagent or the turn ends, not on every tool call.
    flat = payload.get("hook_event_name") in _SUBAGENTS_SETTLED
    files = transcript.session_files(main)
    agent_path = payload.get("agent_transcript_path")
    if isinstance(agent_path, str) and agent_path and agent_path not in files:
        files.append(agent_path)
    event = payload.get("hook_event_name")
    tool_use_id = payload.get("tool_use_id") if isinstance(payload.get("tool_use_id"), str) \
        else None
    result = catch_up(files, home, session_id, final=event == "SessionEnd",
                      tool_use_id=tool_use_id,
                      flat_agents_in=os.path.dirname(main) if flat else None)
    raised = dict(result.raised_commits)
    if result.open_agent_commits and event in _SETTLING:
        raised.update(dict.fromkeys(_settle(home, session_id, result.tool_request,
                                            final=event != "PostToolUse"), home.top))
    failures = _refresh_notes(raised) if raised else []
    if result.failures or failures:
        raise PayloadError("capture failed for " + "; ".join([*result.failures, *failures]))
    return result


def _refresh_notes(commits: dict[str, str]) -> list[str]:
    """Rewrite the notes of commits whose counts rose: rare, so git's module is loaded only
    then."""
    from tokentag.notes import publish

    return publish.refresh(commits)


def _settle(home: Worktree, session_id: str | None, tool_request: str | None,
            final: bool) -> list[str]:
    """The agent commits of this session waiting for their committing request (see
    attribution.settle): the one place the Claude hook reaches into attribution, and only
    right after an agent made a commit."""
    from tokentag.attribution import settle
    from tokentag.ledger.store import Store

    with Store.of(home).writing(LOCK_WAIT) as writer:
        return settle.settle(writer, home, session_id, tool_request, final)


def log_failure(home: Worktree | None, error: BaseException, where: str = "hook") -> None:
    """Into the repository's log (the user's state dir outside one); bad input and file
    errors are expected, anything else gets a few traceback lines."""
    faillog.log_failure(home.tokentag_dir if home else None, error, where,
                        expected=isinstance(error, (PayloadError, OSError)))
