"""The retroactive rule: requests no hook saw, onto the past commits that followed them.

An imported request no commit has taken yet goes to the first commit, in committer-time
order, on its `gitBranch`'s first-parent history whose commit time is at or after the
request's timestamp, marked `inferred`; when that branch is gone (deleted, renamed, the
empty branch of old Claude Code versions), on its worktree's HEAD history instead (see
attribution.history). One with no such commit stays pending until a commit in its
worktree takes it (see attribution.rules). `install` applies the same rule to what hooks
captured before the git hooks were in place (`assign_backlog`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tokentag.attribution.history import History
from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import epoch_of, now_iso
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, on_disk, refs_fingerprint
from tokentag.importer.options import Summary
from tokentag.importer.writer import append
from tokentag.ledger import records as ledger_records
from tokentag.ledger.index import Index
from tokentag.ledger.store import Store
from tokentag.notes import content, publish
from tokentag.notes.bulk import NotesImport

if TYPE_CHECKING:
    from tokentag.ledger.records import AttributionRecord

INFERRED = "inferred"
# How much further back than asked a branch's history is read: transcripts arrive in no
# time order, so without it each batch holding an earlier request cost another `git log`
# (five to eight of them, 30-50 ms, on the bench data). Claude Code keeps 30 days.
HISTORY_REACH = 30 * 86400


Pending = tuple[str, str, str | None, str]  # key, worktree, branch, timestamp


class Inference:
    """The retroactive rule: a request goes to the first commit, in committer-time order,
    on its branch's first-parent history (the commits made on it, merges included, not
    those a merge brought in) whose commit time is at or after the request's timestamp.
    Branch tips and histories are read once per import."""

    def __init__(self, worktree: Worktree) -> None:
        self.worktree = worktree
        self.top = worktree.top
        self.histories: dict[str, History] = {}
        self.touched: set[str] = set()
        self.count = 0
        self._tips: dict[str, str] | None = None
        # The ref files as they were just before the tips were read: stored with the tips,
        # so a branch that moves while the import runs is seen by the next one.
        self.refs_before_tips: str | None = None

    @property
    def tips(self) -> dict[str, str]:
        if self._tips is None:
            self.refs_before_tips = refs_fingerprint(self.worktree.common_dir)
            self._tips = branch_tips(self.worktree)
        return self._tips

    def history(self, branch: str | None, since: float, worktree: str) -> History | None:
        """The branch's first-parent history; for a branch that does not exist here
        (deleted, renamed, another clone's, none recorded) the worktree's HEAD's; None
        when the worktree is gone too."""
        tips = self.tips  # first: the ref files' fingerprint must predate every history read
        if branch is not None and branch in tips:
            key, ref, where = branch, f"refs/heads/{branch}", self.top
        elif os.path.isdir(on_disk(worktree)):
            key, ref, where = f"HEAD of {worktree}", "HEAD", on_disk(worktree)
        else:
            return None
        known = self.histories.get(key)
        if known is None or known.since > since:
            def run(*args: str) -> str:
                # Through gitcmd, not GitPython: an import that reads histories while its
                # workers read transcripts would pay its import (~70 ms) on the writer's time.
                return gitcmd.output_of(where, self.worktree.tokentag_dir, *args, check=False)

            known = self.histories[key] = History.load(run, ref, since - HISTORY_REACH)
        return known

    def records(self, pending: Iterable[Pending]) -> list[AttributionRecord]:
        """Attribution records, one per (commit, worktree), for those with a later commit."""
        groups: dict[tuple[str, str | None], list[tuple[str, float]]] = {}
        for key, worktree, branch, timestamp in pending:
            groups.setdefault((worktree, branch), []).append((key, _epoch(timestamp)))
        assigned: dict[tuple[str, str], list[str]] = {}
        for (worktree, branch), items in groups.items():
            history = self.history(branch, min(moment for _, moment in items), worktree)
            if history is None:
                continue
            for key, moment in items:
                commit = history.first_at_or_after(moment)
                if commit is not None:
                    assigned.setdefault((commit, worktree), []).append(key)
        self.touched.update(commit for commit, _ in assigned)
        self.count += sum(len(keys) for keys in assigned.values())
        return [ledger_records.attribution(commit, worktree, keys, INFERRED, now_iso())
                for (commit, worktree), keys in assigned.items()]


def assign_backlog(worktree: Worktree) -> tuple[int, int]:
    """What the Claude Code hooks captured before the git hooks were in place, to the past
    commits that followed it (the time rule, `inferred`), as install does: left pending, it
    would all go to the next commit. What is newer than every commit stays pending for the
    next one. Returns (requests, commits) assigned."""
    store = Store.of(worktree)
    if not os.path.exists(store.ledger_path):
        return 0, 0
    inference = Inference(worktree)
    with store.reading(create=True) as index:
        with store.writing_to(index) as writer:
            backlog = [(p.key, p.worktree, p.branch, p.ts) for p in writer.index.pending(None)
                       if p.ts and os.path.isdir(on_disk(p.worktree))]
            writer.write(inference.records(backlog))
        failures = publish.publish(worktree, index, sorted(inference.touched), repairs=None)
    if failures:
        raise TokentagError("; ".join(failures))
    return inference.count, len(inference.touched)


def finish_attribution(worktree: Worktree, summary: Summary, inference: Inference) -> None:
    """Attribute what is still pending (from earlier imports too: a branch may have moved
    since), then write the notes of every commit this import gave requests to."""
    # The notes' git processes finish after the lock is released, which hooks wait on.
    with contextlib.ExitStack() as after_the_lock, Store.of(worktree).writing() as writer:
        records, stamps = _leftovers(writer.index, inference, changed=summary.new > 0)
        append(writer, records)
        if stamps is not None:  # after the records: a pass that failed is not skipped later
            writer.index.set_import_stamps(*stamps)
        if inference.touched:
            written = after_the_lock.enter_context(NotesImport(worktree.top))
            for commit in sorted(inference.touched):
                body = content.note_for(writer.index, commit)
                if body is not None:
                    written.add(commit, body)
    summary.inferred, summary.inferred_commits = inference.count, len(inference.touched)


def _leftovers(index: Index, inference: Inference,
               changed: bool) -> tuple[list[AttributionRecord], tuple[str, str] | None]:
    """Records for pending imported requests, and the stamps of the branch tips they were
    decided on (kept in the state file). The same pending requests and the same tips give
    the same answer: with nothing new and no tip moved since the last pass, a repeated
    import skips it (see run.unchanged), looking at the ref files' sizes and mtimes alone
    if they did not change, else asking git for the branch tips. Requests of a branch
    that is not among them go by their worktree's HEAD, which the stamp does not hold:
    while any wait so, each new HEAD file (a commit on a detached HEAD, but also a
    checkout) costs the next import one pass."""
    refs = refs_fingerprint(inference.worktree.common_dir)
    inferred_at, refs_seen = index.import_stamps()
    if not changed and refs is not None and refs_seen == refs:
        return [], None
    groups = index.pending_imported_branches()
    if not groups:  # nothing to decide at these refs: the next import need not look again
        return [], (None if refs is None else (inferred_at, refs))
    stamp = " ".join(f"{b}={sha}" for b, sha in sorted(inference.tips.items()))
    stamps = (stamp, inference.refs_before_tips or "")
    by_heads = any(branch not in inference.tips and os.path.isdir(on_disk(worktree))
                   for worktree, branch, _ in groups)
    if not changed and inferred_at == stamp and not by_heads:
        return [], stamps
    pending: list[Pending] = []
    for worktree, branch, earliest in groups:
        first = _epoch(earliest)
        history = inference.history(branch, first, worktree)
        if history is not None and history.has_after(first):
            pending.extend((key, worktree, branch, ts)
                           for key, ts in index.pending_imported(worktree, branch))
    return inference.records(pending), stamps


def _epoch(timestamp: str) -> float:
    moment = epoch_of(timestamp)
    return float("inf") if moment is None else moment  # no time: no commit follows it


def branch_tips(worktree: Worktree) -> dict[str, str]:
    """Local branch -> the commit it points at. Through gitcmd, not GitPython: a repeated
    import reads the tips whenever a ref file changed, mostly to find them unchanged,
    and that costs a fraction of what importing GitPython would."""
    # `lstrip=2`, not `short`: a branch that shares its name with a tag is `heads/x` short.
    out = gitcmd.output_of(worktree.top, worktree.tokentag_dir, "for-each-ref",
                           "--format=%(objectname) %(refname:lstrip=2)", "refs/heads/",
                           check=False)
    return {name: sha for sha, _, name in (line.partition(" ") for line in out.splitlines())}
