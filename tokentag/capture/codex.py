"""Read OpenAI Codex CLI sessions: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`.

A rollout is append-only JSONL, one `{"timestamp","type","payload"}` object per line:
`session_meta` first (the session id, cwd, git branch, CLI version), a `turn_context` per
turn (its model and cwd), and after each model response an `event_msg` of type
`token_count` whose `info` has `last_token_usage` (that response) and `total_token_usage`
(the session's running sum), each `input_tokens`, `cached_input_tokens`,
`output_tokens`, `reasoning_output_tokens`, `total_tokens`.

The rules are ccusage's (20.x), so both count the same files alike:
- a token_count whose total equals the previous one is a repeat (Codex re-emits them);
- a request's usage is `last_token_usage`, else the growth of the total since the last;
- cached input is part of input, reasoning part of output: tokentag's `input` is the
  uncached part, `cache_read` the cached one (at most the input), `output` all output;
- the model is the latest turn_context's; without one, `gpt-5`, marked as assumed;
- a fork or a subagent's file starts by replaying its parent's history, all within one
  second: when its first two usages fall in the same second, that second is skipped;
- a request is known by its timestamp, model and counts (no ids exist), so the same one
  in two files counts once.

What a read must remember to go on (the running total, the model, the session's context,
a fork's undecided start) travels in the file's cursor as its carry.

Lean: runs in the hook and in `tokentag codex-notify`; the standard library only.
"""

from __future__ import annotations

import os

from tokentag.capture.transcript import Request, is_unicode, loads_line, text_of
from tokentag.core import fastjson
from tokentag.core.usage import MAX_COUNT, Usage
from tokentag.ledger.records import request_key

AGENT = "codex"
ASSUMED_MODEL = "gpt-5"  # ccusage's choice when no turn_context names one
MODEL_ASSUMED = "model-assumed"  # a request's request_id when its model is ASSUMED_MODEL
KEY_PREFIX = "codex:"
_MARKERS = (b'"type":"token_count"', b'"type":"turn_context"', b'"type":"session_meta"')
_COUNTS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
           "total_tokens")

Counts = tuple[int, int, int, int, int]  # in _COUNTS' order


def session_of_name(path: str) -> str:
    """The session id a rollout's name ends with (`rollout-<local time>-<id>.jsonl`)."""
    stem = os.path.basename(path)[len("rollout-"):-len(".jsonl")]
    return stem[20:] if len(stem) > 20 and stem[19] == "-" else stem


class Rollout:
    """One rollout read in order; `feed` each line, collect `requests`, keep `carry()`."""

    def __init__(self, path: str, carry: str | None = None) -> None:
        state = fastjson.loads_object(carry)
        self.session_id = text_of(state.get("session")) or session_of_name(path)
        self.cwd = text_of(state.get("cwd")) or ""
        self.branch = text_of(state.get("branch"))
        self.version = text_of(state.get("version"))
        self.model = text_of(state.get("model"))
        self.assumed = state.get("assumed") is True
        self.total: Counts | None = _counts_of(state.get("total"))
        self.met = state.get("met") is True  # its session_meta was read
        # A fork's start: held until its first two usages say whether they are a replay.
        self.forked = state.get("forked") is True
        self.held: list[list[object]] = [item for item in _list(state.get("held"))
                                         if isinstance(item, list)]
        self.replaying = text_of(state.get("replaying"))  # the second being skipped
        self.requests: list[Request] = []

    def feed(self, line: bytes) -> None:
        if not any(marker in line for marker in _MARKERS):
            return
        try:
            entry = loads_line(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(entry, dict) or not isinstance(entry.get("payload"), dict):
            return
        payload, kind = entry["payload"], entry.get("type")
        if kind == "session_meta":
            self._meta(payload)
        elif kind == "turn_context":
            self._step(["context", text_of(payload.get("model")), text_of(payload.get("cwd"))])
        elif kind == "event_msg" and payload.get("type") == "token_count":
            self._step(_token_count(entry, payload))

    def finish(self) -> None:
        """The file is whole (its session is over): a fork's start that never got a second
        usage is no replay."""
        if self.forked and self.held:
            self._decide(None)

    def carry(self) -> str:
        state = {"session": self.session_id, "cwd": self.cwd, "branch": self.branch,
                 "version": self.version, "model": self.model, "assumed": self.assumed,
                 "total": list(self.total) if self.total else None, "met": self.met,
                 "forked": self.forked, "held": self.held, "replaying": self.replaying}
        return fastjson.dumps({name: value for name, value in state.items()
                               if value not in (None, False, [], "")})

    def _meta(self, payload: dict[str, object]) -> None:
        """The first session_meta is the file's own; a fork's copy of its parent's follows."""
        if self.met:
            return
        self.met = True
        self.session_id = text_of(payload.get("id")) or self.session_id
        self.cwd = text_of(payload.get("cwd")) or self.cwd
        self.version = text_of(payload.get("cli_version"))
        git = payload.get("git")
        self.branch = text_of(git.get("branch")) if isinstance(git, dict) else None
        source = payload.get("source")
        self.forked = bool(payload.get("forked_from_id")) or (
            isinstance(source, dict) and isinstance(source.get("subagent"), dict)
            and "thread_spawn" in source["subagent"])

    def _step(self, item: list[object]) -> None:
        if self.forked:  # undecided: hold everything from the first token_count on
            if item[0] == "count" or self.held:
                self.held.append(item)
            else:
                self._apply(item)
            usages = [held for held in self.held if held[0] == "count" and held[5]]
            if len(usages) == 2:
                first, second = (str(held[1])[:19] for held in usages)
                self._decide(first if first == second else None)
            return
        self._apply(item)

    def _decide(self, replaying: str | None) -> None:
        held, self.held, self.forked, self.replaying = self.held, [], False, replaying
        for item in held:
            self._apply(item)

    def _apply(self, item: list[object]) -> None:
        if item[0] == "context":
            _, model, cwd = item
            if isinstance(model, str):
                self.model, self.assumed = model, False
            self.cwd = cwd if isinstance(cwd, str) else self.cwd
            return
        _, ts, total, last, model, _ = item
        total, last = _counts_of(total), _counts_of(last)
        if self.replaying is not None:
            if str(ts)[:19] == self.replaying:
                self.total = total or self.total
                return
            self.replaying = None
        if total is not None and total == self.total:
            return  # the same running total emitted again
        usage = last if last is not None else _growth(total, self.total)
        self.total = total or self.total
        if usage is not None and any(usage[:4]):
            self._request(str(ts), usage, text_of(model))

    def _request(self, ts: str, counts: Counts, model: str | None) -> None:
        if model is None and self.model is None:
            self.model, self.assumed = ASSUMED_MODEL, True
        name = model or self.model or ASSUMED_MODEL
        assumed = model is None and self.assumed
        inputs, cached, output, reasoning, total = counts
        cached = min(cached, inputs)
        message_id = f"{KEY_PREFIX}{ts}:{name}:{inputs}:{cached}:{output}:{reasoning}:{total}"
        request_id = MODEL_ASSUMED if assumed else ""
        request = Request(
            key=request_key(message_id, request_id), message_id=message_id, request_id=request_id,
            session_id=self.session_id, agent_id=AGENT, model=name, timestamp=ts,
            cwd=self.cwd, branch=self.branch, version=self.version,
            usage=Usage(input=inputs - cached, output=output, cache_read=cached))
        if is_unicode(*request[:-1]):
            self.requests.append(request)


def _token_count(entry: dict[str, object], payload: dict[str, object]) -> list[object]:
    """["count", timestamp, total, last, model named by the event, whether it has usage]."""
    info = payload.get("info")
    info = info if isinstance(info, dict) else {}
    model = info.get("model") or payload.get("model")
    return ["count", text_of(entry.get("timestamp")) or "",
            _counts_of(info.get("total_token_usage")), _counts_of(info.get("last_token_usage")),
            model if isinstance(model, str) else None, bool(info)]


def _counts_of(raw: object) -> Counts | None:
    """A token usage object's counts; a missing or zero total is input plus output."""
    if isinstance(raw, (list, tuple)) and len(raw) == len(_COUNTS):
        raw = dict(zip(_COUNTS, raw, strict=True))
    if not isinstance(raw, dict):
        return None
    inputs, cached, output, reasoning, total = (_count(raw.get(name)) for name in _COUNTS)
    return inputs, cached, output, reasoning, total or inputs + output


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and 0 < value < MAX_COUNT else 0


def _growth(total: Counts | None, before: Counts | None) -> Counts | None:
    if total is None:
        return None
    before = before or (0, 0, 0, 0, 0)
    inputs, cached, output, reasoning, whole = (max(0, now - then)
                                                for now, then in zip(total, before, strict=True))
    return inputs, cached, output, reasoning, whole


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
