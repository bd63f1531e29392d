"""Which pending requests a new commit takes.

- A request belongs to the first commit made in the same worktree after its first line
  appeared in its transcript: the commit takes what is pending in its worktree.
- One captured before the worktree's previous commit (or, for its first commit, before
  install), which that commit did not take, is older than it: usage the
  Claude Code hooks captured before the git hooks were in place, or while a commit could
  not attribute (its lock wait ran out). It belongs to the commits that followed its own
  time: the first attributed commit after it, else by the time rule on the worktree's
  history (attribution.history), marked `inferred`, not dumped on this commit.
- A request `tokentag import` found goes only to a commit on its own branch (weeks of
  history from other or deleted branches must not pile onto the next commit); one whose
  branch no longer exists goes by the time rule on its worktree's history.
"""

from __future__ import annotations

import os

from tokentag.core.timefmt import epoch_of, now_iso
from tokentag.git import gitcmd
from tokentag.ledger import records

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.attribution.history import History
    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.index import Index, Pending
    from tokentag.ledger.records import AttributionRecord

OBSERVED, INFERRED = "observed", "inferred"
LATE_MARGIN = 60  # seconds of clock slack between a capture and a commit's look


def attributions(index: Index, worktree: Worktree, commit: str) -> list[AttributionRecord]:
    """The records that give `commit` what is pending in its worktree, and the late ones to
    the commits that followed them."""
    pending = index.pending(worktree.name)
    if not pending:
        return []
    taken: dict[tuple[str, str], list[str]] = {}
    previous = _previous_commit(index, worktree) - LATE_MARGIN
    branch = current_branch(worktree)
    late: list[Pending] = []
    for request in pending:
        if records.imported(request.via) and request.branch != branch and \
                _branch_exists(worktree, request.branch):
            continue  # its own branch's next commit takes it
        if _epoch(request.ts) != float("-inf") and (
                records.imported(request.via) or _epoch(request.captured_at) < previous):
            late.append(request)
            continue
        how = INFERRED if records.imported(request.via) else OBSERVED
        taken.setdefault((commit, how), []).append(request.key)
    for key, place in _places_of_late(index, worktree, commit, late).items():
        taken.setdefault(place, []).append(key)
    at = now_iso()
    return [records.attribution(target, worktree.name, keys, how, at)
            for (target, how), keys in taken.items()]


def _previous_commit(index: Index, worktree: Worktree) -> float:
    """When the worktree's previous commit was attributed; for its first, when tokentag was
    installed (nothing before that was this commit's); -inf when neither is known."""
    latest = index.latest_observed_commit_at(worktree.name)
    if latest:
        return _epoch(latest)
    installed = index.installed_ns()
    return installed / 1e9 if installed else float("-inf")


def _places_of_late(index: Index, worktree: Worktree, commit: str,
                    late: list[Pending]) -> dict[str, tuple[str, str]]:
    """Each late request's commit: the first attributed one after it, else the first on
    the worktree's history after it (git is asked only then), else this one."""
    places: dict[str, tuple[str, str]] = {}
    unplaced: list[Pending] = []
    for request in late:
        earlier = index.commit_attributed_since(worktree.name, request.ts) if request.ts \
            else None
        if earlier is not None and earlier != commit:
            places[request.key] = (earlier, INFERRED)
        else:
            unplaced.append(request)
    if unplaced:
        history = _head_history(worktree, min(_epoch(r.ts) for r in unplaced))
        for request in unplaced:
            found = history.first_at_or_after(_epoch(request.ts))
            imported = records.imported(request.via)
            places[request.key] = (found, INFERRED) if found and found != commit else (
                commit, INFERRED if imported else OBSERVED)
    return places


def _head_history(worktree: Worktree, since: float) -> History:
    """Only late requests need the history, rarely: its module loads on every commit else."""
    from tokentag.attribution.history import History

    def run(*args: str) -> str:
        return gitcmd.run(worktree.top, *args, check=False)

    return History.load(run, "HEAD", since)


def current_branch(worktree: Worktree) -> str:
    """The worktree's branch as HEAD names it ("HEAD" when detached), from the file."""
    try:
        with open(os.path.join(worktree.git_dir, "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
    except OSError:
        return "HEAD"
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else "HEAD"


def _branch_exists(worktree: Worktree, branch: str | None) -> bool:
    """From the ref files (a loose ref, or a line of packed-refs), without running git."""
    if not branch:
        return False
    if os.path.isfile(os.path.join(worktree.common_dir, "refs", "heads", branch)):
        return True
    try:
        with open(os.path.join(worktree.common_dir, "packed-refs"), "rb") as handle:
            return f" refs/heads/{branch}\n".encode() in handle.read()
    except OSError:
        return os.path.isdir(os.path.join(worktree.common_dir, "reftable"))  # can't tell


def _epoch(moment: str | None) -> float:
    found = epoch_of(moment) if moment else None
    return float("-inf") if found is None else found
