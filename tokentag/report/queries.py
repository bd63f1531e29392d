"""Library API behind `status` and `log`: what the ledger holds, read from its index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from tokentag.core import faillog
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.git.gitdirs import Worktree, current_branch
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.ledger.records import EVIDENCE_KINDS
from tokentag.ledger.store import Store
from tokentag.report import costs, zones
from tokentag.report.costs import PriceGroup, Totals
from tokentag.report.ratebook import RateBook
from tokentag.report.zones import Zone

if TYPE_CHECKING:
    from tokentag.report.grouping import Pricer


# NamedTuples, not dataclasses: defining a dataclass costs `status` about a millisecond.
class Status(NamedTuple):
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
        summary = index.reads.summary()
        found = index.reads.evidence_totals()
    failures = faillog.failures(store.log_path)
    return Status(store.ledger_path, summary.requests, summary.pending, summary.sessions,
                  summary.commits, summary.last_capture, summary.invalid_lines, len(failures),
                  failures[-1] if failures else None, summary.corrections, summary.superseded,
                  {kind: found.get(kind, 0) for kind in EVIDENCE_KINDS})


# What `status` totals, by name: today and this week (local), this branch, pending.
SPENT = ("today", "this_week", "this_branch", "pending")


class Spending(NamedTuple):
    zone: Zone
    branch: str | None  # None: HEAD is detached
    spent: dict[str, Totals]  # by SPENT name

    def as_json(self) -> dict[str, Any]:
        return {**self.zone.describe(), "branch": self.branch,
                "spent": {name: totals.as_json() for name, totals in self.spent.items()}}


def spending(store: Store, worktree: Worktree, zone: Zone) -> Spending:
    """What was spent today and this week (in `zone`), on the checked-out branch, and
    not committed yet: all four in one pass over the requests."""
    branch = current_branch(worktree)
    today = zone.day_of(zones.now().timestamp())
    each = [Filters(since=today.isoformat(), local=zone.utc_of),
            Filters(since=zones.period_start("week", today).isoformat(), local=zone.utc_of),
            Filters(branch=branch or ""), Filters(state="pending")]
    book = RateBook(worktree.top, store.directory)
    with store.reading() as index:
        spent = {name: costs.overall(book.priced(costs.group_from_row(g)) for g in groups)
                 for name, groups in zip(SPENT, index.reads.price_groups_each(each), strict=True)}
    book.save()
    return Spending(zone, branch, spent)


def requests_log(index: Index, filters: Filters, limit: int | None,
                 pricer: Pricer | None = None) -> list[dict[str, Any]]:
    """Requests newest first, as plain dicts (the `log --json` rows); with `pricer`,
    each with its cost, priced as reports price it (its own price group)."""
    return [_log_row(row, pricer) for row in index.reads.requests_newest_first(filters, limit)]


def _log_row(row: Any, pricer: Pricer | None) -> dict[str, Any]:
    usage = Usage(*(int(row[f] or 0) for f in USAGE_FIELDS))
    data = {"request": row["key"], "timestamp": row["ts"], "session": row["session_id"],
            "agent": row["agent_id"], "model": row["model"], "branch": row["branch"],
            "worktree": row["worktree"], "commit": row["commit_id"],
            "attribution": row["attribution"], "via": row["via"], "evidence": row["evidence"],
            "task": row["task"], "note": row["note"], "tokens": usage.as_totals(),
            "cache_creation_5m": usage.cache_creation_5m,
            "cache_creation_1h": usage.cache_creation_1h}
    if pricer is not None:
        group = PriceGroup(str(row["model"]), str(row["ts"])[:10], usage.prompt, 1, usage,
                           str(row["evidence"]))
        data["cost_usd"] = pricer(group).cost_usd
    return data


def show_commit(worktree: Worktree, ref: str, prices: Mapping[str, Any] | None = None,
                filters: Filters | None = None) -> dict[str, Any]:
    """One commit's totals by model: from the ledger, else from its git note. `prices`
    are the configured overrides (model -> pricing.PriceOverride); of `filters` only the
    evidence kinds apply."""
    from tokentag.git import gitrepo
    from tokentag.notes import content

    git = gitrepo.open_repo(worktree.top).git
    sha = gitrepo.resolve_commit(git, ref)
    info = gitrepo.commit_infos(git, [sha]).get(sha)
    with Store.of(worktree).reading() as index:
        groups = costs.index_groups(index, [sha]).get(sha)
        sessions = index.reads.session_count(sha)
    source = "ledger"
    if groups is None:
        note = content.read_note(worktree.top, sha)
        groups = [costs.group_from_row(g) for g in note["groups"]] if note else []
        sessions = note["sessions"] if note else 0
        source = "git note" if note else "nothing recorded"
    admits = (filters or Filters()).admits
    by_model = costs.totals_by_model([g for g in groups if admits(g.evidence)], prices)
    total = costs.overall(by_model.values())
    described = {"subject": info.subject, "author": info.author,
                 "date": _utc_text(info.committed)} if info else {}
    return {"commit": sha, **described, "source": source, "sessions": sessions,
            **total.as_json(),
            "by_model": [{"model": m, **t.as_json()} for m, t in by_model.items()]}


def _utc_text(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
