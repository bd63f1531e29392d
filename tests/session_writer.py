"""Write a session of a corpus (tests/corpora.py) into a temporary Claude config dir, line
by line, as Claude Code would while it works, and compute independently what each commit
should get.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import tokentag
from tests.corpora import Corpus
from tests.replay import payload_for

FIELDS = ("input", "output", "cache_creation", "cache_read")
USAGE_KEYS = {"input": "input_tokens", "output": "output_tokens",
              "cache_creation": "cache_creation_input_tokens",
              "cache_read": "cache_read_input_tokens"}


def encoded(path: Path) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(path))


@dataclass
class SessionWriter:
    """Appends the lines of the corpus's big session to a transcript whose cwd is
    `worktree`, as session `session_id` (the big session's own by default)."""

    worktree: Path
    corpus: Corpus
    session_id: str = ""
    lines: list[bytes] = field(default_factory=list)
    written: int = 0

    def __post_init__(self) -> None:
        source = self.corpus.big
        self.session_id = self.session_id or source
        config = Path(os.environ["CLAUDE_CONFIG_DIR"])
        self.path = config / "projects" / encoded(self.worktree) / f"{self.session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        # The subagent's own file exists, as in the recorded session, but stays empty: its
        # requests are no part of these tests, and the main file's progress lines that
        # echo them are not counted while it exists.
        agent = self.path.with_suffix("") / "subagents" / f"agent-{self.corpus.agent}.jsonl"
        agent.parent.mkdir(parents=True, exist_ok=True)
        agent.write_bytes(b"")
        old_cwd = f'"cwd":"{self.corpus.cwds[self.corpus.worktree]}'.encode()
        new_cwd = f'"cwd":"{self.worktree}'.encode()
        old_sid, new_sid = source.encode(), self.session_id.encode()
        raw = (self.corpus.projects / self.corpus.worktree / f"{source}.jsonl").read_bytes()
        self.lines = [line.replace(old_cwd, new_cwd).replace(old_sid, new_sid) + b"\n"
                      for line in raw.splitlines()]
        if self.session_id != source:  # a second session must not share request ids
            tag = self.session_id[:8].encode()
            self.lines = [line.replace(b'"id":"msg_', b'"id":"msg_' + tag) for line in self.lines]

    def write(self, count: int, torn_tail: bool = False) -> None:
        """Append the next `count` lines; optionally half of the one after (mid-line)."""
        chunk = b"".join(self.lines[self.written:self.written + count])
        self.written = min(self.written + count, len(self.lines))
        if torn_tail and self.written < len(self.lines):
            nxt = self.lines[self.written]
            chunk += nxt[:len(nxt) // 2]
            self.lines[self.written] = nxt[len(nxt) // 2:]
        with self.path.open("ab") as handle:
            handle.write(chunk)

    def hook(self, event: str = "PostToolUse") -> None:
        body = payload_for(self.session_id, self.path, self.worktree, event)
        assert tokentag("hook", cwd=self.worktree, stdin=body).stdout == ""


def requests_in(text: bytes) -> dict[str, dict[str, int]]:
    """An independent count: each (message.id, requestId) once, field-wise maximum."""
    found: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the torn tail
        message = entry.get("message") if entry.get("type") == "assistant" else None
        if not isinstance(message, dict) or "usage" not in message:
            continue
        if message.get("model") == "<synthetic>":
            continue
        key = f"{message['id']}/{entry.get('requestId', '')}"
        usage = {f: int(message["usage"].get(USAGE_KEYS[f]) or 0) for f in FIELDS}
        known = found.setdefault(key, dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            known[name] = max(known[name], usage[name])
    return found


def totals(requests: dict[str, dict[str, int]], keys: set[str]) -> dict[str, int]:
    result = {f: sum(requests[k][f] for k in keys) for f in FIELDS}
    result["total"] = sum(result.values())
    return result
