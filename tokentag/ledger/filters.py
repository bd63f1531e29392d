"""Which requests a report or log covers: a plain value, which the index turns into SQL.

Not on the hook paths (it imports `datetime`): only the commands that report import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tokentag.core.errors import TokentagError
from tokentag.ledger.records import EVIDENCE_KINDS


class Filters(NamedTuple):  # not a dataclass: defining one costs `status` a millisecond
    """Requests matching every field that is set. `since` and `until` are a date or an ISO
    time as a person types them, read in the zone of `local` when they name none (it
    turns a wall-clock time into UTC; None reads them as UTC); `session` matches ids that
    start with it, `model` names that contain it (in any case); `state` is "pending" or
    "committed"; `evidence` the evidence kinds let through (records.EVIDENCE_KINDS)."""

    since: str | None = None
    until: str | None = None
    session: str | None = None
    model: str | None = None
    branch: str | None = None
    agent: str | None = None
    state: str | None = None
    commits: Sequence[str] | None = None
    evidence: tuple[str, ...] | None = None
    local: Callable[[datetime], datetime] | None = None

    def admits(self, evidence: str) -> bool:
        """Whether requests of this evidence kind pass (for totals read from notes)."""
        return self.evidence is None or evidence in self.evidence

    def time_range(self) -> tuple[str | None, str | None]:
        """`since` and `until` in the form request timestamps take, to compare as text."""
        return (normalise_time(self.since, local=self.local) if self.since else None,
                normalise_time(self.until, end=True, local=self.local) if self.until else None)

    @property
    def per_request(self) -> bool:
        """Whether a filter other than the time range is set: one that git notes, which
        hold per-commit totals by model and day, cannot answer."""
        return any(value is not None for value in (self.session, self.model, self.branch,
                                                    self.agent, self.state, self.commits))


def parse_evidence(text: str | None) -> tuple[str, ...] | None:
    """`--evidence observed,inferred` as the kinds it names; None (all) when not given."""
    if text is None:
        return None
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in EVIDENCE_KINDS]
    if unknown or not kinds:
        raise TokentagError(f"unknown evidence kind {', '.join(unknown) or repr(text)}: "
                            f"use {', '.join(EVIDENCE_KINDS)} (comma-separated)")
    return kinds


def normalise_time(text: str, end: bool = False,
                   local: Callable[[datetime], datetime] | None = None) -> str:
    """`2026-02-10` or an ISO time, as the UTC string form transcripts use; a time
    without a zone is read by `local` (UTC when None). A bare date as the end of a range
    includes that whole day."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if end and len(text) == 10:
            moment += timedelta(days=1)
        if moment.tzinfo is None:
            moment = local(moment) if local else moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except ValueError:
        raise TokentagError(f"not a date or time: {text!r} (use YYYY-MM-DD or ISO 8601)") from None
    except (OverflowError, OSError):  # 9999-12-31 as an end has no next day
        raise TokentagError(f"date out of range: {text!r}") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
