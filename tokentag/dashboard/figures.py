"""What the dashboard shows, as one JSON-ready dict.

Every total comes from the function its command uses: `report --by X --json` for each
grouping, `release --all --json` for the releases, `status --json` for the ledger's
health. Nothing here adds tokens or dollars up; the page only lays the figures out. What
the commands do not print is read from git: each commit's subject, author and date.
In a clone without the ledger (CI), the reports are empty and the releases come from
the git notes, as `release --json` has them there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokentag.core.timefmt import now_iso
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.ledger.records import IMPORTED
from tokentag.ledger.store import Store
from tokentag.release import releases
from tokentag.report import grouping, pricing, queries, workitems
from tokentag.report.costs import Totals
from tokentag.report.pricing import PriceOverride

if TYPE_CHECKING:
    from git import Git

# The `report --by` groupings the page has a table of, in the order it shows them.
VIEWS = ("commit", "tag", "day", "week", "month", "model", "branch", "session", "agent",
         "task", "author", "pr")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class Settings:
    """The configuration the figures depend on (setup.config's, passed in)."""

    prices: Mapping[str, PriceOverride] = field(default_factory=dict)
    tag_pattern: str | None = None
    task_pattern: str | None = None


def gather(worktree: Worktree, settings: Settings) -> dict[str, Any]:
    """The page's figures: every report, the releases, commit details and data quality."""
    store = Store.of(worktree)
    with pricing.memoised():  # each commit's groups come up in six views: priced once
        with store.reading() as index:
            reports = {by: report_json(by, grouped(worktree, index, by, settings))
                       for by in VIEWS}
            captures = index.last_captures()
        tagged, unreleased = releases.build_all(worktree, settings.tag_pattern,
                                                settings.prices)
    # All of `status --json` but the ledger's path: the page may be published.
    quality = {k: v for k, v in queries.status(store).as_json().items() if k != "ledger"}
    shown = [*tagged, *([unreleased] if unreleased else [])]
    commits = [row["key"] for row in reports["commit"]["rows"]]
    commits += [c.commit for release in shown for c in release.by_commit]
    commits += [release.range.end for release in tagged]
    git = gitrepo.open_repo(worktree.top).git
    return {
        "repository": os.path.basename(worktree.top),
        "generated_at": now_iso(),
        "reports": reports,
        "releases": {"releases": [r.as_json() for r in tagged],
                     "unreleased": unreleased.as_json() if unreleased else None},
        "commits": commit_details(git, commits),
        "quality": {**quality, "last_import": captures.get(IMPORTED)},
    }


def grouped(worktree: Worktree, index: Index, by: str, settings: Settings) -> dict[str, Totals]:
    """`report --by <by>`'s groups, from the function that command calls for `by`."""
    if by == "tag":
        return releases.grouped_by_tag(worktree, index, Filters(), settings.prices,
                                       settings.tag_pattern)
    if by in workitems.WORK_ITEM_KEYS:
        return workitems.grouped_totals(worktree, index, by, Filters(), settings.prices,
                                        settings.task_pattern)
    return grouping.grouped_totals(index, by, Filters(), settings.prices)


def report_json(by: str, groups: Mapping[str, Totals]) -> dict[str, Any]:
    """The object `report --by <by> --json` prints."""
    return {"by": by, "rows": [{"key": key, **t.as_json()} for key, t in groups.items()],
            "totals": grouping.overall(groups).as_json()}


def commit_details(git: Git, commits: Iterable[str]) -> dict[str, dict[str, str]]:
    """Subject, author and commit date of each commit id git has, from one `git log`;
    keys that are no commit id ("(pending)") and commits git lacks are left out."""
    wanted = sorted({c for c in commits if _COMMIT_ID.fullmatch(c)})
    if not wanted:
        return {}
    out = gitrepo.run(git, "log", "--no-walk=unsorted", "--ignore-missing", "--stdin",
                      "--format=%H%x00%an%x00%cI%x00%s%x00", stdin="".join(
                          f"{commit}\n" for commit in wanted))
    fields = out.split("\x00")
    return {sha.strip(): {"author": author, "date": date, "subject": subject}
            for sha, author, date, subject in zip(fields[0::4], fields[1::4], fields[2::4],
                                                  fields[3::4], strict=False)}
