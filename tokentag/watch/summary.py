"""What the MCP tools answer with: one scope's totals, the requests, a recorded estimate;
each as JSON-able data and as a Markdown table an agent or a person reads.

A summary is the row `report --by SCOPE --json` has for the id, with its split by model
(`tag` is `release TAG --json`'s totals, which notes complete; `commit` is `show`'s,
from the ledger or else the commit's note). Reads take the ledger lock only to bring the
index up to date, as every report does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from tokentag.core import markdown
from tokentag.core.errors import TokentagError
from tokentag.core.money import usd
from tokentag.core.timefmt import local_day_start, now_iso
from tokentag.git.gitdirs import Worktree, current_branch
from tokentag.ledger.filters import Filters
from tokentag.ledger.store import Store
from tokentag.release import releases
from tokentag.report import costs, pricing, queries, rows, workitems, zones
from tokentag.report.costs import Totals
from tokentag.report.ratebook import RateBook

SCOPES = ("session", "commit", "tag", "branch", "model", "day", "task")
# What a tag's summary takes from the release: its totals, and which commits it spans.
_RELEASE_KEYS = ("tokens", "cost_usd", "requests", "evidence", "unpriced_requests",
                 "unpriced_models", "by_model", "range", "commits")
LOCK_WAIT = 30.0  # seconds a read waits for a writer's lock before it answers with an error


def summary(worktree: Worktree, scope: str, ident: str | None, settings: Any) -> dict[str, Any]:
    """The totals of one session, commit, tag, branch, model, day or task, with `by_model`
    and `table`; `settings` is the configuration (setup.config.Config)."""
    if scope not in SCOPES:
        raise TokentagError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    ident = ident or _default_id(worktree, scope)
    if scope == "commit":
        data = queries.show_commit(worktree, ident, settings.prices)
        ident = data["commit"]
    elif scope == "tag":
        release = releases.build(worktree, ident, pattern=settings.tag_pattern,
                                 prices=settings.prices).as_json()
        data = {key: release[key] for key in _RELEASE_KEYS if key in release}
    else:
        models = _report_row(worktree, scope, ident, settings.task_pattern)
        data = {**costs.overall(models.values()).as_json(),
                "by_model": [{"model": m, **t.as_json()} for m, t in rows.by_cost(models)]}
    result = {"scope": scope, "id": ident, **data}
    result["table"] = summary_table(result)
    return result


def _default_id(worktree: Worktree, scope: str) -> str:
    found: str | None = None
    if scope == "session":
        found = os.environ.get("CLAUDE_CODE_SESSION_ID")
    elif scope == "commit":
        found = "HEAD"
    elif scope == "branch":
        found = current_branch(worktree)
    elif scope == "day":
        found = local_day_start()[0]
    if not found:
        raise TokentagError(f"give the {scope} (its id) to summarise")
    return found


def _report_row(worktree: Worktree, scope: str, ident: str, task_pattern: str
                ) -> dict[str, Totals]:
    """By model, the row `report --by SCOPE` has for `ident` (none: nothing recorded)."""
    store = Store.of(worktree)
    book = RateBook(worktree.top, store.directory)
    zone = zones.resolve(None)
    with store.reading(LOCK_WAIT) as index:
        if scope == "task":
            found = workitems.by_model(worktree, index, "task", Filters(), book.priced,
                                       task_pattern)
        else:
            found = {row.key: row.models for row in rows.ledger_rows(
                index, scope, Filters(local=zone.utc_of), book.priced, zone)}
    book.save()
    return found.get(ident, {})


def events(worktree: Worktree, filters: Filters, limit: int) -> dict[str, Any]:
    """The requests `filters` lets through, newest first, as `log --json` gives them."""
    store = Store.of(worktree)
    book = RateBook(worktree.top, store.directory)
    with store.reading(LOCK_WAIT) as index:
        found = queries.requests_log(index, filters, limit, book.priced)
    book.save()
    return {"events": found, "table": events_table(found)}


def record(worktree: Worktree, values: Mapping[str, Any], prices: Any) -> dict[str, Any]:
    """Record one estimated usage as `tokentag record` does; what was recorded, its cost
    and where it went."""
    from tokentag.importer import estimates

    event = estimates.event_from({k: v for k, v in values.items() if v is not None})
    done = estimates.record(worktree, [event])
    key = (done.written or done.known)[0]
    cost = pricing.price_request(event.model or "", costs.day_noon(now_iso()[:10]),
                                 event.usage, prices)
    cost_usd = None if cost is None else float(round(cost, 6))
    commit = done.commits[0] if done.commits else event.commit
    where = f"commit {commit}" if commit else f"task {event.task}" if event.task \
        else "pending: the next commit here takes it"
    state = "recorded" if done.written else "already recorded (same id): nothing written"
    return {"key": key, "recorded": bool(done.written), "evidence": "estimated",
            "tokens": event.usage.as_totals(), "cost_usd": cost_usd, "model": event.model,
            "commit": commit, "task": event.task, "where": where,
            "table": f"{state}: {markdown.code(key, in_table=False)}, "
                     f"{event.usage.total:,} tokens, {usd(cost_usd)}, "
                     f"estimated; {markdown.text(where)}"}


# -- tables ----------------------------------------------------------------------------------


_COLUMNS = "| Model | Requests | Input | Output | Cache writes | Cache reads | Total | Cost |"


def summary_table(data: Mapping[str, Any]) -> str:
    """A summary as Markdown: a heading line, the table by model, the evidence split.
    Ids and model names may come from a teammate's git note: they are shown as text."""
    head = (f"**{data['scope']} {markdown.text(str(data['id']))}**: {data['requests']:,} "
            f"requests, {data['tokens']['total']:,} tokens, {_cost(data)}")
    rows = [_COLUMNS, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    named = [(markdown.text(str(item["model"])), item) for item in data["by_model"]]
    for model, item in [*named, ("**Total**", data)]:
        t = item["tokens"]
        rows.append(f"| {model} | {item['requests']:,} | {t['input']:,} | "
                    f"{t['output']:,} | {t['cache_creation']:,} | {t['cache_read']:,} | "
                    f"{t['total']:,} | {_cost(item)} |")
    evidence = costs.evidence_text(data.get("evidence") or {})
    return "\n".join([head, "", *rows, "", f"Evidence (tokens): {evidence}."])


def events_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "No requests match."
    lines = ["| Time (UTC) | Session | Model | Input | Output | Cache writes | Cache reads | "
             "Cost | Where | Evidence |", "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        t = row["tokens"]
        lines.append(f"| {markdown.text(row['timestamp'][:19])} | "
                     f"{_code_cell((row['session'] or '')[:8])} | "
                     f"{markdown.text(row['model'] or '')} | {t['input']:,} | {t['output']:,} | "
                     f"{t['cache_creation']:,} | {t['cache_read']:,} | {_cost(row)} | "
                     f"{_where(row)} | {markdown.text(row['evidence'])} |")
    return "\n".join(lines)


def _where(row: Mapping[str, Any]) -> str:
    """Where a request went: its commit, its task or pending, as a table cell."""
    if row["commit"]:
        return markdown.code(row["commit"][:10])
    return f"task {markdown.code(row['task'])}" if row["task"] else "pending"


def _code_cell(value: str) -> str:
    return markdown.code(value) if value else ""


def _cost(item: Mapping[str, Any]) -> str:
    return usd(item.get("cost_usd"), bool(item.get("unpriced_requests")))
