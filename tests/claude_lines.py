"""Transcript lines in Claude Code's on-disk format, made here so that tests need no
recorded session: compact JSON, one `assistant` line per content block sharing `message.id`
and `requestId`, a streaming placeholder in `output_tokens` on the early lines, usage with
the cache split, and the context fields (cwd, sessionId, timestamp, gitBranch, version)."""

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


@dataclass
class Session:
    """One session's transcript in a temporary Claude config dir, grown request by request."""

    cwd: Path
    session_id: str = "0a0a0a0a-0000-4000-8000-000000000001"
    branch: str = "main"
    model: str = "claude-sonnet-4-5-20250929"
    requests: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config = Path(os.environ["CLAUDE_CONFIG_DIR"])
        self.path = config / "projects" / encoded(self.cwd) / f"{self.session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def request_lines(self, *, input: int = 3, output: int = 120, cache_write: int = 500,
                      cache_read: int = 9000, blocks: int = 3,
                      timestamp: str = "2026-11-02T10:00:00.000Z",
                      tool_use_id: str | None = None) -> bytes:
        """The lines of one new API request (not written); remembers its final counts."""
        number = next(_numbers)
        message_id, request_id = f"msg_t{number:06d}", f"req_t{number:06d}"
        self.requests[f"{message_id}/{request_id}"] = {
            "input": input, "output": output, "cache_creation": cache_write,
            "cache_read": cache_read}
        lines = b""
        for block in range(blocks):
            last = block == blocks - 1
            content: dict[str, Any] = {"type": "text", "text": f"block {block}"}
            if last and tool_use_id is not None:
                content = {"type": "tool_use", "id": tool_use_id, "name": "Bash",
                           "input": {"command": "git commit -q -m x"}}
            usage = {"input_tokens": input, "output_tokens": output if last else 1,
                     "cache_creation_input_tokens": cache_write,
                     "cache_read_input_tokens": cache_read,
                     "cache_creation": {"ephemeral_5m_input_tokens": cache_write,
                                        "ephemeral_1h_input_tokens": 0}}
            lines += compact({
                "parentUuid": None, "isSidechain": False, "userType": "external",
                "cwd": str(self.cwd), "sessionId": self.session_id, "version": "2.1.40",
                "gitBranch": self.branch, "type": "assistant", "requestId": request_id,
                "timestamp": timestamp, "uuid": f"u-{number}-{block}",
                "message": {"id": message_id, "type": "message", "role": "assistant",
                            "model": self.model, "content": [content], "usage": usage}})
        return lines

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
