"""Agent commits: a commit made inside a Claude Code tool call takes the request that made it.

Claude Code starts a tool as soon as its tool_use block has streamed, and writes the
message's lines 0.02-0.2 s after the stream ends (1.6 s when two tool calls share one
message): a `git commit` the agent runs happens before the line of the request that asked
for it exists. Post-commit gives the commit what is pending then, as for any commit, and
records it as an agent commit (the Bash tool's environment has CLAUDECODE=1, and Claude Code
2.1.3xx also names the session in CLAUDE_CODE_SESSION_ID). When that tool call's PostToolUse
arrives, the line has normally landed: the request holding the tool call's id, or else the
session's first request captured after the commit, goes to the commit, together with the
session's requests captured before it. The turn's Stop settles what is still open by the
same rule and stops waiting; so does the next commit, before it takes what is pending.
"""

from __future__ import annotations

import os

from tokentag.core.timefmt import now_iso
from tokentag.ledger import records

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.index import Index
    from tokentag.ledger.records import LedgerRecord
    from tokentag.ledger.store import Writer


def agent_call() -> tuple[bool, str | None]:
    """Whether this process runs inside a Claude Code tool call, and its session if said."""
    inside = os.environ.get("CLAUDECODE") == "1"
    return inside, (os.environ.get("CLAUDE_CODE_SESSION_ID") or None) if inside else None


def settle(writer: Writer, worktree: Worktree, session_id: str | None = None,
           tool_request: str | None = None, final: bool = False) -> list[str]:
    """Give each open agent commit of the worktree (of `session_id`'s, when known on both
    sides) its committing request; `tool_request` is the request holding the tool call that
    just finished, if it was read. `final`: stop waiting for the ones not found. Returns the
    commits that took requests. Hold the lock (`writer`)."""
    taken: list[str] = []
    for commit, session, at in writer.index.unsettled_agent_commits(worktree.name):
        if session and session_id and session != session_id:
            continue
        who = session or session_id
        found = _committing_request(writer.index, worktree.name, who, at, tool_request)
        written: list[LedgerRecord] = []
        if found is not None:
            keys = [p.key for p in writer.index.pending(worktree.name)
                    if p.seq <= found and (who is None or p.session_id == who)]
            written.append(records.attribution(commit, worktree.name, keys, "observed",
                                               now_iso()))
            taken.append(commit)
            tool_request = None  # one request, one commit
        if found is not None or final:
            written.append(records.settlement(commit, now_iso()))
        writer.write(written)
    return taken


def _committing_request(index: Index, worktree: str, session_id: str | None, at: str,
                        tool_request: str | None) -> int | None:
    """The ledger position of the request that made the commit, while it is pending."""
    if tool_request is not None:
        known = index.request_seq(tool_request)
        if known is not None and known[1]:
            return known[0]
    later = [p for p in index.pending(worktree) if p.captured_at >= at
             and (session_id is None or p.session_id == session_id)]
    return min(p.seq for p in later) if later else None
