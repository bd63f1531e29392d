"""Transcript lines in Claude Code's on-disk format, made here so that tests need no
recorded session: compact JSON, one `assistant` line per content block sharing `message.id`
and `requestId`, a streaming placeholder in `output_tokens` on the early lines, usage with
the cache split, and the context fields (cwd, sessionId, timestamp, gitBranch, version).

Claude Code 2.1.3xx's shape too (`version="2.1.328"`): assistant lines with `apiBlockIndex`,
`requestRef` and `requestedModel`, each carrying the final usage; `cost-state` lines with
the session's running totals per model (`modelUsage`), which have no timestamp or uuid;
`system` lines (`compact_boundary`); subagent files under `<session>/subagents/` with their
`agent_progress` echoes in the main file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from tests.conftest import tokentag

_numbers = count(1)


def encoded(path: Path) -> str:
    """Claude Code's project dir name for a cwd."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in str(path))


def compact(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def cost_state_line(session_id: str, totals: dict[str, dict[str, int]]) -> bytes:
    """A `cost-state` line: the session's running totals, `{model: {"input", "output",
    "cache_creation", "cache_read"}}` (cache writes all 5-minute ones)."""
    usage = {model: {
        "inputTokens": t["input"], "outputTokens": t["output"],
        "cacheReadInputTokens": t["cache_read"],
        "cacheCreationInputTokens": t["cache_creation"],
        "cacheCreation": {"ephemeral5mInputTokens": t["cache_creation"],
                          "ephemeral1hInputTokens": 0},
        "webSearchRequests": 0, "costUSD": round(sum(t.values()) * 1e-6, 6),
        "contextWindow": 200000, "maxOutputTokens": 32000} for model, t in totals.items()}
    return compact({"type": "cost-state", "sessionId": session_id,
                    "totalCostUSD": round(sum(u["costUSD"] for u in usage.values()), 6),
                    "totalAPIDuration": 81234, "totalDuration": 312345,
                    "totalLinesAdded": 12, "totalLinesRemoved": 3,
                    "modelUsage": usage})


@dataclass
class Session:
    """One session's transcript in a temporary Claude config dir, grown request by request."""

    cwd: Path
    session_id: str = "0a0a0a0a-0000-4000-8000-000000000001"
    branch: str = "main"
    model: str = "claude-sonnet-4-5-20250929"
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    version: str = "2.1.40"
    agent_id: str | None = None  # a subagent's file of the session (see `subagent`)

    def __post_init__(self) -> None:
        config = Path(os.environ["CLAUDE_CONFIG_DIR"])
        self.path = config / "projects" / encoded(self.cwd) / f"{self.session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def subagent(self, agent_id: str, model: str) -> Session:
        """A subagent of this session, writing `<session>/subagents/agent-<id>.jsonl`."""
        agent = Session(self.cwd, self.session_id, self.branch, model, version=self.version,
                        agent_id=agent_id)
        agent.path = self.path.with_suffix("") / "subagents" / f"agent-{agent_id}.jsonl"
        agent.path.parent.mkdir(parents=True, exist_ok=True)
        return agent

    def request_lines(self, *, input: int = 3, output: int = 120, cache_write: int = 500,
                      cache_read: int = 9000, blocks: int = 3,
                      timestamp: str = "2026-11-02T10:00:00.000Z",
                      tool_use_id: str | None = None) -> bytes:
        """The lines of one new API request (not written); remembers its final counts."""
        return b"".join(compact(entry) for entry in self.request_entries(
            input=input, output=output, cache_write=cache_write, cache_read=cache_read,
            blocks=blocks, timestamp=timestamp, tool_use_id=tool_use_id))

    def request_entries(self, *, input: int = 3, output: int = 120, cache_write: int = 500,
                        cache_read: int = 9000, blocks: int = 3,
                        timestamp: str = "2026-11-02T10:00:00.000Z",
                        tool_use_id: str | None = None) -> list[dict[str, Any]]:
        """`request_lines` as the objects its lines are made of."""
        number = next(_numbers)
        message_id, request_id = f"msg_t{number:06d}", f"req_t{number:06d}"
        self.requests[f"{message_id}/{request_id}"] = {
            "input": input, "output": output, "cache_creation": cache_write,
            "cache_read": cache_read}
        new_shape = self.version.startswith("2.1.3")
        entries = []
        for block in range(blocks):
            last = block == blocks - 1
            content: dict[str, Any] = {"type": "text", "text": f"block {block}"}
            if last and tool_use_id is not None:
                content = {"type": "tool_use", "id": tool_use_id, "name": "Bash",
                           "input": {"command": "git commit -q -m x"}}
            usage = {"input_tokens": input,
                     "output_tokens": output if last or new_shape else 1,
                     "cache_creation_input_tokens": cache_write,
                     "cache_read_input_tokens": cache_read,
                     "cache_creation": {"ephemeral_5m_input_tokens": cache_write,
                                        "ephemeral_1h_input_tokens": 0}}
            entry: dict[str, Any] = {
                "parentUuid": None, "isSidechain": self.agent_id is not None,
                "userType": "external", "cwd": str(self.cwd), "sessionId": self.session_id,
                "version": self.version, "gitBranch": self.branch, "type": "assistant",
                "requestId": request_id, "timestamp": timestamp, "uuid": f"u-{number}-{block}",
                "message": {"id": message_id, "type": "message", "role": "assistant",
                            "model": self.model, "content": [content], "usage": usage}}
            if self.agent_id is not None:
                entry["agentId"] = self.agent_id
            if new_shape:
                entry.update(apiBlockIndex=block, requestRef=f"rr-{number}",
                             requestedModel=self.model)
            entries.append(entry)
        return entries

    def progress_lines(self, agent: Session, entries: list[dict[str, Any]]) -> bytes:
        """The `agent_progress` lines that echo a subagent's request lines in this file."""
        lines = b""
        for entry in entries:
            inner = {"type": "assistant", "timestamp": entry["timestamp"],
                     "message": entry["message"], "requestId": entry["requestId"],
                     "uuid": entry["uuid"]}
            lines += compact({
                "parentUuid": None, "isSidechain": False, "userType": "external",
                "cwd": str(self.cwd), "sessionId": self.session_id, "version": self.version,
                "gitBranch": self.branch, "type": "progress",
                "data": {"message": inner, "normalizedMessages": [], "type": "agent_progress",
                         "prompt": "explore", "agentId": agent.agent_id},
                "toolUseID": f"agent_msg_{entry['uuid']}", "parentToolUseID": "toolu_task",
                "uuid": f"p-{entry['uuid']}", "timestamp": entry["timestamp"]})
        return lines

    def cost_state_line(self, totals: dict[str, dict[str, int]]) -> bytes:
        return cost_state_line(self.session_id, totals)

    def system_line(self, subtype: str, timestamp: str) -> bytes:
        return compact({"parentUuid": None, "isSidechain": False, "userType": "external",
                        "cwd": str(self.cwd), "sessionId": self.session_id,
                        "version": self.version, "gitBranch": self.branch, "type": "system",
                        "subtype": subtype, "content": "Conversation compacted",
                        "isMeta": False, "timestamp": timestamp, "uuid": f"s-{subtype}",
                        "level": "info"})

    def user_line(self, text: str, timestamp: str) -> bytes:
        return compact({"parentUuid": None, "isSidechain": False, "userType": "external",
                        "cwd": str(self.cwd), "sessionId": self.session_id,
                        "version": self.version, "gitBranch": self.branch, "type": "user",
                        "message": {"role": "user", "content": text},
                        "timestamp": timestamp, "uuid": f"q-{next(_numbers)}"})

    def add(self, **counts: Any) -> None:
        """Append one request's lines."""
        self.append(self.request_lines(**counts))

    def append(self, data: bytes) -> None:
        with self.path.open("ab") as handle:
            handle.write(data)

    def payload(self, event: str, **extra: Any) -> str:
        return json.dumps({"session_id": self.session_id, "transcript_path": str(self.path),
                           "cwd": str(self.cwd), "hook_event_name": event, **extra})

    def hook(self, event: str = "PostToolUse", **extra: Any) -> None:
        result = tokentag("hook", cwd=self.cwd, stdin=self.payload(event, **extra))
        assert result.stdout == "" and result.stderr == ""

    def totals(self) -> dict[str, int]:
        sums = {name: sum(r[name] for r in self.requests.values())
                for name in ("input", "output", "cache_creation", "cache_read")}
        return {**sums, "total": sum(sums.values())}
