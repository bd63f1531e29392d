"""`tokentag pending`: what no commit has taken yet, how old it is, and a person's say over it.

Pending usage is part of no release. Most of it is taken by the next commit; what is left
(a session abandoned on a branch that was deleted, usage from before an install that no
commit followed) can be given to a commit (an attribution marked `assigned`) or set aside
(a `drop` record, shown as dropped): both are recorded in the ledger, never edited away.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import epoch_of, now_iso
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger import records
from tokentag.ledger.index import Pending
from tokentag.ledger.store import Store
from tokentag.notes import publish

ASSIGNED = "assigned"


@dataclass(frozen=True)
class Selection:
    """Which pending requests an assign or a drop takes; one of the three is required."""

    session: str | None = None  # a session id or its prefix
    before: str | None = None  # a UTC stamp (see report.grouping.normalise_time)
    everything: bool = False

    def check(self) -> None:
        if not (self.session or self.before or self.everything):
            raise TokentagError("say which pending requests: --session ID, --before DATE or "
                                "--all")

    def takes(self, request: Pending) -> bool:
        if self.session and not request.session_id.startswith(self.session):
            return False
        return not (self.before and request.ts >= self.before)


@dataclass(frozen=True)
class SessionPending:
    """One session's pending requests in one worktree."""

    session_id: str
    worktree: str
    branch: str | None
    requests: int
    tokens: int
    first: str
    last: str

    def age_days(self, now: float) -> float:
        first = epoch_of(self.first)
        return (now - first) / 86400 if first is not None else 0.0


def by_session(worktree: Worktree, every_worktree: bool = False) -> list[SessionPending]:
    """What is pending, per session (oldest first): this worktree's, or the repository's."""
    with Store.of(worktree).reading() as index:
        pending = index.pending(None if every_worktree else worktree.name)
    sessions: dict[tuple[str, str], list[Pending]] = {}
    for request in pending:
        sessions.setdefault((request.session_id, request.worktree), []).append(request)
    found = [SessionPending(sid, top, rows[-1].branch, len(rows), sum(r.tokens for r in rows),
                            min(r.ts for r in rows), max(r.ts for r in rows))
             for (sid, top), rows in sessions.items()]
    return sorted(found, key=lambda s: s.first)


def assign(worktree: Worktree, ref: str, selection: Selection) -> tuple[int, str]:
    """Give the selected pending requests of this worktree to the commit `ref` names;
    returns how many, and the commit."""
    selection.check()
    commit = gitrepo.resolve_commit(gitrepo.open_repo(worktree.top).git, ref)
    store = Store.of(worktree)
    with store.reading(create=True) as index:
        with store.writing_to(index) as writer:
            keys = _selected(writer.index.pending(worktree.name), selection)
            if keys:
                writer.write([records.attribution(commit, worktree.name, keys, ASSIGNED,
                                                  now_iso())])
        failures = publish.publish(worktree, index, [commit] if keys else [])
    if failures:
        raise TokentagError("; ".join(failures))
    return len(keys), commit


def drop(worktree: Worktree, selection: Selection, reason: str) -> int:
    """Set the selected pending requests of this worktree aside; returns how many."""
    selection.check()
    if not reason.strip():
        raise TokentagError("say why, with --reason: it stays in the ledger beside them")
    store = Store.of(worktree)
    with store.writing() as writer:
        keys = _selected(writer.index.pending(worktree.name), selection)
        if keys:
            writer.write([records.drop(keys, reason.strip(), now_iso())])
    return len(keys)


def _selected(pending: list[Pending], selection: Selection) -> list[str]:
    return [request.key for request in pending if selection.takes(request)]
