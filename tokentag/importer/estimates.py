"""Usage no transcript shows, stated by a person or another tool: `tokentag record` and the
MCP tool `record_token_event` both end here, in `record`.

Each event becomes an `estimate` record (see ledger.records): evidence `estimated`, priced
like any request (unpriced without a model, never $0), and belonging to a commit (whose
note is then rewritten), to a work item, or to this worktree's pending pool, which the next
commit takes. All events are checked before anything is written: one bad event writes
none. An event's `id` is its identity: the same id again records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import now_iso
from tokentag.core.usage import MAX_COUNT, Usage
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree, current_branch
from tokentag.ledger import records
from tokentag.ledger.store import Store
from tokentag.notes import content

if TYPE_CHECKING:
    from tokentag.ledger.records import EstimateRecord

# An event's fields, as `--from-file` lines and the MCP tool name them.
COUNT_FIELDS = ("tokens_in", "tokens_out", "cache_read", "cache_write")
TEXT_FIELDS = ("model", "agent", "session_id", "commit", "task", "note", "id")
REQUIRED = ("tokens_in", "tokens_out")
MAX_TEXT = 1000


@dataclass(frozen=True)
class Event:
    """One stated usage, checked: counts non-negative integers, texts non-empty or None."""

    tokens_in: int
    tokens_out: int
    cache_read: int = 0
    cache_write: int = 0
    model: str | None = None
    agent: str | None = None
    session_id: str | None = None
    commit: str | None = None
    task: str | None = None
    note: str | None = None
    id: str | None = None

    @property
    def usage(self) -> Usage:
        # Cache writes without their lifetime: priced as 5-minute writes (see pricing).
        return Usage(input=self.tokens_in, output=self.tokens_out,
                     cache_creation=self.cache_write, cache_read=self.cache_read)


@dataclass
class Recorded:
    """What `record` did: keys written, keys already recorded, commits whose notes changed."""

    written: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)


def event_from(values: Mapping[str, object],
               spell: Callable[[str], str] = lambda name: name) -> Event:
    """An Event from JSON-like values (integers for counts), or a one-line error naming the
    field at fault as `spell` spells it (a command line says `--tokens-in`)."""
    unknown = sorted(set(values) - {*COUNT_FIELDS, *TEXT_FIELDS})
    if unknown:
        raise TokentagError(f"unknown field {unknown[0]!r}")
    for name in REQUIRED:
        if values.get(name) is None:
            raise TokentagError(f"{spell(name)} is required")
    counts = {name: _count(spell(name), values[name]) for name in COUNT_FIELDS
              if values.get(name) is not None}
    texts = {name: _text(spell(name), values[name]) for name in TEXT_FIELDS
             if values.get(name) is not None}
    if texts.get("commit") and texts.get("task"):
        raise TokentagError(f"give {spell('commit')} or {spell('task')}, not both")
    return Event(counts["tokens_in"], counts["tokens_out"], counts.get("cache_read", 0),
                 counts.get("cache_write", 0), *(texts.get(name) for name in TEXT_FIELDS))


def _count(name: str, value: object) -> int:
    if type(value) is not int:
        raise TokentagError(f"{name} must be a whole number, not {value!r}")
    if not 0 <= value < MAX_COUNT:
        raise TokentagError(f"{name} must be a count of tokens from 0 to {MAX_COUNT - 1:,}, "
                            f"not {value}")
    return value


def _text(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        raise TokentagError(f"{name} must be text, not {value!r}")
    if len(value) > MAX_TEXT:
        raise TokentagError(f"{name} is longer than {MAX_TEXT} characters")
    return value or None


def record(worktree: Worktree, events: Sequence[Event],
           where: Sequence[str] | None = None) -> Recorded:
    """Write `events` as estimates, each once; `where` names each event in an error (say,
    "line 3"). Nothing is written unless every event is good."""
    built = _estimates(worktree, events, where)
    done = Recorded()
    with Store.of(worktree).writing() as writer:
        known = writer.index.known_usage([r["key"] for r in built])
        fresh: dict[str, EstimateRecord] = {}
        for estimate in built:
            if estimate["key"] in known or estimate["key"] in fresh:
                done.known.append(estimate["key"])
            else:
                fresh[estimate["key"]] = estimate
        if fresh:
            writer.write(list(fresh.values()))
        done.written = list(fresh)
        done.commits = sorted({r["commit"] for r in fresh.values() if r["commit"]})
        notes = {commit: content.note_for(writer.index, commit) for commit in done.commits}
    for commit, note in notes.items():
        if note is not None:
            content.write_note(worktree.top, commit, note)
    return done


def _estimates(worktree: Worktree, events: Sequence[Event],
               where: Sequence[str] | None) -> list[EstimateRecord]:
    """The records of `events`, commits resolved; a one-line error for the first bad one."""
    git = gitrepo.open_repo(worktree.top).git
    branch = current_branch(worktree)
    ts = now_iso()
    built = []
    resolved: dict[str, str] = {}  # a file of events often names one commit many times
    for number, event in enumerate(events):
        try:
            if event.commit and event.commit not in resolved:
                resolved[event.commit] = gitrepo.resolve_commit(git, event.commit)
        except TokentagError as error:
            raise TokentagError(f"{where[number]}: {error}" if where else str(error)) from None
        commit = resolved[event.commit] if event.commit else None
        pending = commit is None and event.task is None
        built.append(records.estimate(
            event.id or uuid.uuid4().hex, event.session_id, event.agent, event.model, ts,
            worktree.name, branch if pending else None, commit, event.task, event.note,
            event.usage))
    return built
