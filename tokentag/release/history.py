"""`report --by commit` and `report --by tag`: the ledger's commits, and the commits that
only a git note knows (a teammate's), read as `release` reads them: the ledger first,
else the commit's note, for the commits of the release ranges (reachable from a release
tag or HEAD). A clone with the notes fetched thus shows the rows of the machine that
captured the work.

Notes hold totals per model and UTC day, not per request: with --since/--until a note's
day counts when it overlaps the range, and filters on sessions, branches or agents
leave notes out (the ledger alone can answer them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.release import releases
from tokentag.report import costs, grouping
from tokentag.report.costs import PriceGroup, Totals
from tokentag.report.grouping import ByModel, Pricer
from tokentag.report.rows import NO_COMMIT, PENDING, UNTAGGED

if TYPE_CHECKING:
    from git import Git


@dataclass
class CommitFigures:
    """Totals per commit (and PENDING) and model; which commits' came from notes, and
    what git says of each commit it has."""

    by_model: ByModel
    from_notes: set[str] = field(default_factory=set)
    infos: dict[str, gitrepo.CommitInfo] = field(default_factory=dict)


def by_commit(worktree: Worktree, index: Index | None, filters: Filters, pricer: Pricer,
              pattern: str | None = None) -> CommitFigures:
    """Every commit with recorded usage, ledger first, then notes."""
    git = gitrepo.open_repo(worktree.top).git
    figures = _ledger_figures(index, filters, pricer)
    sources = releases.Sources(git, index)
    if not filters.per_request:
        lacking = _not_in_ledger(index, sources.noted())
        if lacking:  # the walk only when a note can add something
            _add_notes(figures, sources, lacking & _released(git, pattern), filters, pricer)
    infos = gitrepo.commit_infos(git, [c for c in figures.by_model
                                       if c not in (PENDING, NO_COMMIT)])
    figures.infos = {**infos, **_placed(git, infos)}
    return figures


def _placed(git: Git, infos: dict[str, gitrepo.CommitInfo]) -> dict[str, gitrepo.CommitInfo]:
    """Commits made in the same second, with their order in history."""
    by_second: dict[int, list[str]] = {}
    for commit, info in infos.items():
        by_second.setdefault(info.committed, []).append(commit)
    placed = {}
    for same in by_second.values():
        for commit, place in gitrepo.history_places(git, same).items():
            placed[commit] = infos[commit]._replace(place=place)
    return placed


def by_tag(worktree: Worktree, index: Index | None, filters: Filters, pricer: Pricer,
           pattern: str | None = None) -> ByModel:
    """Totals per release tag and model, oldest release first; then commits after the
    last tag or no longer in history (UNTAGGED), then PENDING."""
    git = gitrepo.open_repo(worktree.top).git
    owners = releases.commit_owners(git, pattern)
    unreleased = releases.untagged_range(git, pattern)
    figures = _ledger_figures(index, filters, pricer)
    if not filters.per_request:
        released = set(owners) | set(unreleased.commits if unreleased else ())
        sources = releases.Sources(git, index)
        _add_notes(figures, sources, _not_in_ledger(index, sources.noted()) & released,
                   filters, pricer)
    tags: ByModel = {tag: {} for tag in dict.fromkeys(owners.values())}
    tags.update({UNTAGGED: {}, PENDING: {}, NO_COMMIT: {}})
    for commit, models in figures.by_model.items():
        name = commit if commit in (PENDING, NO_COMMIT) else owners.get(commit, UNTAGGED)
        for model, totals in models.items():
            tags[name].setdefault(model, Totals.empty()).add(totals)
    return {tag: models for tag, models in tags.items() if models}


def _ledger_figures(index: Index | None, filters: Filters, pricer: Pricer) -> CommitFigures:
    return CommitFigures(grouping.by_model(index, "commit", filters, pricer) if index else {})


def _not_in_ledger(index: Index | None, commits: set[str]) -> set[str]:
    """Whatever the filters: a commit the ledger knows is never also read from its note."""
    return commits - index.reads.commits_with_requests(commits) if index else commits


def _released(git: Git, pattern: str | None) -> set[str]:
    """The commits of every release range: reachable from a release tag or from HEAD."""
    tips = [f"refs/tags/{tag}" for tag in releases.release_tags(git, pattern)]
    if gitrepo.commit_of(git, "HEAD"):
        tips.append("HEAD")
    if not tips:
        return set()
    listed = gitrepo.run(git, "rev-list", "--stdin", stdin="".join(f"{t}\n" for t in tips))
    return set(listed.split())


def _add_notes(figures: CommitFigures, sources: releases.Sources, commits: Iterable[str],
               filters: Filters, pricer: Pricer) -> None:
    since, until = filters.time_range()
    for commit, body in sources.note_bodies(sorted(commits)).items():
        try:
            groups = [costs.group_from_row(g) for g in body["groups"]]
        except (KeyError, TypeError, ValueError):
            continue  # a note that cannot be read (another version, hand-edited): no figures
        models: dict[str, Totals] = {}
        for group in groups:
            if _overlaps(group, since, until) and filters.admits(group.evidence):
                models.setdefault(group.model, Totals.empty()).add(pricer(group))
        if models:
            figures.by_model[commit] = models
            figures.from_notes.add(commit)


def _overlaps(group: PriceGroup, since: str | None, until: str | None) -> bool:
    """Whether the group's UTC day overlaps [since, until)."""
    start = f"{group.day}T00:00:00.000Z"
    return (since is None or group.day >= since[:10]) and (until is None or start < until)
