"""Library API behind `status` and `log`: what the ledger holds, read from its index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokentag.core import faillog
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.ledger.records import EVIDENCE_KINDS
from tokentag.ledger.store import Store


@dataclass(frozen=True)
class Status:
    ledger: str
    requests: int
    pending: int
    sessions: int
    commits: int
    last_capture: str | None
    invalid_lines: int
    logged_failures: int
    last_failure: str | None
    # Records folded into requests already known, each request counted once: corrections
    # (larger counts seen later) and request records a later one of the same request
    # superseded.
    corrections: int
    superseded: int
    evidence: dict[str, int]  # tokens of each evidence kind, all four

    def as_json(self) -> dict[str, Any]:
        return {"ledger": str(self.ledger), "requests": self.requests, "pending": self.pending,
                "sessions": self.sessions, "commits": self.commits,
                "last_capture": self.last_capture, "invalid_lines": self.invalid_lines,
                "logged_failures": self.logged_failures, "last_failure": self.last_failure,
                "corrections": self.corrections, "superseded_records": self.superseded,
                "evidence": self.evidence}


def status(store: Store) -> Status:
    with store.reading() as index:
        summary = index.summary()
        found = index.evidence_totals()
    failures = faillog.failures(store.log_path)
    return Status(store.ledger_path, summary.requests, summary.pending, summary.sessions,
                  summary.commits, summary.last_capture, summary.invalid_lines, len(failures),
                  failures[-1] if failures else None, summary.corrections, summary.superseded,
                  {kind: found.get(kind, 0) for kind in EVIDENCE_KINDS})


def requests_log(index: Index, filters: Filters, limit: int | None) -> list[dict[str, Any]]:
    """Requests newest first, as plain dicts (the `log --json` rows)."""
    return [_log_row(row) for row in index.requests_newest_first(filters, limit)]


def _log_row(row: Any) -> dict[str, Any]:
    tokens = {f: row[f] for f in ("input", "output", "cache_creation", "cache_read")}
    tokens["total"] = sum(tokens.values())
    return {"request": row["key"], "timestamp": row["ts"], "session": row["session_id"],
            "agent": row["agent_id"], "model": row["model"], "branch": row["branch"],
            "worktree": row["worktree"], "commit": row["commit_id"],
            "attribution": row["attribution"], "via": row["via"], "evidence": row["evidence"],
            "task": row["task"], "note": row["note"], "tokens": tokens,
            "cache_creation_5m": row["cache_creation_5m"],
            "cache_creation_1h": row["cache_creation_1h"]}


def show_commit(worktree: Worktree, ref: str, prices: Mapping[str, Any] | None = None,
                filters: Filters | None = None) -> dict[str, Any]:
    """One commit's totals by model: from the ledger, else from its git note. `prices`
    are the configured overrides (model -> pricing.PriceOverride); of `filters` only the
    evidence kinds apply."""
    from tokentag.git import gitrepo
    from tokentag.notes import content
    from tokentag.report import costs

    sha = gitrepo.resolve_commit(gitrepo.open_repo(worktree.top).git, ref)
    with Store.of(worktree).reading() as index:
        groups = costs.index_groups(index, [sha]).get(sha)
        sessions = index.session_count(sha)
    source = "ledger"
    if groups is None:
        note = content.read_note(worktree.top, sha)
        groups = [costs.group_from_row(g) for g in note["groups"]] if note else []
        sessions = note["sessions"] if note else 0
        source = "git note" if note else "nothing recorded"
    admits = (filters or Filters()).admits
    by_model = costs.totals_by_model([g for g in groups if admits(g.evidence)], prices)
    total = costs.overall(by_model.values())
    return {"commit": sha, "source": source, "sessions": sessions, **total.as_json(),
            "by_model": [{"model": m, **t.as_json()} for m, t in by_model.items()]}
