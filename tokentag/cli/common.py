"""What the command modules share: exit codes, the current worktree, JSON output, the
filter options."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tokentag.core.errors import TokentagError
from tokentag.git.gitdirs import Worktree, find_worktree, unusable_git_dir

F = TypeVar("F", bound=Callable[..., int])


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1  # an expected failure: bad input, a missing repository, an unknown tag
    USAGE = 2  # the command line itself is wrong
    CRASH = 3  # a bug: the traceback is in the log
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


def current_worktree() -> Worktree:
    cwd = os.getcwd()
    worktree = find_worktree(cwd)
    if worktree is None:
        unusable = unusable_git_dir(cwd)
        if unusable is not None:  # as git says it
            raise TokentagError(f"not a git repository: {unusable}")
        raise TokentagError("not inside a git repository (run tokentag from your project)")
    return worktree


def dump_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2))


def _time_range(zone: str) -> Callable[[F], F]:
    def options(func: F) -> F:
        """--since and --until."""
        func = click.option("--until", metavar="WHEN",
                            help="Up to this date (inclusive) or time (exclusive).")(func)
        return click.option("--since", metavar="WHEN",
                            help=f"From this date or time (YYYY-MM-DD or ISO 8601; {zone} "
                                 f"unless it names a zone).")(func)
    return options


time_range_options = _time_range("in the --tz zone")  # reports: read in the reader's zone
utc_range_options = _time_range("UTC")


def evidence_option(func: F) -> F:
    """--evidence KIND[,KIND]: only requests known that way."""
    return click.option(
        "--evidence", metavar="KIND[,KIND]",
        help="Only these evidence kinds: observed, inferred, reconciled, estimated "
             "(e.g. observed,inferred for measured usage only).")(func)


def evidence_kinds(text: str | None) -> tuple[str, ...] | None:
    """--evidence as the kinds it names, or a one-line error."""
    from tokentag.ledger.filters import parse_evidence

    return parse_evidence(text)


def utc(moment: str | None, end: bool = False) -> str | None:
    """A --since/--until value as the UTC string form transcripts use."""
    if not moment:
        return None
    from tokentag.report import grouping

    return grouping.normalise_time(moment, end)
