"""OpenAI Codex CLI session files (rollouts), written here from Codex's documented format so
that tests need no recorded session.

`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl`, one compact JSON
object per line (`{"timestamp","type","payload"}`): `session_meta` (id, cwd, CLI version,
git), per turn the user's message, a `turn_context` (model, cwd), a `token_count` with no
usage (rate limits only), then per model response its items (reasoning, a tool call and
its output, a message) and a `token_count` whose `last_token_usage` is that response and
`total_token_usage` the session's running sum; an `agent_message` ends the turn.

What Codex also does, on request: repeats a `token_count` with the same totals later (a
re-emit), writes an exact duplicate line, gives only running totals (an older build, with
no turn_context either), switches models, forks a session (the child's file replays its
parent's history in one second), moves a session to `archived_sessions/`.

`truth` holds what the sessions really spent: each model response once.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
          "total_tokens")
RATE_LIMITS = {"primary": {"used_percent": 12.0, "window_minutes": 300, "resets_at": 1760530000},
               "secondary": {"used_percent": 30.0, "window_minutes": 10080,
                             "resets_at": 1760990000}, "plan_type": "plus"}


def compact(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def usage(inputs: int, cached: int, output: int, reasoning: int) -> dict[str, int]:
    return {"input_tokens": inputs, "cached_input_tokens": cached, "output_tokens": output,
            "reasoning_output_tokens": reasoning, "total_tokens": inputs + output}


def added(one: dict[str, int], other: dict[str, int]) -> dict[str, int]:
    return {name: one[name] + other[name] for name in COUNTS}


@dataclass
class Spent:
    """What a session's model responses used, in tokentag's terms: `input` is uncached."""

    input: int = 0
    cache_read: int = 0
    output: int = 0
    reasoning: int = 0
    requests: int = 0
    by_model: dict[str, list[int]] = field(default_factory=dict)

    def add(self, model: str, used: dict[str, int]) -> None:
        cached = min(used["cached_input_tokens"], used["input_tokens"])
        self.input += used["input_tokens"] - cached
        self.cache_read += cached
        self.output += used["output_tokens"]
        self.reasoning += used["reasoning_output_tokens"]
        self.requests += 1
        row = self.by_model.setdefault(model, [0, 0, 0])
        row[0] += used["input_tokens"] - cached
        row[1] += cached
        row[2] += used["output_tokens"]

    @property
    def tokens(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "cache_creation": 0,
                "cache_read": self.cache_read,
                "total": self.input + self.output + self.cache_read}


class Rollout:
    """One session's file, grown line by line; `lines` is everything written so far."""

    def __init__(self, home: Path, session_id: str, cwd: Path, start: datetime,
                 branch: str | None = "main", archived: bool = False,
                 rng: random.Random | None = None) -> None:
        self.session_id, self.cwd, self.clock, self.branch = session_id, cwd, start, branch
        self.rng = rng or random.Random(session_id)
        self.archived = archived
        folder = "archived_sessions" if archived else "sessions"
        self.path = (home / folder / start.strftime("%Y/%m/%d")
                     / f"rollout-{start.strftime('%Y-%m-%dT%H-%M-%S')}-{session_id}.jsonl")
        self.lines: list[bytes] = []
        self.total = usage(0, 0, 0, 0)
        self.spent = Spent()
        self.model: str | None = None

    def tick(self, seconds: float | None = None) -> str:
        self.clock += timedelta(seconds=seconds if seconds is not None
                                else self.rng.uniform(0.05, 20))
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def line(self, kind: str, payload: dict[str, Any], stamp: str | None = None) -> bytes:
        data = compact({"timestamp": stamp or self.tick(), "type": kind, "payload": payload})
        self.lines.append(data)
        return data

    def meta(self, forked_from: str | None = None) -> None:
        payload: dict[str, Any] = {
            "id": self.session_id, "timestamp": self.tick(0), "cwd": str(self.cwd),
            "originator": "codex_cli_rs", "cli_version": "0.46.0", "instructions": None,
            "source": "cli", "model_provider": "openai"}
        if forked_from:
            payload["forked_from_id"] = forked_from
        if self.branch:
            payload["git"] = {"commit_hash": "3f2c1e9a7b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e",
                              "branch": self.branch,
                              "repository_url": "git@github.com:dev/proj.git"}
        self.line("session_meta", payload)

    def user(self, text: str, model: str | None) -> None:
        """A turn starts: the prompt, the turn's context (unless an old build), the
        rate-limit-only token_count."""
        self.line("response_item", {"type": "message", "role": "user",
                                    "content": [{"type": "input_text", "text": text}]})
        self.line("event_msg", {"type": "user_message", "message": text, "images": []})
        if model is not None:
            self.model = model
            self.line("turn_context", {
                "cwd": str(self.cwd), "approval_policy": "on-request",
                "sandbox_policy": {"type": "workspace-write", "network_access": False,
                                   "exclude_tmpdir_env_var": False, "exclude_slash_tmp": False},
                "model": model, "effort": "medium", "summary": "auto"})
        self.line("event_msg", {"type": "token_count", "info": None,
                                "rate_limits": RATE_LIMITS})

    def response(self, inputs: int, cached: int, output: int, reasoning: int,
                 totals_only: bool = False, counted: bool = True) -> bytes:
        """One model response: its items and its token_count (returned). `totals_only`:
        no last_token_usage, as some builds wrote."""
        self.line("response_item", {"type": "reasoning", "summary": [
            {"type": "summary_text", "text": "**Reading the failing test**"}],
            "content": None, "encrypted_content": "gAAAA" + "x" * self.rng.randint(40, 400)})
        call = f"call_{self.rng.getrandbits(48):012x}"
        arguments = json.dumps({"command": ["bash", "-lc", "pytest -q"]})
        self.line("response_item", {"type": "function_call", "name": "shell",
                                    "arguments": arguments, "call_id": call})
        last = usage(inputs, cached, output, reasoning)
        self.total = added(self.total, last)
        info: dict[str, Any] = {"total_token_usage": dict(self.total),
                                "model_context_window": 272000}
        if not totals_only:
            info["last_token_usage"] = last
        count = self.line("event_msg", {"type": "token_count", "info": info,
                                        "rate_limits": RATE_LIMITS})
        if counted:
            self.spent.add(self.model or "gpt-5", last)
        output_text = " ".join(self.rng.choice(("ok", "FAILED", "test_x", "assert", "=="))
                               for _ in range(self.rng.randint(10, 3000)))
        self.line("response_item", {"type": "function_call_output", "call_id": call,
                                    "output": json.dumps({"output": output_text, "metadata": {
                                        "exit_code": 1, "duration_seconds": 2.1}})})
        return count

    def again(self, data: bytes, same_time: bool = False) -> None:
        """A token_count written again: later with the same totals, or the same line."""
        if same_time:
            self.lines.append(data)
            return
        entry = json.loads(data)
        self.line(entry["type"], entry["payload"])

    def agent(self, text: str) -> None:
        self.line("response_item", {"type": "message", "role": "assistant",
                                    "content": [{"type": "output_text", "text": text}]})
        self.line("event_msg", {"type": "agent_message", "message": text})

    def write(self, upto: int | None = None) -> None:
        """The file as it is after `upto` lines (all by default)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"".join(self.lines[:upto]))

    def payload(self) -> str:
        """What Codex's notify gets after a turn."""
        return json.dumps({"type": "agent-turn-complete", "thread-id": self.session_id,
                           "turn-id": f"turn-{len(self.lines)}", "cwd": str(self.cwd),
                           "client": "codex-tui", "input-messages": ["Fix the failing test"],
                           "last-assistant-message": "Fixed."})


def session_id(number: int) -> str:
    return f"0199e5a1-{number:04x}-7a2b-8c3d-4e5f60718293"


MODELS = ("gpt-5-codex", "gpt-5", "gpt-5.1-codex", "gpt-5.1-codex-mini", "gpt-5.2-codex")


def sessions(home: Path, cwd: Path, count: int = 8, seed: int = 7,
             start: datetime = datetime(2025, 10, 15, 9, 0, tzinfo=UTC)) -> list[Rollout]:
    """`count` sessions in `cwd`, one a day, each with some of Codex's habits (see the
    module's docstring), written to `home`."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        kind = ("plain", "re-emits", "old build", "switches", "forked", "archived")[number % 6]
        rollout = Rollout(home, session_id(number + 1), cwd, start + timedelta(days=number),
                          branch=None if number == 3 else "main",
                          archived=kind == "archived", rng=random.Random(rng.random()))
        made.append(rollout)
        if kind == "forked":
            _forked(rollout, made[0], rng)
        else:
            _turns(rollout, kind, rng)
        rollout.write()
    return made


def _turns(rollout: Rollout, kind: str, rng: random.Random, turns: int | None = None) -> None:
    rollout.meta()
    for turn in range(turns or rng.randint(2, 4)):
        model = None if kind == "old build" else (
            MODELS[(turn + len(rollout.lines)) % len(MODELS)] if kind == "switches"
            else MODELS[0])
        rollout.user(f"turn {turn}: fix the failing test", model)
        for _ in range(rng.randint(1, 5)):
            inputs = rng.randint(8_000, 120_000)
            count = rollout.response(inputs, rng.randint(0, inputs), rng.randint(20, 4000),
                                     rng.randint(0, 1500), totals_only=kind == "old build")
            if kind == "re-emits" and rng.random() < 0.5:
                rollout.again(count)  # the same totals, later: not a new response
            if kind == "switches" and rng.random() < 0.3:
                rollout.again(count, same_time=True)  # the very same line twice
        rollout.agent("Fixed the test.")


def _forked(child: Rollout, parent: Rollout, rng: random.Random) -> None:
    """A fork of `parent`: its meta, the parent's meta, the parent's history replayed in
    one second (its token_counts included, not new responses), then a turn of its own."""
    child.meta(forked_from=parent.session_id)
    stamp = child.tick(0.2)
    for data in parent.lines:
        entry = json.loads(data)
        if entry["type"] == "session_meta":
            child.line("session_meta", entry["payload"], stamp)
        elif entry["type"] == "event_msg" and entry["payload"].get("type") == "token_count":
            info = entry["payload"].get("info")
            if info:
                child.total = dict(info["total_token_usage"])
            child.line("event_msg", entry["payload"], stamp)
        elif entry["type"] in ("response_item", "turn_context"):
            child.line(entry["type"], entry["payload"], stamp)
    child.tick(5)
    child.user("now in the fork: add a test", MODELS[0])
    for _ in range(rng.randint(1, 3)):
        inputs = rng.randint(8_000, 60_000)
        child.response(inputs, rng.randint(0, inputs), rng.randint(20, 2000),
                       rng.randint(0, 500))
    child.agent("Added.")


def truth(rollouts: list[Rollout]) -> dict[str, Spent]:
    return {rollout.session_id: rollout.spent for rollout in rollouts}
