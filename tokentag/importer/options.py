"""What an import is asked to do, and what it did: `--path-map`, the time range, the summary.

Lean, as the hook paths are (see tokentag/__init__.py): a repeated import that finds
nothing new answers from here, discovery and the index alone (see tokentag/_entry.py)."""

from __future__ import annotations

from tokentag.core.errors import TokentagError
from tokentag.core.tuples import tuple_type

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NamedTuple

    class _PathMapFields(NamedTuple):
        pairs: tuple[tuple[str, str], ...] = ()
else:
    _PathMapFields = tuple_type("_PathMapFields", ("pairs",), defaults=((),))


class PathMap(_PathMapFields):
    """`OLD=NEW` rewrites: a request recorded under OLD counts as if it ran under NEW
    (a moved or renamed checkout, or sessions recorded on another machine)."""

    __slots__ = ()

    @classmethod
    def parse(cls, specs: Iterable[str]) -> PathMap:
        """Paths are kept without a trailing slash (the root becomes "")."""
        pairs = []
        for spec in specs:
            old, sep, new = spec.partition("=")
            if not sep or not old.startswith("/") or not new.startswith("/"):
                raise TokentagError(f"--path-map takes OLD=NEW, two absolute paths, "
                                    f"not {spec!r}")
            pairs.append((old.rstrip("/"), new.rstrip("/")))
        return cls(tuple(pairs))

    def apply(self, cwd: str) -> str:
        """The first pair whose OLD is `cwd` or one of its parents rewrites it."""
        for old, new in self.pairs:
            if cwd and (cwd == old or cwd.startswith(old + "/")):
                return new + cwd[len(old):]
        return cwd

    @property
    def old_paths(self) -> list[str]:
        return [old or "/" for old, _ in self.pairs]


CLAUDE, CODEX = "claude", "codex"
AGENTS = (CLAUDE, CODEX)  # whose sessions an import can read


if TYPE_CHECKING:
    class _OptionsFields(NamedTuple):
        since: str | None = None  # normalised UTC times, as transcripts write them
        until: str | None = None
        path_map: PathMap = PathMap()
        all_projects: bool = False
        agents: tuple[str, ...] = (CLAUDE,)
else:
    _OptionsFields = tuple_type(
        "_OptionsFields", ("since", "until", "path_map", "all_projects", "agents"),
        defaults=(None, None, PathMap(), False, (CLAUDE,)))


class Options(_OptionsFields):
    __slots__ = ()

    def in_range(self, timestamp: str) -> bool:
        """Same-format UTC strings compare as times; no timestamp is in no range."""
        if self.since and timestamp < self.since:
            return False
        return not (self.until and (not timestamp or timestamp >= self.until))


class Summary:
    """What an import did. `known` requests were in the ledger already (from hooks or an
    earlier import); `skipped_lines` looked like usage lines but were not valid JSON, or
    held a text no UTF-8 line can (see transcript.is_unicode)."""

    def __init__(self, files: int = 0) -> None:
        self.files = files
        self.files_read = 0
        self.unreadable_files = 0
        self.bytes_read = 0
        self.skipped_lines = 0
        self.requests = 0
        self.new = 0
        self.known = 0
        self.corrected = 0
        self.other_repository = 0
        self.out_of_range = 0
        self.inferred = 0
        self.inferred_commits = 0
        self.progress_copies = 0  # subagent requests known only from progress lines, new
        self.reconciled = 0  # records of usage running totals held beyond the request lines

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        """The summary as `tokentag import` prints it."""
        lines = [
            f"files:      {self.files} transcripts, {self.files_read} with new lines "
            f"({self.bytes_read / 1e6:,.1f} MB), {self.unreadable_files} unreadable",
            f"requests:   {self.requests:,} of this repository: {self.new:,} new, "
            f"{self.known:,} already known ({self.corrected:,} with raised counts)",
            f"skipped:    {self.skipped_lines:,} unreadable lines, {self.other_repository:,} "
            f"requests of other repositories, {self.out_of_range:,} out of --since/--until",
            f"attributed: {self.inferred:,} requests to {self.inferred_commits:,} past commits "
            f"(inferred)"]
        if self.progress_copies or self.reconciled:
            lines.append(f"recovered:  {self.progress_copies:,} subagent requests from "
                         f"progress lines, {self.reconciled:,} usage records from sessions' "
                         f"running totals")
        return lines
