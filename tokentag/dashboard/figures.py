"""What the dashboard shows, as one JSON-ready dict.

Every figure comes from the function its command uses: `report --by X --json` for each
grouping (release.report_rows, then rows.ordered and Report.as_json, as the command
does), `release --all --json` for the releases, `status --json` for the ledger's health
and recent spending. Nothing here adds tokens or dollars up; the page only lays the
figures out. In a clone without the ledger (CI), the commits, tags and releases come
from the git notes, as those commands have them there, and the other groupings are
empty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tokentag.core.timefmt import now_iso
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.records import imported
from tokentag.ledger.store import Store
from tokentag.release import releases, report_rows
from tokentag.report import pricing, queries, rows, spikes
from tokentag.report.pricing import PriceOverride
from tokentag.report.spikes import SpikeRule
from tokentag.report.zones import Zone

# The `report --by` groupings the page has a table of, in the order it shows them.
VIEWS = ("commit", "tag", "day", "week", "month", "model", "branch", "session", "agent",
         "task", "author", "pr")


@dataclass(frozen=True)
class Settings:
    """What `release` takes from the configuration (setup.config's, passed in)."""

    prices: Mapping[str, PriceOverride] = field(default_factory=dict)
    tag_pattern: str | None = None
    spike_rule: SpikeRule = field(default_factory=SpikeRule)


def gather(worktree: Worktree, settings: Settings, zone: Zone) -> dict[str, Any]:
    """The page's figures: every report, the releases and their dates, the status."""
    tagged, unreleased = _releases(worktree, settings)
    git = gitrepo.open_repo(worktree.top).git
    ends = gitrepo.commit_infos(git, [release.range.end for release in tagged])
    return {
        "repository": os.path.basename(worktree.top),
        "generated_at": now_iso(),
        "zone": zone.describe(),
        "reports": {by: report_json(worktree, by, zone, settings.spike_rule) for by in VIEWS},
        "releases": {"releases": [r.as_json() for r in tagged],
                     "unreleased": unreleased.as_json() if unreleased else None},
        "tag_dates": {r.range.tag: rows.utc_text(datetime.fromtimestamp(
            ends[r.range.end].committed, UTC)) for r in tagged if r.range.end in ends},
        "status": status_json(worktree, zone),
    }


def report_json(worktree: Worktree, by: str, zone: Zone,
                rule: SpikeRule | None = None) -> dict[str, Any]:
    """What `report --by <by> --json` prints, in `zone` (its --tz), spikes included."""
    filters = Filters(local=zone.utc_of)
    report = rows.Report(by, zone, report_rows.gather(worktree, by, filters, zone))
    flagged = spikes.in_report(worktree, report, filters, rule)
    report.rows = rows.ordered(report.rows, by, None)
    return spikes.marked(report.as_json(), flagged)


def status_json(worktree: Worktree, zone: Zone) -> dict[str, Any]:
    """What `status --json` prints but the ledger's path (the page may be published),
    and when `tokentag import` last added a request."""
    store = Store.of(worktree)
    status = queries.status(store)  # first: a failure here leaves no tokentag dir behind
    found = {**status.as_json(), **queries.spending(store, worktree, zone).as_json()}
    with store.reading() as index:
        captured = index.reads.last_captures()
    last_import = max((at for via, at in captured.items() if imported(via)), default=None)
    return {**{k: v for k, v in found.items() if k != "ledger"}, "last_import": last_import}


def _releases(worktree: Worktree,
              settings: Settings) -> tuple[list[releases.Release], releases.Release | None]:
    # Commits of many days share a model's day prices: each is worked out once.
    with pricing.memoised():
        return releases.build_all(worktree, settings.tag_pattern, settings.prices,
                                  spike_rule=settings.spike_rule)
