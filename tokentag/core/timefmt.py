"""Time stamps: the one way tokentag writes them and the one way it reads them.

Written: UTC with milliseconds, `2026-11-23T03:22:33.123Z`, the form Claude Code uses in
transcripts, so stamps from both sort and compare as strings. Read: ISO 8601 with or
without a zone (none means UTC) or a bare date.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from datetime import datetime


def now_iso() -> str:
    """UTC now with milliseconds, not through `datetime`: its import costs every hook call
    2-3 ms."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{nanoseconds // 1_000_000:03d}Z"


def parse_iso(text: str) -> datetime | None:
    """An aware datetime for an ISO time or date (no zone means UTC), or None."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def epoch_of(text: str) -> float | None:
    """Seconds since the epoch of an ISO time stamp, or None for anything else."""
    moment = parse_iso(text)
    return moment.timestamp() if moment is not None else None


def local_day_start(epoch: float | None = None) -> tuple[str, str]:
    """Today in the system's zone (the C library's, whose days reports show by default):
    its date, and its first moment as a UTC stamp."""
    now = time.localtime(epoch)
    start = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.strftime("%Y-%m-%d", now), \
        time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start))
