"""The index's read side: the roll-ups reports read instead of every request, and the
questions of reports, status, releases, the dashboard and the status line.

Apart from ledger/index.py so that the hooks, which only write, do not load it: it is a
third of the index's code, and importing it cost every tool call and commit about 0.2 ms
(bench/README.md). With ledger/index.py, the only module that holds SQL; it reads the
index through an open `Index` (`index.reads`), whose connection, transactions and meta
values it shares.

May import: core and ledger/index.
"""

from __future__ import annotations

from tokentag.core.usage import USAGE_FIELDS
from tokentag.ledger.index import (
    _BAND,
    _COUNTED,
    _PENDING,
    _PRICE_GROUP_BY,
    _PRICE_GROUP_COLUMNS,
    _PROMPT,
    _SLOTS,
    _TOTAL,
    _VIEW_TEXTS,
    DROPPED,
    Summary,
    _after_prefix,
    _chunks,
)

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from tokentag.ledger.filters import Filters
    from tokentag.ledger.index import Index, Row

# What a report can total by: each value of the expression is one row.
_GROUPINGS = {
    "session": "coalesce(session_id, '(none)')",
    "model": "model",
    "branch": "coalesce(branch, '(none)')",
    "day": "substr(ts, 1, 10)",
    "week": "date(substr(ts, 1, 10), '-6 days', 'weekday 1')",
    "month": "substr(ts, 1, 7)",
    # A work item's estimate is no commit's, and none will take it: not pending.
    "commit": "coalesce(commit_id, CASE WHEN task IS NULL THEN '(pending)' "
              "ELSE '(no commit)' END)",
    "agent": "coalesce(agent_id, '(main)')",
}
GROUPINGS = tuple(_GROUPINGS)

# -- roll-ups: what reports read instead of every request ---------------------------------
#
# Each grain keeps the requests' count and sums (and the largest prompt, which prices a
# group's tier) per value of its key: a few slots of request columns, then the time bucket,
# model, prompt band and evidence kind that make a price group. A report asks the smallest
# grain that holds every column it groups or filters by, so it reads a row per group and
# bucket instead of a row per request. Grains are brought up to date by `Reads.roll_up`, on
# the first read after the fold added or changed requests, never on a hook's path: rows past
# `rolled_up_to` are added as they are, and before the fold first changes a row already
# rolled up it keeps what the row was (`rollup_minus`), to be taken out again. (A trigger
# would do that too, but its mere presence made every upsert and update of the fold about
# twice as slow.)
#
# Time buckets are the first 10 (a day) or 13 (an hour) characters of a time stamp in the
# form transcripts write; any other stamp is a bucket of its own, `~` and the whole stamp,
# so that every comparison of `ts` gives on a bucket what it gives on each of its requests.
_REGULAR_TS = ("'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:"
               "[0-9][0-9].[0-9][0-9][0-9]Z'")
_DAY, _HOUR = 10, 13  # a bucket's length
_BUCKET_START = {_DAY: "T00:00:00.000Z", _HOUR: ":00:00.000Z"}  # the rest of its first stamp


def _bucket(length: int) -> str:
    return f"CASE WHEN ts GLOB {_REGULAR_TS} THEN substr(ts, 1, {length}) ELSE '~' || ts END"


_PRICED = {"model": "model", "band": _BAND, "evidence": "evidence"}
# Grain -> slot -> what a request puts there; a slot not named holds 0. `all`, `commits` and
# `sessions` only count (status): their largest prompt is not kept. In the order they are
# rolled up: the first four from requests, the others from one before them (index._DERIVED).
_GRAINS: dict[str, dict[str, str]] = {
    "hour": {"period": _bucket(_HOUR), **_PRICED},
    "work": {"k1": "commit_id", "k2": "task", "k3": "branch", "k4": "worktree",
             "period": _bucket(_DAY), **_PRICED},
    "session": {"k1": "session_id", "period": _bucket(_DAY), **_PRICED},
    "agent": {"k1": "agent_id", "period": _bucket(_DAY), **_PRICED},
    "day": {"period": _bucket(_DAY), **_PRICED},
    "all": {"evidence": "evidence"},
    "branch": {"k1": "branch", "period": _bucket(_DAY), **_PRICED},
    "commits": {"k1": "commit_id"},
    "sessions": {"k1": "session_id"},
}
# A day from an hour's bucket: its first 10 characters, if it is one of the regular form.
_DAY_OF_HOUR = ("CASE WHEN typeof(period) = 'text' AND substr(period, 1, 1) != '~' "
                "THEN substr(period, 1, 10) ELSE period END")
_DERIVED_FROM = {"day": "hour", "all": "day", "branch": "work", "commits": "work",
                 "sessions": "session"}


def _derived(grain: str) -> dict[str, str]:
    """Slot -> the expression over the rows of the grain it is summed from that gives it."""
    source = _GRAINS[_DERIVED_FROM[grain]]
    found = {}
    for slot, expression in _GRAINS[grain].items():
        same = [theirs for theirs, held in source.items() if held == expression]
        found[slot] = same[0] if same else _DAY_OF_HOUR
    return found


# The grains a report may read, smallest first (as they usually are), and their buckets.
_READABLE = {"day": _DAY, "branch": _DAY, "agent": _DAY, "session": _DAY, "work": _DAY,
             "hour": _HOUR}
_FROM_REQUESTS = (f"SELECT {', '.join(_VIEW_TEXTS)}, evidence, {_BAND} AS band, "
                  f"{_PROMPT} AS prompt, 1 AS n, {', '.join(USAGE_FIELDS)} FROM requests")
# A price group's columns over the request view (see _FROM_REQUESTS and _rollup_view).
_VIEW_GROUP_COLUMNS = ("model, substr(ts, 1, 10) AS day, band, evidence, max(prompt) AS prompt, "
                       "sum(n) AS requests, " + ", ".join(f"sum({f}) AS {f}" for f in USAGE_FIELDS))
_PERIOD_GROUPINGS = ("day", "week", "month")
# The columns each grouping reads besides model and time (see _grain_for).
_GROUPING_COLUMNS = {"session": {"session_id"}, "model": set(), "branch": {"branch"},
                     "day": set(), "week": set(), "month": set(),
                     "commit": {"commit_id", "task"}, "agent": {"agent_id"}}
_NO_BUCKET = 99  # a time bucket no grain has: read every request


def _local_period(grouping: str, shifts: Sequence[tuple[str | None, int]]) -> str:
    """A day, week or month expression over the local time `shifts` make of `ts`. The
    offsets are integers and the stamps were made by the caller's zone code, never typed
    by a person; both are checked all the same before they become SQL text."""
    pieces = [(until, int(seconds)) for until, seconds in shifts]
    if any(until is not None and not _is_stamp(until) for until, _ in pieces):
        raise ValueError("shifts take UTC time stamps")
    cases = " ".join(f"WHEN ts < '{until}' THEN '{seconds:+d} seconds'"
                     for until, seconds in pieces[:-1])
    last = f"'{pieces[-1][1]:+d} seconds'"
    shift = f"CASE {cases} ELSE {last} END" if cases else last
    day = f"date(ts, {shift})"
    return {"day": day, "week": f"date({day}, '-6 days', 'weekday 1')",
            "month": f"substr({day}, 1, 7)"}.get(grouping, _GROUPINGS[grouping])


def _grain_for(needs: set[str], bucket: int) -> str | None:
    """The first readable grain with the columns `needs` and buckets at most `bucket` long."""
    for grain, length in _READABLE.items():
        if length >= bucket and needs <= _grain_columns(grain):
            return grain
    return None


def _grain_columns(grain: str) -> set[str]:
    return {column for slot, column in _GRAINS[grain].items() if slot.startswith("k")}


def _rollup_view(grain: str) -> str:
    """A grain's rows as the request view: its slots under their columns' names (0 back to
    NULL), a bucket's first time stamp (a stamp of its own: the stamp), NULL for columns
    the grain does not keep; each row stands for `n` requests."""
    columns = {column: slot for slot, column in _GRAINS[grain].items() if slot.startswith("k")}
    start = _BUCKET_START[_READABLE[grain]]
    texts = {name: _decoded(columns[name]) if name in columns else "NULL"
             for name in _VIEW_TEXTS}
    texts["model"] = _decoded("model")
    texts["ts"] = (f"CASE WHEN typeof(period) != 'text' THEN NULL WHEN substr(period, 1, 1) = "
                   f"'~' THEN substr(period, 2) ELSE period || '{start}' END")
    return (f"SELECT {', '.join(f'{texts[name]} AS {name}' for name in _VIEW_TEXTS)}, "
            f"evidence, band, prompt, requests AS n, {', '.join(USAGE_FIELDS)} "
            f"FROM rollups WHERE grain = '{grain}'")


def _decoded(slot: str) -> str:
    return f"CASE WHEN typeof({slot}) = 'text' THEN {slot} END"


def _hinted_view(grain: str, filters: Filters | None) -> tuple[str, list[Any]]:
    """A grain's view, narrowed by what of `filters` its key holds first, so that the
    rows come from a range of its primary key (the filters still apply after)."""
    view = _rollup_view(grain)
    if grain in ("day", "hour"):
        return view + " AND k1 = 0 AND k2 = 0 AND k3 = 0 AND k4 = 0", []
    if filters is None:
        return view, []
    first = {"branch": filters.branch, "agent": filters.agent}.get(grain)
    if first is not None:
        return view + " AND k1 = ?", [first]
    if grain == "session" and filters.session:
        return view + " AND k1 >= ? AND k1 < ?", [filters.session,
                                                  _after_prefix(filters.session)]
    if grain == "work" and filters.state == "pending":
        return view + " AND k1 = 0 AND k2 = 0", []
    return view, []


def _bucket_split(since: str | None, until: str | None, length: int
                  ) -> tuple[str, list[Any], list[tuple[str, str]]]:
    """[since, until) in buckets of `length` characters: the condition on `period` that
    holds the regular buckets wholly inside, and the ranges of time stamps in the buckets
    the range cuts (to read from requests)."""
    start = _BUCKET_START[length]
    conditions, params, edges = ["period >= ?", "period < ?"], ["", "~"], []
    if since is not None:
        params[0] = since[:length]
        if since[length:] != start:
            conditions[0] = "period > ?"
            after = _after_prefix(since[:length])
            edges.append((since, min(after, until) if until is not None else after))
    if until is not None:
        params[1] = until[:length]
        cut_alone = since is None or since[:length] != until[:length] or \
            since[length:] == start
        if until[length:] != start and cut_alone:
            edges.append((max(until[:length], since) if since is not None else until[:length],
                          until))
    return " AND ".join(conditions), params, [(a, b) for a, b in edges if a < b]


def _irregular_in(since: str | None, until: str | None) -> tuple[str, list[Any]]:
    """The condition on `period` that holds the buckets of time stamps of another form
    whose stamp is in [since, until)."""
    conditions, params = _time_clauses(since, until, "substr(period, 2)")
    return " AND ".join(["period >= '~'", *conditions]), params


def _filter_columns(filters: Filters) -> set[str]:
    """The columns `filters` reads besides model, time and evidence."""
    columns = {column for column, value in (("session_id", filters.session),
                                            ("branch", filters.branch),
                                            ("agent_id", filters.agent)) if value is not None}
    return columns | ({"commit_id", "task"} if filters.state is not None else set()) | (
        {"commit_id"} if filters.commits is not None else set())


def _whole_hours(shifts: Sequence[tuple[str | None, int]]) -> bool:
    """Whether a zone's offsets are whole hours that change on the hour: then an hour's
    requests all fall on one local day."""
    return all(int(seconds) % 3600 == 0 and (until is None or until[13:] == ":00:00.000Z")
               for until, seconds in shifts)


def _summed_delta(grain: str, slots: dict[str, str], requests: str, rows: str, prompt: str,
                  sign: str) -> str:
    """The statement that sums `rows` (`table WHERE ...`) into a grain's part of the scratch
    table: its slots from `slots`' expressions, `requests` and `prompt` as given (the
    grains that keep no prompt, 0), the counts with `sign`."""
    keys = [f"ifnull({slots[slot]}, 0)" if slot in slots else "0" for slot in _SLOTS]
    priced = "model" in _GRAINS[grain]
    return (f"INSERT INTO temp.rollup_delta SELECT '{grain}', {', '.join(keys)}, {requests}, "
            + ", ".join(f"{sign}sum({f})" for f in USAGE_FIELDS)
            + f", {prompt if priced else '0'} FROM {rows} "
            f"GROUP BY {', '.join(map(str, range(2, 2 + len(_SLOTS))))}")


def _members(grain: str, key: dict[str, Any]) -> tuple[str, list[Any]]:
    """The condition that selects the requests of one roll-up row of a priced grain: its
    time bucket first, which the index on time finds, then every slot of its key."""
    slots = _GRAINS[grain]
    period = key["period"]
    if not isinstance(period, str):  # no time stamp
        when, params = "ts IS NULL", []
    elif period.startswith("~"):
        when, params = "ts = ?", [period[1:]]
    else:
        when, params = "ts >= ? AND ts < ?", [period, _after_prefix(period)]
    return (" AND ".join([when, *(f"ifnull({expression}, 0) = ?"
                                  for expression in slots.values())]),
            [*params, *(key[slot] for slot in slots)])


def _is_stamp(text: str) -> bool:
    return len(text) == 24 and all(c.isdigit() or c in "-T:.Z" for c in text)


def _where(filters: Filters, times: bool = True) -> tuple[str, list[Any]]:
    """`filters` as a WHERE clause on request columns; without its time range if not
    `times`."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.session is not None:  # an id's first characters, as `log` shows them
        clauses.append("substr(session_id, 1, ?) = ?")
        params += [len(filters.session), filters.session]
        if filters.session and filters.session[-1] < chr(0x10FFFF):  # the same as a range,
            clauses.append("session_id >= ? AND session_id < ?")  # which the index serves
            params += [filters.session, _after_prefix(filters.session)]
    if filters.model is not None:  # `opus` for claude-opus-4-6
        clauses.append("instr(lower(model), lower(?)) > 0")
        params.append(filters.model)
    for column, value in (("branch", filters.branch), ("agent_id", filters.agent)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if times:
        timed, moments = _time_clauses(*filters.time_range())
        clauses += timed
        params += moments
    if filters.state == "pending":
        clauses.append(_PENDING)
    elif filters.state == "committed":
        clauses.append("commit_id IS NOT NULL")
    if filters.evidence is not None:
        clauses.append(f"evidence IN ({','.join('?' * len(filters.evidence))})")
        params.extend(filters.evidence)
    if filters.commits is not None:
        clauses.append(f"commit_id IN ({','.join('?' * len(filters.commits))})")
        params.extend(filters.commits)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _time_clauses(since: str | None, until: str | None, stamp: str = "ts",
                  ) -> tuple[list[str], list[Any]]:
    """[since, until) on the time stamp `stamp` (an expression), each end only if given."""
    pairs = [(clause, moment) for clause, moment in ((f"{stamp} >= ?", since),
                                                     (f"{stamp} < ?", until))
             if moment is not None]
    return [clause for clause, _ in pairs], [moment for _, moment in pairs]


class Reads:
    """The read side of an open index (see the module's docstring)."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._db = index._db

    def roll_up(self) -> None:
        """Bring the roll-ups up to date with the requests: add those folded since the last
        roll-up, and for those the fold changed since, take out what they were and add what
        they are. A read does this on its first question, in one write transaction."""
        if not self._index.rollups or self._rolled_up():
            return
        with self._index._transaction("IMMEDIATE"):
            if not self._rolled_up():  # another process may have rolled up meanwhile
                self._roll_up_changes()

    def _rolled_up(self) -> bool:
        index = self._index
        return index._rolled_up_to() == index._last_rowid() and not self._changed_since_roll_up()

    def _changed_since_roll_up(self) -> bool:
        """Whether the fold changed requests the roll-ups hold (see _keep_rolled_up)."""
        return self._db.execute("SELECT 1 FROM rollup_minus LIMIT 1").fetchone() is not None

    def _roll_up_changes(self) -> None:
        upto, last = self._index._rolled_up_to(), self._index._last_rowid()
        changed = self._changed_since_roll_up()
        self._db.execute(f"CREATE TEMP TABLE IF NOT EXISTS rollup_delta (grain, "
                         f"{', '.join(_SLOTS)}, requests, {', '.join(USAGE_FIELDS)}, prompt)")
        if changed:
            self._add_to_rollups("rollup_minus WHERE true", (), -1)
        self._add_to_rollups("requests WHERE rowid > ?" + (
            " OR rowid IN (SELECT id FROM rollup_minus)" if changed else ""), (upto,), 1)
        # A request's way and time of capture never change once it is folded.
        self._db.execute(
            "INSERT INTO captures SELECT via, max(captured_at) FROM requests WHERE rowid > ? "
            "AND via IS NOT NULL AND captured_at IS NOT NULL GROUP BY via "
            "ON CONFLICT(via) DO UPDATE SET at = max(at, excluded.at)", (upto,))
        for grain, name in _COUNTED.items():
            self._index._count(name, -self._db.execute(
                "SELECT count(*) FROM rollups WHERE requests = 0 AND grain = ? AND "
                "typeof(k1) = 'text'", (grain,)).fetchone()[0])
        self._db.execute("DELETE FROM rollups WHERE requests = 0")
        self._refresh_stale_prompts()
        self._db.execute("DELETE FROM rollup_minus")
        self._index._set_meta("rolled_up_to", last)

    def _add_to_rollups(self, rows: str, params: Sequence[Any], sign: int) -> None:
        """Add (`sign` 1) or take out (-1) the requests `rows` names (`table WHERE ...`): each
        grain's part of them summed in a scratch table, the grains that can be from one
        summed before them, then all in one statement."""
        self._db.execute("DELETE FROM temp.rollup_delta")
        for grain in _GRAINS:
            if grain in _DERIVED_FROM:
                self._db.execute(_summed_delta(grain, _derived(grain), "sum(requests)",
                                               f"temp.rollup_delta WHERE grain = "
                                               f"'{_DERIVED_FROM[grain]}'", "max(prompt)", ""))
            else:
                minus = "-" if sign < 0 else ""
                self._db.execute(_summed_delta(grain, _GRAINS[grain], f"{minus}count(*)", rows,
                                               f"max({_PROMPT})", minus), params)
        # A group that loses the request with its largest prompt does not know its largest
        # one any more: NULL (which max() keeps) until _refresh_stale_prompts. A group whose
        # largest is 0 has only prompts of 0 (and the grains that keep none, 0 throughout).
        for grain, name in _COUNTED.items() if sign > 0 else ():
            self._index._count(name, self._db.execute(
                "SELECT count(*) FROM temp.rollup_delta d WHERE grain = ? AND typeof(k1) = "
                "'text' AND NOT EXISTS (SELECT 1 FROM rollups r WHERE " + " AND ".join(
                    f"r.{slot} = d.{slot}" for slot in ("grain", *_SLOTS)) + ")",
                (grain,)).fetchone()[0])
        prompt = "max(prompt, excluded.prompt)" if sign > 0 else \
            "CASE WHEN prompt > 0 AND excluded.prompt >= prompt THEN NULL ELSE prompt END"
        key = ", ".join(_SLOTS)
        self._db.execute(
            f"INSERT INTO rollups SELECT * FROM temp.rollup_delta WHERE true ON CONFLICT "
            f"(grain, {key}) DO UPDATE SET "
            + ", ".join(f"{f} = {f} + excluded.{f}" for f in ("requests", *USAGE_FIELDS))
            + f", prompt = {prompt}")

    def _refresh_stale_prompts(self) -> None:
        """The largest prompt of each group that lost the request holding it, looked up
        again among the group's requests (found by its time bucket)."""
        stale = self._db.execute(f"SELECT grain, {', '.join(_SLOTS)} FROM rollups "
                                 "WHERE prompt IS NULL").fetchall()
        for row in stale:
            grain, key = row[0], dict(zip(_SLOTS, row[1:], strict=True))
            members, params = _members(grain, key)
            self._db.execute(
                f"UPDATE rollups SET prompt = (SELECT max({_PROMPT}) FROM requests WHERE "
                f"{members}) WHERE grain = ? AND "
                + " AND ".join(f"{slot} = ?" for slot in _SLOTS),
                (*params, grain, *row[1:]))

    def commits_with_usage(self) -> list[str]:
        """Every commit the ledger gives requests to."""
        self.roll_up()
        sql = "SELECT k1 FROM rollups WHERE grain = 'commits' AND typeof(k1) = 'text' AND " \
            "k1 != ?" if self._index.rollups else \
            "SELECT DISTINCT commit_id FROM requests WHERE commit_id IS NOT NULL AND commit_id != ?"
        return [row[0] for row in self._db.execute(sql, (DROPPED,))]

    def price_groups_of(self, commits: Iterable[str]) -> dict[str, list[Row]]:
        """Each commit's price groups, for the commits the ledger has requests of."""
        self.roll_up()
        found: dict[str, list[Row]] = {}
        for chunk, marks in _chunks(list(commits)):
            source = _rollup_view("work") + f" AND k1 IN ({marks})" if self._index.rollups else \
                f"{_FROM_REQUESTS} WHERE commit_id IN ({marks})"
            for row in self._db.execute(
                    f"SELECT commit_id, {_VIEW_GROUP_COLUMNS} FROM ({source}) "
                    f"GROUP BY commit_id, {_PRICE_GROUP_BY} "
                    f"ORDER BY commit_id, {_PRICE_GROUP_BY}", chunk):
                found.setdefault(row["commit_id"], []).append(row)
        return found

    def price_groups_by(self, grouping: str, filters: Filters,
                        shifts: Sequence[tuple[str | None, int]] = ()) -> list[tuple[str, Row]]:
        """(value of `grouping`, price group) of the requests `filters` lets through;
        `grouping` is one of GROUPINGS. Days, weeks and months are UTC's, or local ones
        when `shifts` gives the zone's offsets: (until, seconds east of UTC) pieces in
        order, `until` the UTC time stamp where the next piece starts (None: the last).
        Local periods need hourly roll-ups, and every request where the zone's offsets are
        not whole hours or change at other times."""
        local = bool(shifts) and grouping in _PERIOD_GROUPINGS
        expression = _local_period(grouping, shifts) if local else _GROUPINGS[grouping]
        bucket = _DAY if not local else _HOUR if _whole_hours(shifts) else _NO_BUCKET
        return [(str(row["k0"]), row) for row in self._price_groups(
            [expression], _GROUPING_COLUMNS[grouping], filters, bucket)]

    def price_groups_each(self, each: Sequence[Filters]) -> list[list[dict[str, Any]]]:
        """For each of `each`, the price groups of the requests it lets through (`status`
        asks for four sets)."""
        return [[dict(row) for row in self._price_groups([], set(), filters, _DAY)]
                for filters in each]

    def work_item_price_groups(self, filters: Filters
                               ) -> list[tuple[str | None, str | None, str | None, Row]]:
        """(commit, branch, task, price group) of the requests `filters` lets through: what
        a work item is read from (see report.workitems)."""
        return [(row["k0"], row["k1"], row["k2"], row) for row in self._price_groups(
            ["commit_id", "branch", "task"], {"commit_id", "branch", "task"}, filters, _DAY)]

    def _price_groups(self, keys: Sequence[str], needs: set[str], filters: Filters | None,
                      bucket: int, span: tuple[str | None, str | None] = (None, None)
                      ) -> list[Row]:
        """The price groups of the requests `filters` lets through (None: those in `span`,
        [since, until) as UTC stamps), also grouped by `keys` (expressions of request
        columns, as `k0`, `k1`, ...); `needs` are the columns they read besides model and
        time, `bucket` the longest time bucket they can be read from (see _view_sources)."""
        self.roll_up()
        where = ""
        bound: list[Any] = []
        if filters is not None:
            needs, span = needs | _filter_columns(filters), filters.time_range()
            where, bound = _where(filters, times=False)
        sources, params = self._view_sources(needs, filters, bucket, span)
        named = "".join(f"{key} AS k{number}, " for number, key in enumerate(keys))
        by = ", ".join([*(f"k{number}" for number in range(len(keys))), _PRICE_GROUP_BY])
        return self._db.execute(
            f"SELECT {named}{_VIEW_GROUP_COLUMNS} FROM ({' UNION ALL '.join(sources)}){where} "
            f"GROUP BY {by} ORDER BY {by}", [*params, *bound]).fetchall()

    def _view_sources(self, needs: set[str], filters: Filters | None, bucket: int,
                      span: tuple[str | None, str | None]) -> tuple[list[str], list[Any]]:
        """SELECTs of the request view (`_FROM_REQUESTS`' columns) whose union holds each
        request in `span` ([since, until)) once: from the smallest grain that has the
        columns `needs` in buckets no longer than `bucket` (narrowed by `filters` where
        its key can), the buckets the range covers part of from requests. None such: from
        requests."""
        since, until = span
        grain = _grain_for(needs, bucket) if self._index.rollups else None
        if grain is None:
            clauses, params = _time_clauses(since, until)
            return [_FROM_REQUESTS + "".join(f" {word} {clause}" for word, clause in zip(
                ("WHERE", "AND"), clauses, strict=False))], params
        view, params = _hinted_view(grain, filters)
        if since is None and until is None:
            return [view], params
        inside, inside_params, edges = _bucket_split(since, until, _READABLE[grain])
        irregular, irregular_params = _irregular_in(since, until)
        sources = [f"{view} AND {inside}", f"{view} AND {irregular}"]
        bound = [*params, *inside_params, *params, *irregular_params]
        for start, end in edges:
            sources.append(f"{_FROM_REQUESTS} WHERE ts >= ? AND ts < ? AND ts GLOB {_REGULAR_TS}")
            bound += [start, end]
        return sources, bound

    def time_span(self, filters: Filters) -> tuple[str | None, str | None]:
        """The first and last time stamps of the requests `filters` lets through, each
        found along the index on time."""
        where, params = _where(filters)
        where += " AND ts IS NOT NULL" if where else " WHERE ts IS NOT NULL"
        first, last = (self._db.execute(f"SELECT ts FROM requests{where} ORDER BY ts {order} "
                                        "LIMIT 1", params).fetchone() for order in ("", "DESC"))
        return (first[0] if first else None), (last[0] if last else None)

    def commits_with_requests(self, commits: Iterable[str]) -> set[str]:
        """Those of `commits` the ledger has requests of."""
        self.roll_up()
        sql = "SELECT k1 FROM rollups WHERE grain = 'commits' AND k1 IN ({})" \
            if self._index.rollups else \
            "SELECT DISTINCT commit_id FROM requests WHERE commit_id IN ({})"
        found: set[str] = set()
        for chunk, marks in _chunks(list(commits)):
            found.update(row[0] for row in self._db.execute(sql.format(marks), chunk))
        return found

    def first_seen_by(self, grouping: str, filters: Filters) -> dict[str, str]:
        """When each value of `grouping` (one of GROUPINGS) began: its first request's time."""
        where, params = _where(filters)
        return {str(row[0]): str(row[1]) for row in self._db.execute(
            f"SELECT {_GROUPINGS[grouping]} AS k, min(ts) FROM requests{where} GROUP BY k",
            params)}

    def price_groups_since(self, moment: str) -> list[Row]:
        """Price groups of the requests made at or after `moment` (a UTC stamp): a local
        day's start is on the hour in most zones, where hourly roll-ups hold it whole."""
        return self._price_groups([], set(), None, _HOUR, (moment, None))

    def pending_price_groups(self, worktree: str) -> list[Row]:
        """Price groups of the worktree's requests that no commit has taken yet."""
        return list(self._db.execute(
            f"SELECT {_PRICE_GROUP_COLUMNS} FROM requests WHERE commit_id IS NULL AND "
            f"task IS NULL AND worktree=? GROUP BY {_PRICE_GROUP_BY}", (worktree,)))

    def sessions_and_inferred(self, commits: Sequence[str]) -> tuple[set[str], int]:
        """The distinct sessions of these commits' requests, and how many were inferred."""
        sessions: set[str] = set()
        inferred = 0
        for chunk, marks in _chunks(commits):
            for row in self._db.execute(
                    "SELECT session_id, sum(attribution = 'inferred') FROM requests "
                    f"WHERE commit_id IN ({marks}) GROUP BY session_id", chunk):
                if row[0]:
                    sessions.add(str(row[0]))
                inferred += int(row[1] or 0)
        return sessions, inferred

    def session_count(self, commit: str) -> int:
        row = self._db.execute("SELECT count(DISTINCT session_id) FROM requests "
                              "WHERE commit_id=?", (commit,)).fetchone()
        return int(row[0])

    def summary(self) -> Summary:
        """Requests, pending ones, sessions, commits, the last capture, invalid lines, and
        what folded into requests already known: corrections, and request records
        superseded by a later one of the same request (each counted once all the same)."""
        self.roll_up()
        if self._index.rollups:
            requests = self._db.execute("SELECT coalesce(sum(requests), 0) FROM rollups "
                                        "WHERE grain = 'all'").fetchone()[0]
            sessions, commits = (int(self._index._meta(_COUNTED[grain], "0"))
                                 for grain in ("sessions", "commits"))
            pending = self._db.execute("SELECT coalesce(sum(requests), 0) FROM rollups WHERE "
                                       "grain = 'work' AND k1 = 0 AND k2 = 0").fetchone()[0]
            last_capture = self._db.execute("SELECT max(at) FROM captures").fetchone()[0]
        else:
            requests, pending, sessions, commits, last_capture = self._db.execute(
                f"SELECT count(*), coalesce(sum({_PENDING}), 0), "
                "count(DISTINCT session_id), count(DISTINCT commit_id), max(captured_at) "
                "FROM requests").fetchone()
        records = int(self._index._meta("request_records", "0"))
        return Summary(requests, pending, sessions, commits, last_capture,
                       int(self._index._meta("invalid_lines", "0")),
                       int(self._index._meta("corrections", "0")), max(records - requests, 0))

    def evidence_totals(self) -> dict[str, int]:
        """Tokens of each evidence kind in the whole ledger."""
        self.roll_up()
        source = "rollups WHERE grain = 'all'" if self._index.rollups else "requests"
        return {str(row[0]): int(row[1]) for row in self._db.execute(
            f"SELECT evidence, sum({'+'.join(_TOTAL)}) FROM {source} GROUP BY evidence")}

    def last_captures(self) -> dict[str, str]:
        """When a request was last captured, per way of capture (`via`: hook, import,
        record, ...)."""
        self.roll_up()
        sql = "SELECT via, at FROM captures" if self._index.rollups else \
            "SELECT via, max(captured_at) FROM requests WHERE via IS NOT NULL AND " \
            "captured_at IS NOT NULL GROUP BY via"
        return {str(row[0]): str(row[1]) for row in self._db.execute(sql)}

    def requests_newest_first(self, filters: Filters, limit: int | None) -> list[Row]:
        """Requests with their ids, context, commit, evidence and counts, newest first."""
        where, params = _where(filters)
        sql = (f"SELECT key, ts, session_id, agent_id, model, branch, worktree, commit_id, "
               f"attribution, via, evidence, task, note, {','.join(USAGE_FIELDS)} "
               f"FROM requests{where} ORDER BY ts DESC, seq DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(self._db.execute(sql, params))
