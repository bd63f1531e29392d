"""Budgets: limits on what a release, a branch, a day or a commit may cost, in dollars,
tokens or both (`[budgets.<scope>]` in the configuration).

What each is measured against:

    release  the release HEAD belongs to (the one `tokentag release` would write next, or
             the tag at HEAD), or a given tag: its commits from ledger and notes alike, so
             CI with the notes fetched measures what a developer's ledger does; plus what
             is pending here when the release is not tagged yet
    branch   the checked-out branch's own commits since it left the default branch, plus
             what is pending here (none on the default branch itself)
    day      today's requests in the ledger (the local day, as `report --by day` counts)
    commit   each commit of that release, and what is pending here (the next commit's)

`tokentag check` is the gate; `warnings` the opt-in message at the end of a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tokentag.core.money import usd
from tokentag.core.timefmt import local_day_start
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.release import releases
from tokentag.report import costs
from tokentag.report.costs import Totals
from tokentag.watch.branch import branch_work
from tokentag.watch.limits import SCOPES, Budgets, Limit

if TYPE_CHECKING:
    from git import Git

NEXT_COMMIT = "(pending)"  # the commit-scope subject of what is pending here


@dataclass(frozen=True)
class Verdict:
    """One budget against what it measures."""

    scope: str
    subject: str
    limit: Limit
    spent: Totals

    @property
    def over(self) -> list[str]:
        """The limits exceeded: "usd", "tokens", both or none."""
        over = []
        if self.limit.usd is not None and self.spent.cost > self.limit.usd:
            over.append("usd")
        if self.limit.tokens is not None and self.spent.usage.total > self.limit.tokens:
            over.append("tokens")
        return over

    @property
    def ident(self) -> str:
        """The same budget exceeded by the same subject: warned about once."""
        return f"{self.scope}:{self.subject}:{','.join(self.over)}"

    def line(self) -> str:
        spent = []
        if self.limit.usd is not None:
            spent.append(f"{self.spent.cost_text()} of {usd(self.limit.usd)} "
                         f"({_percent(self.spent.cost, self.limit.usd)})")
        if self.limit.tokens is not None:
            spent.append(f"{self.spent.usage.total:,} of {self.limit.tokens:,} tokens "
                         f"({_percent(self.spent.usage.total, self.limit.tokens)})")
        return f"{self.scope} {self.subject}: {', '.join(spent)}"

    def as_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "subject": self.subject,
                "limit": {"usd": float(self.limit.usd) if self.limit.usd is not None else None,
                          "tokens": self.limit.tokens},
                "spent": self.spent.as_json(), "over": self.over, "exceeded": bool(self.over)}


def _percent(spent: Decimal | int, limit: Decimal | int) -> str:
    return f"{float(spent) / float(limit):.0%}"


@dataclass(frozen=True)
class Settings:
    """What evaluating budgets needs from the configuration."""

    budgets: Budgets
    prices: Any  # model -> pricing.PriceOverride
    tag_pattern: str | None = None


def evaluate(worktree: Worktree, settings: Settings, tag: str | None = None) -> list[Verdict]:
    """Every configured budget against what it measures; `tag` names the release to
    measure instead of HEAD's."""
    limits = settings.budgets.limits()
    if not limits:
        return []
    git = gitrepo.open_repo(worktree.top).git
    verdicts: list[Verdict] = []
    with releases.ledger_index(worktree) as index:
        sources = releases.Sources(git, index, settings.prices or {})
        pending = _priced(index.reads.pending_price_groups(worktree.top) if index else [], sources)
        if "release" in limits or "commit" in limits:
            verdicts += _release_verdicts(git, sources, limits, settings.tag_pattern, tag,
                                          pending)
        if "branch" in limits:
            verdicts += _branch_verdicts(worktree, sources, limits["branch"], pending)
        if "day" in limits:
            day, start = local_day_start()
            spent = _priced(index.reads.price_groups_since(start) if index else [], sources)
            verdicts.append(Verdict("day", day, limits["day"], spent))
    return sorted(verdicts, key=lambda v: SCOPES.index(v.scope))


def _priced(rows: Sequence[Any], sources: releases.Sources) -> Totals:
    return costs.overall(costs.priced(costs.group_from_row(row), sources.prices)
                         for row in rows)


def _release_verdicts(git: Git, sources: releases.Sources, limits: dict[str, Any],
                      pattern: str | None, tag: str | None, pending: Totals) -> list[Verdict]:
    rng = _release_range(git, tag, pattern)
    release = releases.collect(sources, rng) if rng is not None and rng.commits else None
    upcoming = rng is None or not rng.tagged  # pending work goes into this release
    verdicts = []
    if "release" in limits:
        spent = costs.overall([release.total] if release else [])
        if upcoming:
            spent.add(pending)
        verdicts.append(Verdict("release", _release_name(rng), limits["release"], spent))
    if "commit" in limits:
        items = [(c.commit, c.totals) for c in release.by_commit] if release else []
        if upcoming and pending.requests:
            items.append((NEXT_COMMIT, pending))
        verdicts += _commit_verdicts(items, limits["commit"])
    return verdicts


def _release_range(git: Git, tag: str | None, pattern: str | None) -> releases.Range | None:
    """The release asked for, else the one HEAD is in: the commits after the last release
    tag, or, when HEAD is a release tag, that release."""
    if tag is not None:
        return releases.resolve_range(git, tag, pattern=pattern, allow_empty=True)
    upcoming = releases.untagged_range(git, pattern)
    if upcoming is not None:
        return upcoming
    at_head = [name for name in gitrepo.run(git, "tag", "--points-at", "HEAD",
                                            "--sort=v:refname", check=False).split("\n")
               if name and releases.is_release_tag(name, pattern)]
    return releases.resolve_range(git, at_head[-1], pattern=pattern, allow_empty=True) \
        if at_head else None


def _release_name(rng: releases.Range | None) -> str:
    if rng is not None and rng.tagged:
        return rng.tag
    return f"unreleased (after {rng.previous})" if rng is not None and rng.previous \
        else "unreleased"


def _commit_verdicts(items: Sequence[tuple[str, Totals]], limit: Limit) -> list[Verdict]:
    """The commits over the limit; when none is, the costliest, to show how near it is."""
    verdicts = [Verdict("commit", commit, limit, totals) for commit, totals in items]
    over = [v for v in verdicts if v.over]
    if over or not verdicts:
        return over
    return [max(verdicts, key=lambda v: (v.spent.cost, v.spent.usage.total))]


def _branch_verdicts(worktree: Worktree, sources: releases.Sources, limit: Limit,
                     pending: Totals) -> list[Verdict]:
    work = branch_work(worktree)
    if work is None or work.is_default:
        return []  # detached, or on the default branch: no branch of its own to measure
    spent = Totals.empty()
    if work.commits:
        rng = releases.Range(work.name, work.commits[0], False, work.default,
                             tuple(work.commits), {})
        spent.add(releases.collect(sources, rng).total)
    spent.add(pending)
    return [Verdict("branch", work.name, limit, spent)]


def exceeded(verdicts: Sequence[Verdict]) -> list[Verdict]:
    return [verdict for verdict in verdicts if verdict.over]
