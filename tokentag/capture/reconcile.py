"""Usage a Claude Code session's own running totals hold beyond its request lines.

Claude Code 2.1.3xx writes `cost-state` lines into a session's main transcript: the
session's cumulative totals per model (`modelUsage`: inputTokens, outputTokens,
cacheReadInputTokens, cacheCreationInputTokens and its 5m/1h split, costUSD), subagents
included, restored on `--resume`. They count requests that no assistant line shows, a
compaction's above all. Such a line has no timestamp and no uuid: it is placed by the
request lines before it.

The reconciliation of a reading of those totals: per model and field, what the totals hold
beyond what the ledger holds of the session up to that point of the main file (its
requests, its subagents', and what earlier readings reconciled), never less than nothing.
Recorded as "reconciled" requests keyed by the reading (see records.reconciled), so a
repeated or re-read line adds nothing, and only a reading that shows more adds the rest.

Totals that fall (after `/clear`, or a client that did not restore them) start a new epoch:
the last totals of each closed epoch stay part of the session's known total. The epochs
and the context of the main file's latest request travel in the file's cursor (its carry),
so a file read in pieces reconciles as one read at once. Only the last reading of a read
is reconciled: it covers the earlier ones, and each reading that is reconciled takes what
its predecessors left.

Lean: runs in the hook; the standard library only.
"""

from __future__ import annotations

from tokentag.capture.transcript import Request, loads_line, text_of
from tokentag.core import fastjson
from tokentag.core.usage import MAX_COUNT, USAGE_FIELDS, Usage
from tokentag.ledger import records

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.records import RequestRecord
    from tokentag.ledger.store import Writer

COST_STATE_MARKER = b'"type":"cost-state"'
# modelUsage's names for a model's counts, in Usage's order where they exist.
_TOTALS = {"input": "inputTokens", "output": "outputTokens",
           "cache_creation": "cacheCreationInputTokens", "cache_read": "cacheReadInputTokens"}
# The split of cache writes by lifetime, as the API's camelCase clients name it, or as
# the API itself does.
_SPLITS = (("cacheCreation", "ephemeral5mInputTokens", "ephemeral1hInputTokens"),
           ("cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"))

Totals = dict[str, Usage]  # per model


class Reading:
    """One reading of a session's running totals, with what places it in the main file:
    `through`, the timestamp of the main file's latest request before it (None: none)."""

    def __init__(self, session_id: str, totals: Totals, through: str | None, ts: str,
                 cwd: str, branch: str | None, version: str | None) -> None:
        self.session_id, self.totals, self.through = session_id, totals, through
        self.ts, self.cwd, self.branch, self.version = ts, cwd, branch, version


class MainFile:
    """What reading a session's main file in order needs to remember: the context of its
    latest request, the epochs of its running totals, and the last reading seen."""

    def __init__(self, session_id: str, carry: str | None = None) -> None:
        self.session_id = session_id
        state = fastjson.loads_object(carry)
        self.ts: str | None = text_of(state.get("ts"))
        self.cwd: str = text_of(state.get("cwd")) or ""
        self.branch: str | None = text_of(state.get("branch"))
        self.version: str | None = text_of(state.get("version"))
        self.last: Totals = _totals_of(state.get("last"))  # the current epoch's last totals
        self.closed: Totals = _totals_of(state.get("closed"))  # closed epochs, summed
        self.reading: Reading | None = None

    def saw_request(self, request: Request) -> None:
        """A request line of the main file (the first of its request in this read)."""
        self.saw(request.timestamp, request.cwd, request.branch, request.version)

    def saw(self, timestamp: str, cwd: str, branch: str | None, version: str | None) -> None:
        """`saw_request` by the request's context fields."""
        self.ts = timestamp or self.ts
        self.cwd = cwd or self.cwd
        self.branch, self.version = branch or self.branch, version or self.version

    def saw_line(self, line: bytes) -> None:
        """Any other line: a `cost-state` one is a reading. One that holds nothing (written
        before any request, or before totals were restored) says nothing: taken for a
        restart, it would count the totals before it again once they were restored."""
        if COST_STATE_MARKER not in line:
            return
        parsed = parse_cost_state(line)
        if parsed is None or not any(usage.total for usage in parsed[0].values()):
            return
        totals, session_id, cwd = parsed
        if _fell(self.last, totals):
            self.closed = _added(self.closed, self.last)
        self.last = totals
        self.reading = Reading(session_id or self.session_id, _added(self.closed, totals),
                               self.ts, self.ts or "", cwd or self.cwd, self.branch,
                               self.version)

    def carry(self) -> str | None:
        """This state for the file's cursor; None while there is nothing to remember."""
        state: dict[str, object] = {
            name: value for name, value in (("ts", self.ts), ("cwd", self.cwd),
                                            ("branch", self.branch), ("version", self.version))
            if value}
        for name, totals in (("last", self.last), ("closed", self.closed)):
            if totals:
                state[name] = {model: list(usage) for model, usage in totals.items()}
        return fastjson.dumps(state) if state else None


def parse_cost_state(line: bytes) -> tuple[Totals, str | None, str | None] | None:
    """A `cost-state` line's totals per model (a model's variants such as `[1m]` summed
    under its name), session id and cwd; None for any other line."""
    try:
        entry = loads_line(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or entry.get("type") != "cost-state":
        return None
    usage = entry.get("modelUsage")
    totals: Totals = {}
    for name, counts in (usage.items() if isinstance(usage, dict) else ()):
        model = base_model(name)
        if model and isinstance(counts, dict):
            totals[model] = totals.get(model, Usage()) + _usage_of(counts)
    return totals, text_of(entry.get("sessionId")), text_of(entry.get("cwd"))


def base_model(name: object) -> str | None:
    """A model as request lines name it: `claude-opus-4-6[1m]` is `claude-opus-4-6`."""
    if not isinstance(name, str):
        return None
    return name.partition("[")[0].strip() or None


def _usage_of(counts: dict[str, object]) -> Usage:
    values = {field: _count(counts.get(name)) for field, name in _TOTALS.items()}
    for key, five, hour in _SPLITS:
        split = counts.get(key)
        if isinstance(split, dict):
            values["cache_creation_5m"] = _count(split.get(five))
            values["cache_creation_1h"] = _count(split.get(hour))
            break
    return Usage(**values)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) \
        and 0 < value < MAX_COUNT else 0


def _fell(before: Totals, after: Totals) -> bool:
    """Whether running totals started again: a model gone or any count lower."""
    for model, usage in before.items():
        now = after.get(model)
        if now is None or any(b > a for b, a in zip(usage, now, strict=True)):
            return True
    return False


def _added(one: Totals, other: Totals) -> Totals:
    summed = dict(one)
    for model, usage in other.items():
        summed[model] = summed.get(model, Usage()) + usage
    return summed


def beyond(total: Usage, held: Usage) -> Usage:
    """Field-wise what `total` has more of than `held`."""
    return Usage(*(max(0, t - h) for t, h in zip(total, held, strict=True)))


def _totals_of(raw: object) -> Totals:
    if not isinstance(raw, dict):
        return {}
    return {model: Usage(*counts) for model, counts in raw.items()
            if isinstance(counts, list) and len(counts) == len(USAGE_FIELDS)
            and all(isinstance(c, int) for c in counts)}


def reconciled(writer: Writer, reading: Reading, worktree: Worktree, transcript: str,
               captured_at: str, capture: str) -> list[RequestRecord]:
    """The records a reading adds: per model, what it holds beyond the ledger. Hold the
    lock of the repository `writer` writes, with the session's requests written."""
    held = writer.index.session_usage_by_model(reading.session_id, transcript, reading.through)
    found: list[RequestRecord] = []
    for model, total in sorted(reading.totals.items()):
        named, usage = _held_as(model, held)
        extra = beyond(total, usage)
        if extra.total or extra.cache_creation_5m or extra.cache_creation_1h:
            found.append(records.reconciled(
                reading.session_id, named, total, reading.ts or captured_at, reading.cwd,
                worktree.name, reading.branch, reading.version, transcript, captured_at,
                capture, extra))
    return found


def _held_as(model: str, held: Totals) -> tuple[str, Usage]:
    """What the ledger holds of `model`, and the name its request lines give it: the totals
    may name a model without the date its request lines carry, or with it."""
    names = sorted(name for name in held if _undated(name) == _undated(model))
    usage = Usage()
    for name in names:
        usage += held[name]
    return (model if model in held or not names else names[0]), usage


def _undated(model: str) -> str:
    """`claude-sonnet-4-5-20250929` as `claude-sonnet-4-5` (no `re` on the hook path)."""
    stem, dash, date = model.rpartition("-")
    return stem if dash and len(date) == 8 and date.isdigit() else model
