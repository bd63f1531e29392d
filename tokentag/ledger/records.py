"""Every ledger record kind: its fields, the function that builds it, its version.

`FIELDS` is the one statement of the schema: the builders below make exactly these
fields in this order (a test holds them to it), `schema.py` turns them into pydantic
models, and the index's `requests` table and the importer's fast `request_line` are laid
out from `REQUEST_FIELDS`. Records are plain dicts: the hooks write them, and pydantic
would double a hook's start-up time. The TypedDicts are for the type checker only.

Evidence: how each request's usage is known, one of EVIDENCE_KINDS, derived by the
index's fold from the record's kind, its `via` and how its commit took it (`evidence_of`):

    observed    a hook saw it before its commit (live capture: `via` "hook")
    inferred    `tokentag import` read it (`via` "import") or a rule such as the import's
                time rule gave it to its commit (attribution `how` "inferred")
    reconciled  recovered from Claude Code's running totals, in no assistant line: a
                `request` record built by `reconciled` (`via` "reconciled")
    estimated   recorded by hand or by another tool: an `estimate` record

Schema version: a new kind or a new field that readers may ignore is not a new version
(a reader skips kinds it does not know, and counts them as unreadable lines); the version
changes only when a field of an existing kind changes its meaning, so every ledger ever
written still folds.
"""

from __future__ import annotations

from tokentag.core.fastjson import quote
from tokentag.core.usage import USAGE_FIELDS, Usage

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import Any, Literal, TypedDict

SCHEMA_VERSION = 1

# What a field holds, in JSON terms (schema.py maps each to a pydantic type).
TEXT = "text"
ID = "id"  # non-empty text that other records or readers join on
TEXT_OR_NULL = "text or null"
COUNT = "count"  # a non-negative integer
TEXTS = "list of text"
PAIRS = "list of [old, new]"

_COUNTS = tuple((name, COUNT) for name in USAGE_FIELDS)
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    # One API request, counted once per repository: ids, context and counts, no text.
    "request": (("key", ID), ("message_id", ID), ("request_id", TEXT), ("session_id", TEXT),
                ("agent_id", TEXT_OR_NULL), ("model", TEXT), ("ts", TEXT), ("cwd", TEXT),
                ("worktree", TEXT), ("branch", TEXT_OR_NULL), ("version", TEXT_OR_NULL),
                ("transcript", TEXT), ("captured_at", TEXT), ("via", TEXT), *_COUNTS),
    # Raised counts for a request already recorded; readers take field-wise maxima.
    "correction": (("key", ID), ("captured_at", TEXT), *_COUNTS),
    # Where a session's main transcript lives, so commits can flush it later.
    "session": (("session_id", ID), ("transcript", TEXT), ("cwd", TEXT_OR_NULL),
                ("worktree", TEXT), ("seen_at", TEXT)),
    # Pending requests given to a commit.
    "attribution": (("commit", ID), ("worktree", TEXT), ("keys", TEXTS), ("how", TEXT),
                    ("at", TEXT)),
    # Commits replaced by an amend or a rebase, or abandoned by a reset or a squash merge
    # whose work a new commit holds: attribution follows the new ids.
    "rewrite": (("type", TEXT), ("pairs", PAIRS), ("at", TEXT)),
    # A commit made inside a Claude Code tool call: the request that asked for it is not in
    # the transcript yet (its lines are written after the tool started), so it is settled
    # later (see attribution.settle). `session_id` when Claude Code said which.
    "agent_commit": (("commit", ID), ("worktree", TEXT), ("session_id", TEXT_OR_NULL),
                     ("at", TEXT)),
    # An agent commit that took its committing request, or stopped waiting for it.
    "settlement": (("commit", ID), ("at", TEXT)),
    # Pending requests a person set aside (`tokentag pending --drop`): part of no commit and
    # no release, shown as dropped, never deleted.
    "drop": (("keys", TEXTS), ("reason", TEXT), ("at", TEXT)),
    # Usage recorded by hand or by another tool (`tokentag record`): a request of its own,
    # `estimated`. It belongs to `commit`, to `task` (a work item, kept out of commits), or
    # else to the pending pool of `worktree`, which the next commit there takes. `key` is
    # ESTIMATE_PREFIX and the caller's id, so it never meets a transcript's key.
    "estimate": (("key", ID), ("session_id", TEXT_OR_NULL), ("agent_id", TEXT_OR_NULL),
                 ("model", TEXT_OR_NULL), ("ts", TEXT), ("worktree", TEXT),
                 ("branch", TEXT_OR_NULL), ("commit", TEXT_OR_NULL), ("task", TEXT_OR_NULL),
                 ("note", TEXT_OR_NULL), *_COUNTS),
}
KINDS = tuple(FIELDS)

# A request record's `via`: how it came to be known. "hook" or "import": read by live
# capture or by `tokentag import`, from the request's own lines; attributed by the live rule
# or the import rule. Either may go on with ":" and what the request was read from instead:
# "progress", a subagent's request known only from the copies its session's
# `agent_progress` lines echo, its own file being gone (never one a file holds);
# "reconciled", usage an agent's own running totals of a session (Claude Code's
# `cost-state` lines) hold beyond every request line of it, such as a compaction's: one
# record per model for each reading of those totals that showed more (see `reconciled`).
VIA_HOOK, VIA_IMPORT = "hook", "import"
PROGRESS, RECONCILED = "progress", "reconciled"
RECONCILED_SOURCE = "cost-state"  # the message id of "reconciled" requests starts so


def via(capture: str, source: str | None = None) -> str:
    """A `via`: `capture` (VIA_HOOK, VIA_IMPORT), and the source when it is one above."""
    return f"{capture}:{source}" if source else capture


def imported(via_: str) -> bool:
    """Whether a request came by `tokentag import` (and goes by its attribution rule)."""
    return via_ == VIA_IMPORT or via_.startswith(VIA_IMPORT + ":")

# A request's fields in record order: its texts, then its counts. The index's `requests`
# table has one column each, and the importer carries requests as rows in this order.
REQUEST_FIELDS = tuple(name for name, _ in FIELDS["request"])
REQUEST_TEXT_FIELDS = tuple(name for name, kind in FIELDS["request"] if kind != COUNT)

# Evidence kinds; RECONCILED is also a `via` source (above), of the requests it names.
OBSERVED, INFERRED, ESTIMATED = "observed", "inferred", "estimated"
EVIDENCE_KINDS = (OBSERVED, INFERRED, RECONCILED, ESTIMATED)
RECORDED = "record"  # the `via` an estimate's request has in the index
ESTIMATE_PREFIX = "estimate:"
UNKNOWN_MODEL = "(unknown model)"  # an estimate's request without a model, never priced


def evidence_of(via: str | None, how: str | None) -> str:
    """A request's evidence kind from how it was captured (`via`) and how its commit took
    it (an attribution's `how`, None while pending)."""
    if via == RECORDED:
        return ESTIMATED
    if via is not None and via.endswith(":" + RECONCILED):
        return RECONCILED
    return INFERRED if (via is not None and imported(via)) or how == INFERRED else OBSERVED

if TYPE_CHECKING:
    class RequestRecord(TypedDict):
        v: int
        kind: Literal["request"]
        key: str
        message_id: str
        request_id: str
        session_id: str
        agent_id: str | None
        model: str
        ts: str
        cwd: str
        worktree: str
        branch: str | None
        version: str | None
        transcript: str
        captured_at: str
        via: str
        input: int
        output: int
        cache_creation: int
        cache_creation_5m: int
        cache_creation_1h: int
        cache_read: int

    class CorrectionRecord(TypedDict):
        v: int
        kind: Literal["correction"]
        key: str
        captured_at: str
        input: int
        output: int
        cache_creation: int
        cache_creation_5m: int
        cache_creation_1h: int
        cache_read: int

    class SessionRecord(TypedDict):
        v: int
        kind: Literal["session"]
        session_id: str
        transcript: str
        cwd: str | None
        worktree: str
        seen_at: str

    class AttributionRecord(TypedDict):
        v: int
        kind: Literal["attribution"]
        commit: str
        worktree: str
        keys: list[str]
        how: str
        at: str

    class RewriteRecord(TypedDict):
        v: int
        kind: Literal["rewrite"]
        type: str
        pairs: list[list[str]]
        at: str

    class AgentCommitRecord(TypedDict):
        v: int
        kind: Literal["agent_commit"]
        commit: str
        worktree: str
        session_id: str | None
        at: str

    class SettlementRecord(TypedDict):
        v: int
        kind: Literal["settlement"]
        commit: str
        at: str

    class DropRecord(TypedDict):
        v: int
        kind: Literal["drop"]
        keys: list[str]
        reason: str
        at: str

    class EstimateRecord(TypedDict):
        v: int
        kind: Literal["estimate"]
        key: str
        session_id: str | None
        agent_id: str | None
        model: str | None
        ts: str
        worktree: str
        branch: str | None
        commit: str | None
        task: str | None
        note: str | None
        input: int
        output: int
        cache_creation: int
        cache_creation_5m: int
        cache_creation_1h: int
        cache_read: int

    LedgerRecord = (RequestRecord | CorrectionRecord | SessionRecord | AttributionRecord
                    | RewriteRecord | AgentCommitRecord | SettlementRecord | DropRecord
                    | EstimateRecord)
    # A request's values in REQUEST_FIELDS' order.
    RequestRow = tuple[Any, ...]


def request_key(message_id: str, request_id: str) -> str:
    """The key a request is known by: its message and request ids joined by "/". A "/" or
    "%" inside either id is percent-escaped, so that ("a/b", "c") and ("a", "b/c") stay two
    requests; ids as Claude Code writes them contain neither and read as they are."""
    return f"{_key_part(message_id)}/{_key_part(request_id)}"


def _key_part(text: str) -> str:
    if "/" not in text and "%" not in text:
        return text
    return text.replace("%", "%25").replace("/", "%2F")


def request(key: str, message_id: str, request_id: str, session_id: str, agent_id: str | None,
            model: str, ts: str, cwd: str, worktree: str, branch: str | None,
            version: str | None, transcript: str, captured_at: str, via: str,
            usage: Usage) -> RequestRecord:
    """A `request` record; its arguments are REQUEST_FIELDS' texts, then the counts."""
    return {"v": SCHEMA_VERSION, "kind": "request", "key": key, "message_id": message_id,
            "request_id": request_id, "session_id": session_id, "agent_id": agent_id,
            "model": model, "ts": ts, "cwd": cwd, "worktree": worktree, "branch": branch,
            "version": version, "transcript": transcript, "captured_at": captured_at,
            "via": via, "input": usage.input, "output": usage.output,
            "cache_creation": usage.cache_creation, "cache_creation_5m": usage.cache_creation_5m,
            "cache_creation_1h": usage.cache_creation_1h, "cache_read": usage.cache_read}


def reconciled(session_id: str, model: str, reading: Usage, ts: str, cwd: str, worktree: str,
               branch: str | None, version: str | None, transcript: str, captured_at: str,
               capture: str, usage: Usage) -> RequestRecord:
    """A `request` record of usage a session's running totals hold beyond its request
    lines: `usage` of `model`, found when the totals read `reading` for it. The reading is
    the key, so a session's totals read twice (a repeated line, a re-read file, an import
    after the hooks) give one record, and a reading that shows more gives another."""
    message_id = f"{RECONCILED_SOURCE}:{session_id}"
    step = (f"{model}/{reading.input}/{reading.output}/{reading.cache_creation}/"
            f"{reading.cache_read}")
    return request(request_key(message_id, step), message_id, step, session_id, None, model,
                   ts, cwd, worktree, branch, version, transcript, captured_at,
                   via(capture, RECONCILED), usage)


def correction(key: str, captured_at: str, usage: Usage) -> CorrectionRecord:
    """Raised counts for a request already recorded: the same request, not a new one."""
    return {"v": SCHEMA_VERSION, "kind": "correction", "key": key, "captured_at": captured_at,
            "input": usage.input, "output": usage.output,
            "cache_creation": usage.cache_creation, "cache_creation_5m": usage.cache_creation_5m,
            "cache_creation_1h": usage.cache_creation_1h, "cache_read": usage.cache_read}


def session(session_id: str, transcript: str, cwd: str | None, worktree: str,
            seen_at: str) -> SessionRecord:
    return {"v": SCHEMA_VERSION, "kind": "session", "session_id": session_id,
            "transcript": transcript, "cwd": cwd, "worktree": worktree, "seen_at": seen_at}


def attribution(commit: str, worktree: str, keys: list[str], how: str,
                at: str) -> AttributionRecord:
    return {"v": SCHEMA_VERSION, "kind": "attribution", "commit": commit,
            "worktree": worktree, "keys": keys, "how": how, "at": at}


def rewrite(type_: str, pairs: list[list[str]], at: str) -> RewriteRecord:
    """`type_` is what git told post-rewrite: `amend` or `rebase`."""
    return {"v": SCHEMA_VERSION, "kind": "rewrite", "type": type_, "pairs": pairs, "at": at}


def agent_commit(commit: str, worktree: str, session_id: str | None,
                 at: str) -> AgentCommitRecord:
    return {"v": SCHEMA_VERSION, "kind": "agent_commit", "commit": commit,
            "worktree": worktree, "session_id": session_id, "at": at}


def settlement(commit: str, at: str) -> SettlementRecord:
    return {"v": SCHEMA_VERSION, "kind": "settlement", "commit": commit, "at": at}


def drop(keys: list[str], reason: str, at: str) -> DropRecord:
    return {"v": SCHEMA_VERSION, "kind": "drop", "keys": keys, "reason": reason, "at": at}
def estimate(ident: str, session_id: str | None, agent_id: str | None, model: str | None,
             ts: str, worktree: str, branch: str | None, commit: str | None, task: str | None,
             note: str | None, usage: Usage) -> EstimateRecord:
    """An `estimate` record: usage stated by a person or another tool, under the caller's
    id `ident` (namespaced into the key; the same id twice is the same estimate)."""
    return {"v": SCHEMA_VERSION, "kind": "estimate", "key": f"{ESTIMATE_PREFIX}{ident}",
            "session_id": session_id, "agent_id": agent_id, "model": model, "ts": ts,
            "worktree": worktree, "branch": branch, "commit": commit, "task": task,
            "note": note, "input": usage.input, "output": usage.output,
            "cache_creation": usage.cache_creation, "cache_creation_5m": usage.cache_creation_5m,
            "cache_creation_1h": usage.cache_creation_1h, "cache_read": usage.cache_read}


def request_from_row(row: RequestRow) -> RequestRecord:
    """The request record whose values `row` holds in REQUEST_FIELDS' order."""
    texts = len(REQUEST_TEXT_FIELDS)
    return request(*[*row[:texts], Usage(*row[texts:])])


_REQUEST_LINE = ('{"v":%d,"kind":"request",'
                 + ",".join([*(f'"{name}":%s' for name in REQUEST_TEXT_FIELDS),
                             *(f'"{name}":%d' for name in USAGE_FIELDS)]) + "}\n")


def request_line(row: RequestRow) -> bytes:
    """`jsonl.encode_line(request_from_row(row))`, byte for byte (a test holds them equal),
    at half the cost: a bulk import encodes tens of thousands. The row's texts are str or
    None and its counts int, as the import makes them."""
    texts = len(REQUEST_TEXT_FIELDS)
    quoted = [quote(value) if value is not None else "null" for value in row[:texts]]
    return (_REQUEST_LINE % (SCHEMA_VERSION, *quoted, *row[texts:])).encode()
