"""Time stamps: the one way tokentag writes them and the one way it reads them.

Written: UTC with milliseconds, `2026-11-23T03:22:33.123Z`, the form Claude Code uses in
transcripts, so stamps from both sort and compare as strings. Read: ISO 8601 with or
without a zone (none means UTC) or a bare date.
"""

from __future__ import annotations

import sys
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
    """Seconds since the epoch of an ISO time stamp, or None for anything else. Where
    `datetime` is not loaded yet (the hook paths), the written form is read without it:
    its import would cost every commit that takes requests 1.5 ms. Where it is (every
    command a person runs), its parser in C is three times faster than this one."""
    if "datetime" not in sys.modules:
        seconds = _written_form_epoch(text)
        if seconds is not None:
            return seconds
    moment = parse_iso(text)
    return moment.timestamp() if moment is not None else None


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _written_form_epoch(text: object) -> float | None:
    """`YYYY-MM-DDTHH:MM:SS[.f]Z` (up to 6 digits of fraction) in seconds since the
    epoch, exactly as `datetime` computes it; None for anything else, valid or not."""
    if not isinstance(text, str) or not 20 <= len(text) <= 27 or text[-1] != "Z" \
            or text[4::3][:5] != "--T::" or (len(text) > 20 and text[19] != "."):
        return None
    fraction = text[20:-1]
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19] \
        + fraction
    if not (digits.isascii() and digits.isdigit()) or len(text) == 21:
        return None
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (year and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60
            and 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and leap)):
        return None
    whole = ((_days_since_epoch(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
    return (whole * 1_000_000 + int(fraction.ljust(6, "0"))) / 1_000_000


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
    days_from_civil: years counted from March, so the leap day ends a year)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def local_day_start(epoch: float | None = None) -> tuple[str, str]:
    """Today in the system's zone (the C library's, whose days reports show by default):
    its date, and its first moment as a UTC stamp."""
    now = time.localtime(epoch)
    start = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.strftime("%Y-%m-%d", now), \
        time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start))
