"""The time zone a person reads reports in, and exactly where its days begin.

The ledger keeps UTC. A report shows local days: by default the system's zone, as the C
library knows it (`TZ`, else /etc/localtime), or an IANA zone named with `--tz`. A
request's local day is the UTC date of its time plus the zone's offset at that moment,
so a request at 23:30 UTC is on the next day in UTC+1, and a day in which clocks
change is 23 or 25 hours long. The index groups by local day with the offsets of the
reported span (`shifts`), so a report needs no Python per request.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import NamedTuple

from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import parse_iso

_SAMPLE = 6 * 3600  # seconds between looks for an offset change: zones change at most daily
_DAY = 86_400


class Zone(NamedTuple):  # not a dataclass: defining one costs `status` a millisecond
    """A zone by name; `tz` None is the system's zone, asked of the C library."""

    name: str
    tz: tzinfo | None = None

    def offset(self, epoch: float) -> int:
        """Seconds east of UTC at the moment `epoch`."""
        if self.tz is None:
            return time.localtime(epoch).tm_gmtoff
        found = datetime.fromtimestamp(epoch, self.tz).utcoffset()
        return int(found.total_seconds()) if found is not None else 0

    def local(self, moment: datetime) -> datetime:
        """`moment` as a naive local time (the wall clock in this zone)."""
        epoch = moment.timestamp()
        return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) + \
            timedelta(seconds=self.offset(epoch))

    def day_of(self, epoch: float) -> date:
        return (datetime.fromtimestamp(epoch, UTC) + timedelta(seconds=self.offset(epoch))).date()

    def utc_of(self, wall: datetime) -> datetime:
        """The first moment (UTC) at which this zone's clocks show `wall` or later: the
        moment itself, the jump when the clocks skip over it, the first of two when they
        show it twice."""
        naive = wall.replace(tzinfo=UTC).timestamp()
        whole = float(int(naive // 1))
        low, high = whole - 2 * _DAY, whole + 2 * _DAY
        while high - low > 1:  # the first second whose wall clock reads `whole` or later
            middle = (low + high) // 2
            if middle + self.offset(middle) >= whole:
                high = middle
            else:
                low = middle
        exact = high + self.offset(high) == whole
        return datetime.fromtimestamp(high + (naive - whole if exact else 0), UTC)

    def start_of(self, day: date) -> datetime:
        """The first moment (UTC) of the local `day`."""
        return self.utc_of(datetime(day.year, day.month, day.day))

    def shifts(self, first: str, last: str) -> list[tuple[str | None, int]]:
        """The offsets in force between two UTC time stamps: (until, seconds east of UTC)
        pieces in order, `until` the UTC stamp (transcripts' form) where the next piece
        starts, None for the last."""
        start, end = _epoch(first), _epoch(last)
        pieces: list[tuple[str | None, int]] = []
        current, moment = self.offset(start), start
        while moment < end:
            step = min(moment + _SAMPLE, end)
            if self.offset(step) != current:
                change = self._change_after(moment, step, current)
                pieces.append((_stamp(change), current))
                current = self.offset(change)
            moment = step
        pieces.append((None, current))
        return pieces

    def _change_after(self, low: float, high: float, before: int) -> float:
        """The first whole second in (low, high] whose offset is not `before`."""
        low, high = float(int(low)), float(int(high) + 1)
        while high - low > 1:
            middle = (low + high) // 2
            if self.offset(middle) == before:
                low = middle
            else:
                high = middle
        return high

    def offset_text(self, moment: datetime | None = None) -> str:
        """`+01:00`: the offset at `moment` (now by default)."""
        seconds = self.offset((moment or now()).timestamp())
        sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
        hours, rest = divmod(seconds, 3600)
        text = f"{sign}{hours:02d}:{rest // 60:02d}"
        return text if rest % 60 == 0 else f"{text}:{rest % 60:02d}"

    def describe(self) -> dict[str, str]:
        """What JSON output says about the zone its days are in."""
        return {"tz": self.name, "offset": self.offset_text()}


def resolve(name: str | None) -> Zone:
    """The zone `--tz` names: an IANA name (`Europe/Berlin`), `UTC`, or `local` (the
    default) for the system's."""
    if name is None or name.strip().lower() in ("", "local"):
        return Zone(_system_name())
    if name.strip().upper() in ("UTC", "Z", "ZULU"):
        return Zone("UTC", UTC)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return Zone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise TokentagError(f"unknown time zone {name!r} (use an IANA name such as "
                            f"Europe/Berlin, or UTC, or local)") from None


def _system_name() -> str:
    """The system zone's name as the C library finds it: `TZ`, else the zoneinfo file
    /etc/localtime links to, else its abbreviation."""
    configured = os.environ.get("TZ", "").lstrip(":")
    if configured:
        return configured
    target = os.path.realpath("/etc/localtime")
    marker = f"zoneinfo{os.sep}"
    if marker in target:
        return target.split(marker, 1)[1]
    return time.tzname[0] or "local"


def now() -> datetime:
    return datetime.now(UTC)


def _epoch(stamp: str) -> float:
    moment = parse_iso(stamp)
    if moment is None:
        raise TokentagError(f"not a time stamp: {stamp!r}")
    return moment.timestamp()


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- periods ---------------------------------------------------------------------------------

PERIODS = ("day", "week", "month")


def period_start(by: str, day: date) -> date:
    """The first day of the `by` period holding `day`: itself, its Monday, its 1st."""
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def next_period(by: str, start: date) -> date:
    if by == "week":
        return start + timedelta(days=7)
    if by == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def periods_back(by: str, start: date, count: int) -> date:
    """The start of the period `count` periods before the one starting at `start`."""
    if by == "month":
        months = start.year * 12 + start.month - 1 - count
        return date(months // 12, months % 12 + 1, 1)
    return start - timedelta(days=count * (7 if by == "week" else 1))


def key_start(by: str, key: str) -> date | None:
    """The first day of the period a report row's key names (`2026-02`, `2026-02-09`)."""
    try:
        return date.fromisoformat(key + "-01" if by == "month" else key)
    except ValueError:
        return None


def last_periods_since(by: str, count: int, zone: Zone) -> str:
    """`--last N`: the first day (local) of the period N-1 before the current one."""
    today = zone.day_of(now().timestamp())
    return periods_back(by, period_start(by, today), count - 1).isoformat()
