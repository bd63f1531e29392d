"""`tokentag import` from start to end: plan, read in parallel, write in batches, infer."""

from __future__ import annotations

from collections.abc import Callable

from tokentag.git.gitdirs import Worktree
from tokentag.importer.discovery import Plan, plan
from tokentag.importer.inference import Inference, finish_attribution
from tokentag.importer.options import Options, Summary
from tokentag.importer.reader import Scope, scans
from tokentag.importer.writer import Importer


def execute(import_plan: Plan,
            on_file: Callable[[int, int], None] | None = None) -> Summary:
    """Read the planned files, write their requests, then attribute what no hook saw.
    `on_file(files done, bytes of the file just done)` drives a progress bar."""
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


def run_import(worktree: Worktree, options: Options | None = None) -> Summary:
    return execute(plan(worktree, options or Options()))
