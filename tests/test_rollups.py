"""Reports, status and releases read the index's roll-ups, not every request: each of
their answers must equal the one read from every request, on a ledger with all that
changes a request after it was rolled up (corrections, superseding records, attributions,
inferred ones, rewrites, drops, estimates), at every point of its fold."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, tokentag
from tokentag.core.usage import Usage
from tokentag.ledger import jsonl, records
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import DROPPED, Index
from tokentag.ledger.reads import GROUPINGS
from tokentag.report import zones

MODELS = ("claude-opus-4-6", "claude-sonnet-4-5-20250929", "gpt-5.1-codex")
SESSIONS = ("s-alpha", "s-beta", "s-gamma", "s-delta")
BRANCHES = ("main", "feat/ABC-12", None)
WORKTREES = ("/r/main", "/r/feature")
VIAS = ("hook", "hook", "hook", "import", "hook:progress", "hook:reconciled")
# Stamps of another form than transcripts': each a bucket of its own.
ODD_STAMPS = ("2026-03-28", "2026-03-28T23:30:00+01:00", "2026-03-29T10:00:00Z",
              "2026-03-30T12:00:00.5Z")
START = 1_774_569_600  # 2026-03-27T00:00:00Z, two days before Berlin's summer time


class LedgerMaker:
    """Random records of every kind that changes what a report shows."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.usage: dict[str, Usage] = {}
        self.pending: list[str] = []
        self.commits: list[str] = []
        self.made = 0

    def stamp(self) -> str:
        if self.rng.random() < 0.04:
            return self.rng.choice(ODD_STAMPS)
        moment = START + self.rng.uniform(0, 5 * 86_400)
        whole = int(moment)
        text = f"{_utc(whole)}.{int((moment - whole) * 1000):03d}Z"
        return text if self.rng.random() > 0.05 else text[:13] + ":00:00.000Z"  # on the hour

    def counts(self) -> Usage:
        # Prompts on both sides of the 100k and 200k bands, and of a 272k tier inside one.
        read = self.rng.choice((0, 5_000, 90_000, 150_000, 199_000, 260_000, 280_000))
        write = self.rng.choice((0, 0, 1_500, 9_000))
        return Usage(self.rng.randrange(1, 200), self.rng.randrange(1, 3_000), write, 0, write,
                     read + self.rng.randrange(0, 20_000))

    def request(self) -> records.RequestRecord:
        self.made += 1
        key = f"msg_{self.made}/req_{self.made}"
        usage = self.counts()
        self.usage[key] = usage
        self.pending.append(key)
        stamp = self.stamp()
        rng = self.rng
        return records.request(
            key, f"msg_{self.made}", f"req_{self.made}", rng.choice(SESSIONS),
            rng.choice((None, None, "a1", "a2")), rng.choice(MODELS), stamp, WORKTREES[0],
            rng.choice(WORKTREES), rng.choice(BRANCHES), "2.1.38", "/t.jsonl", stamp,
            rng.choice(VIAS), usage)

    def again(self) -> records.RequestRecord | records.CorrectionRecord:
        """A known request seen again: a later record of it, or a correction."""
        key = self.rng.choice(list(self.usage))
        raised = self.usage[key].maximum(self.counts())
        self.usage[key] = raised
        if self.rng.random() < 0.5:
            return records.correction(key, _utc(START), raised)
        number = key.split("/")[0].removeprefix("msg_")
        return records.request(key, f"msg_{number}", f"req_{number}", SESSIONS[0], None,
                               MODELS[0], _utc(START) + ".000Z", WORKTREES[0], WORKTREES[0],
                               "main", "2.1.38", "/t.jsonl", _utc(START) + ".000Z", "hook",
                               raised)

    def attribution(self) -> records.AttributionRecord | None:
        if not self.pending:
            return None
        taken = self.rng.sample(self.pending, min(len(self.pending), self.rng.randrange(1, 9)))
        self.pending = [key for key in self.pending if key not in taken]
        commit = f"{self.rng.getrandbits(160):040x}"
        self.commits.append(commit)
        return records.attribution(commit, self.rng.choice(WORKTREES), taken,
                                   self.rng.choice(("observed", "inferred")), _utc(START))

    def rewrite(self) -> records.RewriteRecord | None:
        if not self.commits:
            return None
        old = self.rng.choice(self.commits)
        new = f"{self.rng.getrandbits(160):040x}"
        self.commits.append(new)
        return records.rewrite("amend", [[old, new]], _utc(START))

    def drop(self) -> records.DropRecord | None:
        if not self.pending:
            return None
        key = self.pending.pop(self.rng.randrange(len(self.pending)))
        return records.drop([key], "not ours", _utc(START))

    def estimate(self) -> records.EstimateRecord:
        self.made += 1
        commit = self.rng.choice((None, self.commits[-1] if self.commits else None))
        task = None if commit else self.rng.choice((None, "ABC-7"))
        return records.estimate(f"e{self.made}", self.rng.choice((None, SESSIONS[1])), None,
                                self.rng.choice((None, MODELS[0])), self.stamp(), WORKTREES[0],
                                "main", commit, task, "by hand", self.counts())

    def records(self, count: int) -> list[Any]:
        made: list[Any] = []
        while len(made) < count:
            pick = self.rng.random()
            record = self.request() if pick < 0.55 or not self.usage else \
                self.again() if pick < 0.7 else self.attribution() if pick < 0.82 else \
                self.estimate() if pick < 0.88 else self.rewrite() if pick < 0.94 else \
                self.drop()
            if record is not None:
                made.append(record)
        return made


def _utc(epoch: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


BERLIN = zones.resolve("Europe/Berlin")
KOLKATA = zones.resolve("Asia/Kolkata")
# Local midnights in UTC: on the hour (Berlin), on the half hour (Kolkata), and a day's.
SINCE = ("2026-03-28T23:00:00.000Z", "2026-03-28T18:30:00.000Z", "2026-03-29T00:00:00.000Z")
FILTERS = {
    "all": Filters(),
    "since a day": Filters(since="2026-03-28"),
    "since and until, mid-hour": Filters(since="2026-03-28T10:17:00Z",
                                         until="2026-03-30T22:41:10Z"),
    "within one hour": Filters(since="2026-03-29T10:05:00Z", until="2026-03-29T10:45:00Z"),
    "within one day": Filters(since="2026-03-29T10:05:00Z", until="2026-03-29T19:00:00Z"),
    "until on the hour": Filters(until="2026-03-29T19:00:00Z"),
    "local days": Filters(since="2026-03-28", until="2026-03-30", local=BERLIN.utc_of),
    "local half-hour days": Filters(since="2026-03-28", local=KOLKATA.utc_of),
    "evidence": Filters(evidence=("observed", "estimated")),
    "branch": Filters(branch="main"),
    "no branch": Filters(branch=""),
    "pending": Filters(state="pending"),
    "committed since": Filters(state="committed", since="2026-03-28T06:30:00Z"),
    "session prefix": Filters(session="s-a"),
    "agent": Filters(agent="a1"),
    "model": Filters(model="OPUS"),
    "agent and session": Filters(agent="a2", session="s-b"),
}


def answers(index: Index, commits: list[str]) -> dict[str, Any]:
    """Every answer the index gives reports, status and releases."""
    found: dict[str, Any] = {}
    for name, filters in FILTERS.items():
        for grouping in GROUPINGS:
            found[f"{grouping}, {name}"] = _rows(index.reads.price_groups_by(grouping, filters))
        found[f"work items, {name}"] = _rows(index.reads.work_item_price_groups(filters))
        found[f"time span, {name}"] = index.reads.time_span(filters)
    first, last = index.reads.time_span(Filters())
    for zone in (BERLIN, KOLKATA):
        shifts = zone.shifts(first, last) if first and last else []
        for grouping in ("day", "week", "month"):
            for name in ("all", "since and until, mid-hour", "evidence"):
                found[f"{zone.name} {grouping}, {name}"] = _rows(
                    index.reads.price_groups_by(grouping, FILTERS[name], shifts))
    found["status"] = index.reads.price_groups_each(list(FILTERS.values()))
    some = Filters(commits=commits[::3])
    for grouping in ("day", "model", "commit"):
        found[f"{grouping}, some commits"] = _rows(index.reads.price_groups_by(grouping, some))
    for moment in SINCE:  # a local day's start: the status line's and the day budget's
        found[f"since {moment}"] = _rows(index.reads.price_groups_since(moment))
    for worktree in WORKTREES:
        found[f"pending in {worktree}"] = _rows(index.reads.pending_price_groups(worktree))
    found["last captures"] = index.reads.last_captures()
    found["by commit"] = {commit: _rows(groups)
                          for commit, groups in index.reads.price_groups_of(commits).items()}
    found["with requests"] = index.reads.commits_with_requests([*commits, DROPPED, "nope"])
    found["with usage"] = sorted(index.reads.commits_with_usage())
    found["summary"] = index.reads.summary()
    found["evidence"] = index.reads.evidence_totals()
    return found


def _rows(rows: Any) -> list[Any]:
    return [tuple(tuple(part) if hasattr(part, "keys") else part for part in row)
            if isinstance(row, tuple) else tuple(row) for row in rows]


def scanned(index: Index, commits: list[str]) -> dict[str, Any]:
    index.rollups = False
    try:
        return answers(index, commits)
    finally:
        index.rollups = True


def test_every_answer_from_roll_ups_equals_the_scan_at_every_step(tmp_path: Path) -> None:
    maker = LedgerMaker(seed=11)
    index = Index(tmp_path)
    try:
        for step in range(12):
            jsonl.append(tmp_path / "ledger.jsonl", maker.records(150))
            index.catch_up()
            if step % 3 != 2:  # rolled up now: what the next steps change, it must take out
                rolled = answers(index, maker.commits)
                assert rolled == scanned(index, maker.commits), f"after step {step}"
        summary = index.reads.summary()
        assert summary.requests > 700 and summary.corrections > 50 and summary.superseded > 50
        assert len(index.reads.price_groups_by("commit", FILTERS["all"])) > 50
    finally:
        index.close()


def test_a_lost_largest_prompt_is_found_again(tmp_path: Path) -> None:
    """A group's largest prompt prices its tier: when the request holding it moves to
    another group, the group's largest is its next one, not the one that left."""
    small, large = Usage(10, 10, 0, 0, 0, 210_000), Usage(10, 10, 0, 0, 0, 290_000)
    ledger = tmp_path / "ledger.jsonl"
    stamp = "2026-03-28T10:00:00.000Z"
    jsonl.append(ledger, [records.request(f"m{n}/r{n}", f"m{n}", f"r{n}", "s", None, MODELS[2],
                                          stamp, "/r", "/r", "main", None, "/t", stamp, "hook",
                                          usage)
                          for n, usage in enumerate((small, large))])
    index = Index(tmp_path)
    try:
        index.catch_up()
        by_day = index.reads.price_groups_by("day", Filters())
        assert [row["prompt"] for _, row in by_day] == [290_010]
        jsonl.append(ledger, [records.attribution("c" * 40, "/r", ["m1/r1"], "inferred", stamp)])
        index.catch_up()
        prompts = {row["evidence"]: row["prompt"]
                   for _, row in index.reads.price_groups_by("day", Filters())}
        assert prompts == {"observed": 210_010, "inferred": 290_010}
        of_commit = index.reads.price_groups_of(["c" * 40])["c" * 40]
        assert [row["prompt"] for row in of_commit] == [290_010]
    finally:
        index.close()


def test_a_rebuilt_index_rolls_up_again(tmp_path: Path) -> None:
    maker = LedgerMaker(seed=5)
    jsonl.append(tmp_path / "ledger.jsonl", maker.records(300))
    index = Index(tmp_path)
    try:
        index.catch_up()
        before = answers(index, maker.commits)
        shutil.copy(tmp_path / "ledger.jsonl", tmp_path / "copy.jsonl")
        (tmp_path / "copy.jsonl").replace(tmp_path / "ledger.jsonl")
        index.catch_up()  # the same records in another file: folded again from its start
        assert answers(index, maker.commits) == before == scanned(index, maker.commits)
    finally:
        index.close()


SCANNING = ("from tokentag.ledger.index import Index; Index.rollups = False; "
            "from tokentag._entry import main; main()")


@pytest.mark.parametrize("by", [*GROUPINGS, "task"])
def test_report_json_equals_the_scan_of_every_request(repo: Path, by: str) -> None:
    """`report --json` through the real command, against the same command reading every
    request; in Berlin, where local days need hourly roll-ups."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    maker = LedgerMaker(seed=3)
    ledger = repo / ".git" / "tokentag" / "ledger.jsonl"
    ledger.parent.mkdir()
    jsonl.append(ledger, maker.records(400))
    argv = ["report", "--by", by, "--tz", "Europe/Berlin", "--json"]
    rolled = json.loads(tokentag(*argv, cwd=repo).stdout)
    scan = subprocess.run([sys.executable, "-c", SCANNING, *argv], cwd=repo, check=True,
                          capture_output=True, text=True).stdout
    assert rolled == json.loads(scan)
    assert len(rolled["rows"]) > 1
