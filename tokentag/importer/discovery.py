"""Which transcripts an import reads, and from where in each.

Claude Code keeps a session under `projects/<encoded cwd>/`, so a project dir whose name
starts with the encoded top of one of this repository's worktrees is a candidate
(subdirectories encode to the same prefix). Codex keeps its sessions by date, not by
project: every rollout is a candidate, its requests routed by their cwd. A file's cursor
(offset, size, mtime) in the index means a repeated import reads only what grew."""

from __future__ import annotations

import os

from tokentag.core import claude_paths, codex_paths, scan
from tokentag.core.tuples import tuple_type
from tokentag.git import gitcmd
from tokentag.importer.options import CLAUDE, CODEX, Options
from tokentag.ledger.store import Store

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/importer/options.py
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NamedTuple

    from tokentag.git.gitdirs import Worktree
    from tokentag.ledger.index import Cursor

    class _JobFields(NamedTuple):
        path: str
        offset: int
        stat: os.stat_result
        restart: bool = False
        carry: str | None = None

    class _PlanFields(NamedTuple):
        worktree: Worktree
        options: Options
        files: int
        jobs: list[Job]
        refs_seen: str = ""
else:
    _JobFields = tuple_type("_JobFields", ("path", "offset", "stat", "restart", "carry"),
                            defaults=(False, None))
    _PlanFields = tuple_type("_PlanFields", ("worktree", "options", "files", "jobs",
                                             "refs_seen"), defaults=("",))


class Job(_JobFields):
    """One transcript to read from `offset`, as `stat` found it; `restart` when it is read
    again from its start (replaced or truncated since its cursor); `carry`, what its reader
    knew at `offset` (see Cursor)."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return self.stat.st_size


class Plan(_PlanFields):
    """What to read; `refs_seen`, the fingerprint of the branch refs when the last
    import's attribution pass ran (see run.unchanged)."""

    __slots__ = ()

    @property
    def bytes_to_read(self) -> int:
        return sum(job.size - job.offset for job in self.jobs)


def plan(worktree: Worktree, options: Options) -> Plan:
    """Every candidate transcript, and the new bytes of each that has any."""
    with Store.of(worktree).writing() as writer:  # quick queries: no second connection
        cursors = writer.index.cursors()
        refs_seen = writer.index.import_stamps()[1]
    files = candidate_files(project_dirs(worktree, options)) if CLAUDE in options.agents \
        else {}
    if CODEX in options.agents:
        files.update(codex_paths.rollouts())
    jobs = []
    for path, stat in files.items():
        job = _job(path, stat, cursors.get(path))
        if job is not None:
            jobs.append(job)
    jobs.sort(key=lambda j: j.path)
    return Plan(worktree, options, len(files), jobs, refs_seen)


def _job(path: str, stat: os.stat_result, cursor: Cursor | None) -> Job | None:
    if cursor is None:
        return Job(path, 0, stat)
    if not cursor.continues(stat):  # replaced or truncated: read it again from the start
        return Job(path, 0, stat, restart=True)
    if (stat.st_size, stat.st_mtime_ns) == (cursor.size, cursor.mtime_ns) \
            or stat.st_size == cursor.offset:
        return None  # unchanged since last read (even a torn last line stays skipped)
    return Job(path, cursor.offset, stat, carry=cursor.carry)


def repository_tops(worktree: Worktree) -> list[str]:
    """Every worktree of the repository, whichever one import runs from: the main one
    beside a `.git` common dir, and each linked one named in `<common>/worktrees/*/gitdir`,
    which is what `git worktree list` reads (running it costs a repeated import more than
    the rest of its work). Other layouts (a submodule, a bare repository) ask git."""
    common = worktree.common_dir
    if os.path.basename(common) != ".git":
        return _listed_tops(worktree)
    tops = [os.path.dirname(common)]
    try:
        entries = list(os.scandir(os.path.join(common, "worktrees")))
    except OSError:
        entries = []
    for entry in entries:
        try:
            # A path's bytes as the file system's names hold them, UTF-8 or not.
            with open(os.path.join(entry.path, "gitdir"), encoding="utf-8",
                      errors="surrogateescape") as handle:
                gitdir = handle.read().strip()
        except OSError:
            continue  # not a worktree's admin dir
        # The `.git` file in the worktree's top; absolute, or relative to the admin dir.
        tops.append(os.path.dirname(os.path.normpath(os.path.join(entry.path, gitdir))))
    return tops


def _listed_tops(worktree: Worktree) -> list[str]:
    out = gitcmd.run(worktree.top, "worktree", "list", "--porcelain", check=False)
    tops = [line[len("worktree "):] for line in out.splitlines() if line.startswith("worktree ")]
    return tops or [worktree.top]


def project_dirs(worktree: Worktree, options: Options) -> list[str]:
    """Project dirs named after a worktree top (or a path-map OLD), or all of them."""
    prefixes = {claude_paths.encode_project(top) for top in repository_tops(worktree)}
    prefixes |= {claude_paths.encode_project(old) for old in options.path_map.old_paths}
    found: set[str] = set()
    for config in claude_paths.config_dirs():
        try:
            entries = list(os.scandir(os.path.join(config, "projects")))
        except OSError:
            continue
        for entry in entries:
            wanted = options.all_projects or any(entry.name.startswith(p) for p in prefixes)
            if wanted and entry.is_dir():
                real = os.path.realpath(entry.path)  # one config dir can link to another
                found.add(real)
    return sorted(found)


def candidate_files(directories: Iterable[str]) -> dict[str, os.stat_result]:
    """Every `*.jsonl` below the project dirs (sessions, subagents, workflows)."""
    return scan.jsonl_files(directories)
