"""Commit times along a first-parent history: which commit followed a moment.

The time rule, used where no hook saw a request's commit happen (an import, a session whose
hooks never ran, usage captured before tokentag was installed): a request goes to the first
commit, in committer-time order, on the first-parent history it belongs to (its branch's,
or the worktree's HEAD's when its branch is gone) whose commit time is at or after the
request's own time. Git is reached through a `run(*args) -> stdout` given by the caller,
in every case now through the lean door (tokentag/git/gitcmd.py).
"""

from __future__ import annotations

import time
from bisect import bisect_left

from tokentag.core.tuples import tuple_type

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NamedTuple

    Run = Callable[..., str]

    class _HistoryFields(NamedTuple):
        since: float
        times: list[int]
        commits: list[str]
else:
    _HistoryFields = tuple_type("_HistoryFields", ("since", "times", "commits"))

DAY = 86400


class History(_HistoryFields):
    """The first-parent commits of a ref since `since` (with a day of slack before it:
    committer times along a history need not be monotonic), in committer-time order."""

    __slots__ = ()

    @classmethod
    def load(cls, run: Run, ref: str, since: float) -> History:
        """One `git log` with a format (iter_commits would read each commit object again,
        and only for SHA-1)."""
        start = int(since) - DAY if since != float("inf") else int(time.time())
        out = run("log", "--first-parent", "--format=%ct %H", f"--since=@{start}", ref, "--")
        pairs = [line.split(" ", 1) for line in reversed(out.splitlines()) if " " in line]
        ordered = sorted(((int(t), sha) for t, sha in pairs), key=lambda p: p[0])
        return cls(since, [t for t, _ in ordered], [sha for _, sha in ordered])

    def has_after(self, moment: float) -> bool:
        return bool(self.times) and self.times[-1] >= moment

    def first_at_or_after(self, moment: float) -> str | None:
        position = bisect_left(self.times, moment)
        return self.commits[position] if position < len(self.commits) else None
