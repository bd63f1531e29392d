"""Usage of commits that reached a release as other commits: carried, counted once.

A hosting server merges without running anyone's hooks. A rebase-merge makes new commits
with the same patches (`git patch-id --stable`) as the pull request's; a squash-merge makes
one commit whose change equals the combined change of the pull request's run of commits.
The originals hold the usage (in the developer's ledger, or in their notes, which CI
fetches with the pull request refs); the release's commits do not. So a commit of the range
with no usage of its own carries the usage of the originals it matches:

- the same patch as one original (rebase-merge, cherry-pick): that original's usage;
- the same patch as the change from the merge base to an original that is the tip of a
  run (squash-merge): the usage of every original of that run.

Originals are the commits with usage that are neither in the range nor reachable from its
end, and whose usage is no older than the range's start (a release costs what its range
and its window hold, not the whole ledger). Those no commit of the range carries are
listed as usage outside any release: never dropped without a word.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tokentag.git import gitrepo

if TYPE_CHECKING:
    from git import Git

# How long before the range's start an original's commit may have been made: a pull
# request's first commits can precede the previous release by weeks.
WINDOW_SLACK = 90 * 86400


def originals(git: Git, candidates: Iterable[str], end: str) -> list[str]:
    """Those of `candidates` that git has and that are not reachable from `end`."""
    wanted = list(dict.fromkeys(candidates))
    if not wanted:
        return []
    present = set(gitrepo.run(git, "rev-list", "--no-walk", "--ignore-missing", "--stdin",
                              stdin="".join(f"{c}\n" for c in wanted), check=False).split())
    if not present:
        return []
    out = gitrepo.run(git, "rev-list", "--stdin", f"^{end}", "--",
                      stdin="".join(f"{c}\n" for c in present), check=False)
    unreachable = set(out.split())
    return [c for c in wanted if c in unreachable]


def match(git: Git, bare: Sequence[str], found: Sequence[str],
          end: str) -> dict[str, list[str]]:
    """Which commits of the range (`bare`: those with no usage of their own) carry which
    originals (`found`)."""
    if not bare or not found:
        return {}
    by_patch = _patch_ids(git, [*bare, *found])
    carriers: dict[str, list[str]] = {}
    taken: set[str] = set()
    owners = {by_patch[c]: c for c in bare if c in by_patch}
    for original in found:  # rebase-merge, cherry-pick: the same patch
        carrier = owners.get(by_patch.get(original, ""))
        if carrier is not None and original not in taken:
            carriers.setdefault(carrier, []).append(original)
            taken.add(original)
    for tip in _tips(git, [c for c in found if c not in taken]):  # squash-merge: a run
        carrier = owners.get(_combined_patch_id(git, tip, end) or "")
        run = [c for c in _run(git, tip, end) if c in found and c not in taken]
        if carrier is not None and run:
            carriers.setdefault(carrier, []).extend(run)
            taken.update(run)
    return carriers


def _patch_ids(git: Git, commits: Sequence[str]) -> dict[str, str]:
    """Each commit's stable patch id (merges and empty commits have none)."""
    patches = gitrepo.result(git, "diff-tree", "-p", "--no-color", "--stdin",
                             stdin="".join(f"{c}\n" for c in commits)).stdout
    out = gitrepo.result(git, "patch-id", "--stable", stdin=patches).text
    ids: dict[str, str] = {}
    for line in out.splitlines():
        patch, _, commit = line.partition(" ")
        ids.setdefault(commit, patch)
    return ids


def _combined_patch_id(git: Git, tip: str, end: str) -> str | None:
    """The patch id of the whole change a run ending at `tip` made, from where it left
    `end`'s history."""
    base = gitrepo.run(git, "merge-base", end, tip, check=False)
    if not base:
        return None
    # diff-tree, as for the commits' own patch ids: porcelain `git diff` would apply the
    # diff drivers a repository's attributes select and the user's diff settings
    # (prefixes, renames), and the two sides would not match.
    diff = gitrepo.result(git, "diff-tree", "-p", "--no-color", base, tip).stdout
    out = gitrepo.result(git, "patch-id", "--stable", stdin=diff).text
    return out.split()[0] if out else None


def _tips(git: Git, commits: Sequence[str]) -> list[str]:
    """Those of `commits` that are no other's ancestor within the set."""
    if len(commits) <= 1:
        return list(commits)
    out = gitrepo.run(git, "rev-list", "--parents", "--no-walk", "--stdin",
                      stdin="".join(f"{c}\n" for c in commits), check=False)
    parents = {p for line in out.splitlines() for p in line.split()[1:]}
    return [c for c in commits if c not in parents]


def _run(git: Git, tip: str, end: str) -> list[str]:
    """The commits from where `tip`'s line left `end`'s history up to `tip`."""
    return gitrepo.run(git, "rev-list", tip, f"^{end}", "--", check=False).split()
