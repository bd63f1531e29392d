"""What an import is asked to do, and what it did: `--path-map`, the time range, the summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from tokentag.core.errors import TokentagError


class PathMap(NamedTuple):
    """`OLD=NEW` rewrites: a request recorded under OLD counts as if it ran under NEW
    (a moved or renamed checkout, or sessions recorded on another machine)."""

    pairs: tuple[tuple[str, str], ...] = ()

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


class Options(NamedTuple):
    since: str | None = None  # normalised UTC times, as transcripts write them
    until: str | None = None
    path_map: PathMap = PathMap()
    all_projects: bool = False
    agents: tuple[str, ...] = (CLAUDE,)

    def in_range(self, timestamp: str) -> bool:
        """Same-format UTC strings compare as times; no timestamp is in no range."""
        if self.since and timestamp < self.since:
            return False
        return not (self.until and (not timestamp or timestamp >= self.until))


@dataclass
class Summary:
    """What an import did. `known` requests were in the ledger already (from hooks or an
    earlier import); `skipped_lines` looked like usage lines but were not valid JSON, or
    held a text no UTF-8 line can (see transcript.is_unicode)."""

    files: int = 0
    files_read: int = 0
    unreadable_files: int = 0
    bytes_read: int = 0
    skipped_lines: int = 0
    requests: int = 0
    new: int = 0
    known: int = 0
    corrected: int = 0
    other_repository: int = 0
    out_of_range: int = 0
    inferred: int = 0
    inferred_commits: int = 0
    progress_copies: int = 0  # subagent requests known only from progress lines, new
    reconciled: int = 0  # records of usage running totals held beyond the request lines

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)
