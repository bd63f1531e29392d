"""`tokentag import` from start to end: plan, read in parallel, write in batches, infer.

Lean until there is something to read or a branch moved: a repeated import mostly finds
neither, and the reading, writing and attribution modules cost it more than its work."""

from __future__ import annotations

from tokentag.git.gitdirs import refs_fingerprint
from tokentag.importer.discovery import Plan, plan
from tokentag.importer.options import Options, Summary

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/importer/options.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from tokentag.git.gitdirs import Worktree


def execute(import_plan: Plan,
            on_file: Callable[[int, int], None] | None = None) -> Summary:
    """Read the planned files, write their requests, then attribute what no hook saw.
    `on_file(files done, bytes of the file just done)` drives a progress bar."""
    if unchanged(import_plan):
        return Summary(files=import_plan.files)
    from tokentag.importer.inference import Inference, finish_attribution
    from tokentag.importer.reader import Scope, scans
    from tokentag.importer.writer import Importer

    summary = Summary(files=import_plan.files)
    inference = Inference(import_plan.worktree)
    importer = Importer(import_plan, summary, inference)
    scope = Scope(import_plan.worktree.common_dir, import_plan.options)
    for done, scan in enumerate(scans(import_plan.jobs, scope, importer.flush_while_idle), 1):
        importer.add(scan)
        if on_file is not None:
            on_file(done, scan.job.size - scan.job.offset)
    importer.finish()
    finish_attribution(import_plan.worktree, summary, inference)
    return summary


def unchanged(import_plan: Plan) -> bool:
    """Whether the import has nothing to do: no file grew, and no branch moved since the
    last attribution pass, which would decide as it did then (see
    inference.finish_attribution)."""
    if import_plan.jobs or not import_plan.refs_seen:
        return False
    return refs_fingerprint(import_plan.worktree.common_dir) == import_plan.refs_seen


def nothing_new(worktree: Worktree) -> Summary | None:
    """What `tokentag import`, as it is, would answer when it has nothing to do; None
    when it has, and its plan is kept for `plan_for`."""
    import_plan = plan(worktree, Options())
    if unchanged(import_plan):
        return Summary(files=import_plan.files)
    _planned.append(import_plan)
    return None


def plan_for(worktree: Worktree, options: Options) -> Plan:
    """The plan `nothing_new` made a moment ago in this process for the same import,
    else a new one: listing thousands of transcripts twice costs tens of milliseconds."""
    while _planned:
        made = _planned.pop()
        if made.worktree == worktree and made.options == options:
            return made
    return plan(worktree, options)


_planned: list[Plan] = []


def run_import(worktree: Worktree, options: Options | None = None) -> Summary:
    return execute(plan(worktree, options or Options()))
