"""Release totals: the commits between two tags, their tokens and cost, from ledger and notes.

A release is the commits reachable from its tag and not from the previous tag (the nearest
tag reachable from the tag's parents); the first tag starts at the root. A tag that does
not exist yet means HEAD, so the notes can be written before tagging.

Cost grows with the range, not the ledger: one `git rev-list` for the range, indexed
lookups by commit id in the ledger's index, and, for the commits the ledger lacks (a
teammate's), one `git notes list` and one `git cat-file --batch` for all their notes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from tokentag.core.errors import TokentagError
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.index import Index
from tokentag.ledger.store import Store
from tokentag.notes import NOTES_REF, content
from tokentag.release import carried
from tokentag.report import costs, spikes
from tokentag.report.costs import PriceGroup, Totals
from tokentag.report.pricing import PriceOverride
from tokentag.report.spikes import Spike, SpikeRule

if TYPE_CHECKING:
    from git import Git

Prices = Mapping[str, PriceOverride]
# Release tags when no tag_pattern is configured: versions, optionally with a `v` and a
# pre-release or build suffix.
VERSION_TAG = re.compile(r"[vV]?\d+(\.\d+)*([-+.][0-9A-Za-z][0-9A-Za-z.+-]*)?")
DEFAULT_TAG_GLOBS = ("v[0-9]*", "V[0-9]*", "[0-9]*")
MAX_EXCLUDED = 20  # tags that look like versions to a glob and are none, skipped in a row
REMOTE_WAIT = 10.0  # seconds a remote may take to list its notes ref


@dataclass(frozen=True)
class Range:
    """The commits of one release, newest first, with their subjects."""

    tag: str
    end: str
    tagged: bool  # False: the tag does not exist yet and `end` is HEAD
    previous: str | None  # the previous tag, the --from ref, or None from the root
    commits: tuple[str, ...]
    subjects: Mapping[str, str]

    @property
    def spec(self) -> str:
        end = self.tag if self.tagged else "HEAD"
        return f"{self.previous}..{end}" if self.previous else end


@dataclass
class CommitTotals:
    commit: str
    subject: str
    source: str  # "ledger", "git note" or "carried"
    totals: Totals
    by_model: dict[str, Totals]
    carried_from: tuple[str, ...] = ()  # the originals a server merge made this commit of

    spike: Spike | None = None  # cost far above the median of the commits before it

    def as_json(self) -> dict[str, Any]:
        data = {"commit": self.commit, "subject": self.subject, "source": self.source,
                **self.totals.as_json(), "spike": self.spike.as_json() if self.spike else None}
        if self.carried_from:
            data["carried_from"] = list(self.carried_from)
        return data


@dataclass
class Release:
    range: Range
    total: Totals
    by_model: dict[str, Totals]
    by_commit: list[CommitTotals]
    sessions: int
    sessions_exact: bool  # False when old notes without session ids gave only counts
    note_commits: int
    inferred_requests: int
    # Usage on commits no release reaches (abandoned, or merged in a way no commit of the
    # range matches), from this release's time on: listed, never counted.
    outside: Totals = field(default_factory=Totals.empty)
    outside_commits: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The contract object; keys beyond the contract's are extras."""
        rng = self.range
        return {"tag": rng.tag, "previous_tag": rng.previous, "range": rng.spec,
                "end": rng.end, "tagged": rng.tagged, "commits": len(rng.commits),
                "commits_with_usage": len(self.by_commit), "sessions": self.sessions,
                "sessions_exact": self.sessions_exact,
                "commits_from_notes": self.note_commits, **self.total.as_json(),
                "inferred_requests": self.inferred_requests,
                "by_model": [{"model": m, **t.as_json()} for m, t in self.by_model.items()],
                "by_commit": [c.as_json() for c in self.by_commit],
                "outside_releases": {"commits": list(self.outside_commits),
                                     **self.outside.as_json()}}

    def summary(self) -> str:
        """One line for the terminal."""
        rng, total = self.range, self.total
        return (f"{rng.tag} ({rng.spec}): {len(rng.commits):,} commit(s), {total.requests:,} "
                f"request(s), {total.usage.total:,} tokens, {total.cost_text()}")

    def most_expensive(self, count: int = 5) -> list[CommitTotals]:
        return sorted(self.by_commit, key=lambda c: _cost_order(c.totals))[:count]

    def spikes(self) -> list[CommitTotals]:
        """The commits flagged as spikes, oldest first."""
        return [item for item in reversed(self.by_commit) if item.spike is not None]


def _cost_order(totals: Totals) -> tuple[float, int]:
    """Largest cost first; unpriced after priced, then by tokens."""
    cost = totals.cost_usd
    return (-(cost if cost is not None else -1.0), -totals.usage.total)


# -- the range ----------------------------------------------------------------------


def resolve_range(git: Git, tag: str, from_ref: str | None = None,
                  pattern: str | None = None, allow_empty: bool = False) -> Range:
    """The commits of release `tag`; a one-line error for unknown refs or an empty range.
    `git` runs git in the repository (`gitrepo.open_repo(top).git`)."""
    end, tagged = _end_of(git, tag, pattern)
    previous: str | None
    start: str | None
    if from_ref is not None:
        previous, start = from_ref, gitrepo.resolve_commit(git, from_ref)
    else:
        previous = _previous_tag(git, end, tagged, pattern)
        start = gitrepo.resolve_commit(git, f"refs/tags/{previous}") if previous else None
    shas, subjects = _rev_list(git, end, start)
    result = Range(tag, end, tagged, previous, tuple(shas), subjects)
    if not shas and not allow_empty:
        raise TokentagError(f"no commits in range {result.spec}: nothing to release")
    return result


def _end_of(git: Git, tag: str, pattern: str | None) -> tuple[str, bool]:
    """The commit `tag` names (tags win over branches); HEAD for a release not tagged yet."""
    for ref in (f"refs/tags/{tag}", tag):
        sha = gitrepo.commit_of(git, ref)
        if sha:
            return sha, True
    valid = gitrepo.run(git, "check-ref-format", "--normalize", f"refs/tags/{tag}",
                        check=False)
    # A name that could never be a tag, or one outside the release pattern, is a typo,
    # not an upcoming release.
    if not valid or tag.startswith("-") or (pattern and not fnmatchcase(tag, pattern)):
        hint = f" (release tags match {pattern!r})" if pattern else ""
        raise TokentagError(f"unknown tag or ref: {tag}{hint}")
    head = gitrepo.commit_of(git, "HEAD")
    if not head:
        raise TokentagError("no commits yet: nothing to release")
    return head, False


def is_release_tag(name: str, pattern: str | None) -> bool:
    """Whether a tag names a release: the configured glob, else a version (`v1.2`,
    `1.2.0`, `v2.0.0-rc1`), so that `deploy-staging` or `latest` is none."""
    return fnmatchcase(name, pattern) if pattern else VERSION_TAG.fullmatch(name) is not None


def _previous_tag(git: Git, end: str, tagged: bool, pattern: str | None) -> str | None:
    """The nearest release tag reachable from the tag's parents (from HEAD itself when
    the tag does not exist yet: a tag on HEAD is then the previous release)."""
    starts = _parents(git, end) if tagged else [end]
    found: list[str] = []
    for start in starts:
        name = _nearest_tag(git, start, pattern)
        if name and name not in found:
            found.append(name)
    if len(found) <= 1:
        return found[0] if found else None
    # A merge: each parent may lead to a different tag; the nearest leaves the fewest commits.
    return min(found, key=lambda name: int(gitrepo.run(
        git, "rev-list", "--count", end, f"^refs/tags/{name}")))


def _nearest_tag(git: Git, start: str, pattern: str | None) -> str | None:
    """`git describe`'s nearest tag that names a release: globs narrow the search, and a
    tag they let through that is no version is excluded and the search made again."""
    match = ["--match", pattern] if pattern else [
        arg for glob in DEFAULT_TAG_GLOBS for arg in ("--match", glob)]
    excluded: list[str] = []
    for _ in range(MAX_EXCLUDED):
        name = gitrepo.run(git, "describe", "--tags", "--abbrev=0", *match, *excluded, start,
                           check=False)
        if not name or is_release_tag(name, pattern):
            return name or None
        excluded += ["--exclude", name]
    return None


def _parents(git: Git, commit: str) -> list[str]:
    return gitrepo.run(git, "rev-list", "--parents", "-n", "1", commit).split()[1:]


def _rev_list(git: Git, end: str, start: str | None) -> tuple[list[str], dict[str, str]]:
    """Range commits newest first and their subjects, from one `git rev-list`."""
    exclude = [f"^{start}"] if start else []
    # %x00 marks subject lines, so a subject that starts with "commit " cannot confuse us.
    out = gitrepo.run(git, "rev-list", "--format=%x00%s", end, *exclude, "--")
    shas: list[str] = []
    subjects: dict[str, str] = {}
    for line in out.split("\n"):  # not splitlines(): subjects may hold \x1c, \u2028...
        if line.startswith("commit "):
            shas.append(line[len("commit "):].strip())
        elif line.startswith("\x00") and shas:
            subjects[shas[-1]] = line[1:]
    return shas, subjects


# -- the totals -----------------------------------------------------------------------


@contextmanager
def ledger_index(worktree: Worktree) -> Iterator[Index | None]:
    """The ledger's index, or None in a clone without a ledger (notes only): a release
    report there must not create a tokentag dir as a side effect."""
    store = Store.of(worktree)
    if not os.path.exists(store.ledger_path):
        yield None
        return
    with store.reading() as index:
        yield index


@dataclass
class Sources:
    """Where per-commit figures come from: the ledger's index first, then git notes.
    The notes listing is read once and shared by every release computed with it. Only
    price groups of the `evidence` kinds count (all when None)."""

    git: Git
    index: Index | None
    prices: Prices = field(default_factory=dict)
    evidence: tuple[str, ...] | None = None
    spike_rule: SpikeRule | None = None
    _note_blobs: dict[str, str] | None = field(default=None, init=False, repr=False)

    def kept(self, groups: list[PriceGroup]) -> list[PriceGroup]:
        """The groups of the evidence kinds asked for."""
        return [g for g in groups if self.evidence is None or g.evidence in self.evidence]

    def noted(self) -> set[str]:
        """Every commit that has a note."""
        return set(self._listing())

    def note_bodies(self, wanted: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not wanted:
            return {}
        listing = self._listing()
        blobs = {c: listing[c] for c in wanted if c in listing}
        texts = gitrepo.read_blobs(self.git, sorted(set(blobs.values())))
        bodies = {c: content.parse_note(texts.get(blob, b"").decode("utf-8", "replace"))
                  for c, blob in blobs.items()}
        return {c: body for c, body in bodies.items() if body is not None}

    def _listing(self) -> dict[str, str]:
        """Note blob by commit, from one `git notes list`."""
        if self._note_blobs is None:
            listing = gitrepo.run(self.git, "notes", "--ref", NOTES_REF, "list",
                                  check=False)
            pairs = (line.split() for line in listing.split("\n"))
            self._note_blobs = {p[1]: p[0] for p in pairs if len(p) == 2}
        return self._note_blobs

    def carried(self, rng: Range, bare: Sequence[str],
                ) -> tuple[dict[str, dict[str, list[PriceGroup]]], dict[str, list[PriceGroup]]]:
        """Which commits of the range (`bare`: those without usage of their own) carry
        which originals' groups, and the originals left outside every release."""
        found = self._originals(rng)
        matched = carried.match(self.git, bare, list(found), rng.end)
        carriers = {c: {o: found[o] for o in olds} for c, olds in matched.items()}
        taken = {o for olds in matched.values() for o in olds}
        return carriers, {o: groups for o, groups in found.items() if o not in taken}

    def _originals(self, rng: Range) -> dict[str, list[PriceGroup]]:
        """Commits with usage outside the range and unreachable from its end, whose time
        is within the range's window, each with its price groups (ledger first)."""
        ledger = self.index.reads.commits_with_usage() if self.index is not None else []
        inside = set(rng.commits)
        candidates = [c for c in dict.fromkeys([*ledger, *self._listing()]) if c not in inside]
        since = _commit_time(self.git, rng.previous) - carried.WINDOW_SLACK if rng.previous \
            else 0
        recent = [c for c, when in _commit_times(self.git, candidates).items() if when >= since]
        found = carried.originals(self.git, recent, rng.end)
        groups = costs.index_groups(self.index, found) if self.index is not None else {}
        known = self.index.known_commits(found) if self.index is not None else set()
        for commit, body in self.note_bodies([c for c in found if c not in groups
                                              and c not in known]).items():
            groups[commit] = [costs.group_from_row(g) for g in body["groups"]]
        return {c: groups[c] for c in found if groups.get(c)}


def collect(sources: Sources, rng: Range) -> Release:
    """Tokens and cost of every commit in `rng`, summed by commit and by model, with the
    usage its commits carry from originals a server merge replaced (see carried)."""
    groups = costs.index_groups(sources.index, rng.commits) if sources.index else {}
    session_ids, inferred = _ledger_counts(sources.index, list(groups))
    from_notes: set[str] = set()
    unidentified_sessions = 0
    known = sources.index.known_commits(rng.commits) if sources.index else set()
    missing = [c for c in rng.commits if c not in groups and c not in known]
    for commit, body in sources.note_bodies(missing).items():
        try:
            groups[commit] = [costs.group_from_row(g) for g in body["groups"]]
        except (KeyError, TypeError, ValueError):
            continue  # a note we cannot read (another version, hand-edited): no figures
        from_notes.add(commit)
        ids = content.session_ids_of(body)
        session_ids.update(ids)
        if not ids:  # an older note: only a count, which may repeat another commit's
            unidentified_sessions += int(body.get("sessions") or 0)
        inferred += int(body.get("inferred_requests") or 0)
    bare = [c for c in rng.commits if not groups.get(c)]
    carriers, outside = sources.carried(rng, bare) if bare else ({}, {})
    if sources.evidence is not None:
        groups = {c: sources.kept(found) for c, found in groups.items()}
        carriers = {c: {o: sources.kept(gs) for o, gs in found.items()}
                    for c, found in carriers.items()}
        outside = {o: sources.kept(gs) for o, gs in outside.items()}
    by_commit = [_commit_totals(c, rng.subjects.get(c, ""), groups[c], c in from_notes,
                                sources.prices) for c in rng.commits if groups.get(c)]
    by_commit += [_carried_totals(c, rng.subjects.get(c, ""), found, sources.prices)
                  for c, found in carriers.items()]
    order = {commit: place for place, commit in enumerate(rng.commits)}
    by_commit.sort(key=lambda item: order[item.commit])
    _flag_spikes(by_commit, sources.spike_rule)
    return Release(rng, costs.overall(c.totals for c in by_commit), _by_model(by_commit),
                   by_commit, len(session_ids) + unidentified_sessions,
                   unidentified_sessions == 0, len(from_notes), inferred,
                   costs.overall(costs.totals_by_model(
                       [g for gs in outside.values() for g in gs], sources.prices).values()),
                   tuple(outside))


def _flag_spikes(by_commit: Sequence[CommitTotals], rule: SpikeRule | None) -> None:
    """Mark the commits that cost far more than those before them in the range (the range
    alone: a release costs O(its commits), so no history before it is read)."""
    found = spikes.flag([(item.commit, item.totals) for item in reversed(by_commit)], rule)
    for item in by_commit:
        item.spike = found.get(item.commit)


def _carried_totals(commit: str, subject: str, originals: dict[str, list[PriceGroup]],
                    prices: Prices) -> CommitTotals:
    by_model = costs.totals_by_model([g for gs in originals.values() for g in gs], prices)
    return CommitTotals(commit, subject, "carried", costs.overall(by_model.values()),
                        by_model, tuple(originals))


def _commit_totals(commit: str, subject: str, groups: Sequence[PriceGroup], from_note: bool,
                   prices: Prices) -> CommitTotals:
    by_model = costs.totals_by_model(groups, prices)
    return CommitTotals(commit, subject, "git note" if from_note else "ledger",
                        costs.overall(by_model.values()), by_model)


def _by_model(by_commit: Sequence[CommitTotals]) -> dict[str, Totals]:
    models: dict[str, Totals] = {}
    for item in by_commit:
        for model, totals in item.by_model.items():
            models.setdefault(model, Totals.empty()).add(totals)
    return dict(sorted(models.items(), key=lambda kv: (*_cost_order(kv[1]), kv[0])))


def _commit_times(git: Git, commits: Sequence[str]) -> dict[str, int]:
    """Committer times of the commits git has (one rev-list, the missing skipped)."""
    if not commits:
        return {}
    out = gitrepo.run(git, "rev-list", "--no-walk", "--ignore-missing", "--format=%ct",
                      "--stdin", stdin="".join(f"{c}\n" for c in commits), check=False)
    times: dict[str, int] = {}
    commit = ""
    for line in out.splitlines():
        if line.startswith("commit "):
            commit = line[len("commit "):].strip()
        elif commit and line.strip().isdigit():
            times[commit] = int(line)
    return times


def _commit_time(git: Git, ref: str) -> int:
    out = gitrepo.run(git, "log", "-1", "--format=%ct", ref, "--", check=False)
    return int(out) if out.isdigit() else 0


def _ledger_counts(index: Index | None, commit_ids: Sequence[str]) -> tuple[set[str], int]:
    """Distinct sessions and inferred requests of these commits, from the ledger."""
    return index.reads.sessions_and_inferred(commit_ids) if index is not None else (set(), 0)


# -- the library API behind `tokentag release` and `report --by tag` ---------------------


def build(worktree: Worktree, tag: str, from_ref: str | None = None,
          pattern: str | None = None, prices: Prices | None = None,
          evidence: tuple[str, ...] | None = None,
          spike_rule: SpikeRule | None = None) -> Release:
    """Release `tag`, from the previous release tag or from `from_ref`; of the `evidence`
    kinds only, when given."""
    git = gitrepo.open_repo(worktree.top).git
    rng = resolve_range(git, tag, from_ref, pattern)
    with ledger_index(worktree) as index:
        return collect(Sources(git, index, prices or {}, evidence, spike_rule), rng)


def build_all(worktree: Worktree, pattern: str | None = None, prices: Prices | None = None,
              evidence: tuple[str, ...] | None = None, spike_rule: SpikeRule | None = None
              ) -> tuple[list[Release], Release | None]:
    """Every release tag's release, oldest first, and what HEAD adds after the last one."""
    git = gitrepo.open_repo(worktree.top).git
    ranges = [resolve_range(git, tag, pattern=pattern, allow_empty=True)
              for tag in release_tags(git, pattern)]
    unreleased = untagged_range(git, pattern)
    with ledger_index(worktree) as index:
        sources = Sources(git, index, prices or {}, evidence, spike_rule)
        releases = [collect(sources, rng) for rng in ranges]
        return releases, collect(sources, unreleased) if unreleased else None


def unfetched_notes(worktree: Worktree) -> str | None:
    """When a release found no usage in a clone without tokentag notes: the way to fetch
    them, if a remote has some (asked with a bounded wait, never a prompt)."""
    git = gitrepo.open_repo(worktree.top).git
    # Install starts the ref with a commit of no notes: that clone has none either.
    if gitrepo.commit_of(git, NOTES_REF) and \
            gitrepo.run(git, "ls-tree", NOTES_REF, check=False):
        return None
    quiet = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
    for remote in gitrepo.run(git, "remote", check=False).split():
        listed = gitrepo.run(git, "ls-remote", remote, NOTES_REF, check=False,
                             env=quiet, timeout=REMOTE_WAIT)
        if listed.strip():
            return (f"{remote} has tokentag notes this clone has not fetched: "
                    f"git fetch {remote} +{NOTES_REF}:{NOTES_REF}")
    return None


def release_tags(git: Git, pattern: str | None = None) -> list[str]:
    """Tags of commits matching the release pattern, in version order (oldest first)."""
    out = gitrepo.run(git, "for-each-ref", "--sort=v:refname",
                      "--format=%(refname:strip=2)%00%(objecttype)%00%(*objecttype)",
                      "refs/tags")
    tags = []
    for line in out.split("\n"):
        name, _, kinds = line.partition("\x00")
        if "commit" in kinds.split("\x00") and is_release_tag(name, pattern):
            tags.append(name)
    return tags


def untagged_range(git: Git, pattern: str | None = None) -> Range | None:
    """The commits after the last release tag reachable from HEAD; None if there are none."""
    head = gitrepo.commit_of(git, "HEAD")
    if not head:
        return None
    previous = _previous_tag(git, head, False, pattern)
    start = gitrepo.resolve_commit(git, f"refs/tags/{previous}") if previous else None
    shas, subjects = _rev_list(git, head, start)
    return Range("HEAD", head, False, previous, tuple(shas), subjects) if shas else None


def commit_owners(git: Git, pattern: str | None = None) -> dict[str, str]:
    """The release each commit belongs to; a commit in two ranges (tags on diverging
    branches) counts for the older release only, so a report never counts it twice."""
    owners: dict[str, str] = {}
    for tag in release_tags(git, pattern):
        for sha in resolve_range(git, tag, pattern=pattern, allow_empty=True).commits:
            owners.setdefault(sha, tag)
    return owners
