"""What people read every day: local days, the order of rows, `log`, `status`, CSV, the
rates kept between runs, and reports across repositories, through the real commands on
requests captured by the real hook."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import cli_json, git, tokentag

ROOT = Path(__file__).resolve().parents[1]


def captured(repo: Path, stamps: list[str], **counts: Any) -> Session:
    """One session in `repo` with a request at each time stamp, captured by the hook."""
    session = Session(repo)
    for stamp in stamps:
        session.add(timestamp=stamp, **counts)
    session.hook("Stop")
    return session


def days(repo: Path, *args: str) -> dict[str, int]:
    return {row["key"]: row["requests"] for row in
            cli_json(repo, "report", "--by", "day", *args)["rows"]}


# Around Berlin's change to summer time (2026-03-29 01:00 UTC) and on both sides of
# midnight in UTC, UTC+1, UTC+2 and UTC+5:30.
STAMPS = ["2026-03-28T18:29:59.999Z", "2026-03-28T18:30:00.000Z", "2026-03-28T22:59:59.999Z",
          "2026-03-28T23:00:00.000Z", "2026-03-28T23:30:00.000Z", "2026-03-29T21:59:59.999Z",
          "2026-03-29T22:00:00.000Z", "2026-03-29T23:59:59.999Z"]


def test_tz_moves_the_day_boundaries_exactly(repo: Path) -> None:
    captured(repo, STAMPS)
    assert days(repo, "--tz", "UTC") == {"2026-03-28": 5, "2026-03-29": 3}
    # CET (+1) until 01:00 UTC on the 29th, then CEST (+2): the 29th is 23 hours long.
    assert days(repo, "--tz", "Europe/Berlin") == {"2026-03-28": 3, "2026-03-29": 3,
                                                   "2026-03-30": 2}
    assert days(repo, "--tz", "Asia/Kolkata") == {"2026-03-28": 1, "2026-03-29": 4,
                                                  "2026-03-30": 3}
    report = cli_json(repo, "report", "--by", "day", "--tz", "Europe/Berlin")
    assert (report["tz"], report["offset"]) == ("Europe/Berlin", _berlin_offset_now())
    bounds = {row["key"]: (row["start"], row["end"]) for row in report["rows"]}
    assert bounds["2026-03-29"] == ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")
    # The system zone (TZ) is the default, and --tz local names it.
    with_tz = subprocess.run([str(Path(sys.executable).with_name("tokentag")), "report",
                              "--by", "day", "--json"], cwd=repo, capture_output=True,
                             text=True, check=True, env={**_env(), "TZ": "Asia/Kolkata"})
    assert {r["key"]: r["requests"] for r in json.loads(with_tz.stdout)["rows"]} == \
        days(repo, "--tz", "Asia/Kolkata")


def test_weeks_months_and_date_filters_follow_the_zone(repo: Path) -> None:
    captured(repo, ["2026-02-28T23:30:00.000Z", "2026-03-01T00:30:00.000Z",
                    "2026-03-01T23:30:00.000Z"])
    months = {r["key"]: r["requests"] for r in
              cli_json(repo, "report", "--by", "month", "--tz", "Europe/Berlin")["rows"]}
    assert months == {"2026-03": 3}
    weeks = cli_json(repo, "report", "--by", "week", "--tz", "UTC")["rows"]
    # Saturday the 28th is in the week of Monday the 23rd; Sunday 1 March too; Monday
    # the 2nd (local, 00:30) starts the next week in Berlin only.
    assert {r["key"]: r["requests"] for r in weeks} == {"2026-02-23": 3}
    berlin = cli_json(repo, "report", "--by", "week", "--tz", "Europe/Berlin")["rows"]
    assert {r["key"]: r["requests"] for r in berlin} == {"2026-02-23": 2, "2026-03-02": 1}
    assert days(repo, "--tz", "Europe/Berlin", "--since", "2026-03-01") == {
        "2026-03-01": 2, "2026-03-02": 1}
    assert days(repo, "--tz", "UTC", "--until", "2026-02-28") == {"2026-02-28": 1}


def test_periods_in_date_order_with_order_last_and_breakdown(repo: Path) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    stamps = [(today - timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
              for n in (40, 1, 3, 2, 0)]
    captured(repo, stamps)
    other = Session(repo, session_id="0a0a0a0a-0000-4000-8000-000000000002",
                    model="claude-opus-4-6")
    other.add(timestamp=stamps[1])
    other.hook("Stop")
    keys = [r["key"] for r in cli_json(repo, "report", "--by", "day", "--tz", "UTC")["rows"]]
    assert keys == sorted(keys) and len(keys) == 5
    newest = [r["key"] for r in cli_json(repo, "report", "--by", "day", "--tz", "UTC",
                                         "--order", "desc")["rows"]]
    assert newest == keys[::-1]
    last = cli_json(repo, "report", "--by", "day", "--tz", "UTC", "--last", "3")
    assert [r["key"] for r in last["rows"]] == keys[-3:]
    assert last["totals"]["requests"] == 4  # today, yesterday (two), the day before
    split = cli_json(repo, "report", "--by", "day", "--tz", "UTC", "--breakdown")["rows"]
    yesterday = next(r for r in split if r["key"] == keys[-2])
    assert sorted(m["model"] for m in yesterday["by_model"]) == [
        "claude-opus-4-6", "claude-sonnet-4-5-20250929"]
    assert sum(m["requests"] for m in yesterday["by_model"]) == yesterday["requests"]
    text = tokentag("report", "--by", "day", "--tz", "UTC", "--breakdown", cwd=repo).stdout
    assert "- claude-opus-4-6" in text  # piped: ASCII, the model under its day
    for wrong in (["--by", "session", "--last", "2"], ["--by", "day", "--last", "0"],
                  ["--by", "day", "--last", "2", "--since", "2026-01-01"],
                  ["--format", "csv", "--json"]):
        failed = tokentag("report", *wrong, cwd=repo, check=False)
        assert failed.returncode == 2 and failed.stdout == "", wrong
    assert "unknown time zone" in tokentag("report", "--tz", "Mars/Olympus", cwd=repo,
                                           check=False).stderr


def test_commits_in_commit_order_with_subject_and_pending_last(repo: Path) -> None:
    session = Session(repo)
    for number, subject in enumerate(["Second by date", "First by date"]):
        session.add(timestamp=f"2026-03-0{number + 1}T10:00:00.000Z")
        session.hook("Stop")
        when = f"2026-03-1{5 - number * 5}T10:00:00+00:00"  # the later commit is older
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", subject,
                        "--date", when], check=True, env={**_env(), "GIT_COMMITTER_DATE": when})
        tokentag("git-hook", "post-commit", cwd=repo)
    session.add(timestamp="2026-03-03T10:00:00.000Z")
    session.hook("Stop")
    rows = cli_json(repo, "report", "--by", "commit")["rows"]
    assert [r.get("subject") for r in rows] == ["First by date", "Second by date", None]
    assert rows[-1]["key"] == "(pending)"
    assert rows[0]["date"] == "2026-03-10T10:00:00Z" and rows[0]["author"] == "Test Author"
    assert rows[0]["source"] == "ledger" and len(rows[0]["key"]) == 40
    text = tokentag("report", "--by", "commit", cwd=repo).stdout.splitlines()
    assert text[2].split()[:3] == [rows[0]["key"][:8], "2026-03-10", "10:00"]
    assert "First by date" in text[2] and text[4].startswith("(pending)")


def test_log_takes_prefixes_and_substrings_and_prices_each_request(repo: Path) -> None:
    captured(repo, ["2026-03-01T10:00:00.000Z", "2026-03-01T11:00:00.000Z"])
    opus = Session(repo, session_id="491e126e-0000-4000-8000-000000000003",
                   model="claude-opus-4-6")
    opus.add(timestamp="2026-03-01T12:00:00.000Z", input=1000, output=2000)
    opus.hook("Stop")
    by_session = cli_json(repo, "log", "--session", "491e126e")["requests"]
    assert [r["model"] for r in by_session] == ["claude-opus-4-6"]
    assert len(cli_json(repo, "log", "--model", "OPUS")["requests"]) == 1
    assert len(cli_json(repo, "log", "--model", "sonnet")["requests"]) == 2
    every = cli_json(repo, "log", "--all")["requests"]
    report = cli_json(repo, "report", "--by", "model")
    assert sum(r["cost_usd"] for r in every) == pytest.approx(report["totals"]["cost_usd"],
                                                             abs=1e-6)
    assert all(r["cost_usd"] > 0 for r in every)
    text = tokentag("log", "--tz", "UTC", cwd=repo).stdout.splitlines()
    assert text[0].split() == ["time", "session", "model", "input", "output", "cache",
                               "write", "cache", "read", "cost", "commit", "evidence"]
    assert text[2].startswith("2026-03-01 12:00:00  491e126e  claude-opus-4-6")
    assert "1,000" in text[2] and "2,000" in text[2] and text[2].endswith("pending  observed")
    assert tokentag("log", "--session", "ffff", cwd=repo).stdout == "no requests match\n"
    for limit in ("0", "-1"):
        failed = tokentag("log", "-n", limit, cwd=repo, check=False)
        assert failed.returncode == 2 and "-n" in failed.stderr
    assert len(cli_json(repo, "log", "-n", "2")["requests"]) == 2


def test_status_prices_today_this_week_the_branch_and_pending(repo: Path) -> None:
    now = datetime.now(UTC)
    today = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    old = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    session = captured(repo, [old])
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    tokentag("git-hook", "post-commit", cwd=repo)
    session.add(timestamp=today)
    session.hook("Stop")
    status = cli_json(repo, "status", "--tz", "UTC")
    today_report = cli_json(repo, "report", "--tz", "UTC", "--since", now.date().isoformat())
    assert status["spent"]["today"] == today_report["totals"]
    assert status["spent"]["pending"] == today_report["totals"]
    assert status["spent"]["this_branch"]["requests"] == 2 and status["branch"] == "main"
    assert status["spent"]["this_week"]["requests"] == 1
    assert status["spent"]["today"]["cost_usd"] > 0
    text = tokentag("status", "--tz", "UTC", cwd=repo).stdout
    assert "this branch (main)" in text and "2 requests in 1 session, 1 commit" in text
    assert "(just now)" in text or " min ago)" in text
    rows = list(csv.reader(io.StringIO(tokentag("status", "--format", "csv", cwd=repo).stdout)))
    assert [r[0] for r in rows] == ["spent", "today", "this_week", "this_branch", "pending"]


def test_csv_has_a_row_per_group_or_per_group_and_model(repo: Path) -> None:
    captured(repo, ["2026-03-01T10:00:00.000Z", "2026-03-02T10:00:00.000Z"])
    rows = list(csv.DictReader(io.StringIO(tokentag("report", "--by", "day", "--tz", "UTC",
                                                    "--format", "csv", cwd=repo).stdout)))
    data = cli_json(repo, "report", "--by", "day", "--tz", "UTC")["rows"]
    assert [(r["day"], int(r["total"]), float(r["cost_usd"])) for r in rows] == [
        (d["key"], d["tokens"]["total"], d["cost_usd"]) for d in data]
    split = list(csv.DictReader(io.StringIO(tokentag(
        "report", "--by", "day", "--breakdown", "--format", "csv", cwd=repo).stdout)))
    assert {r["model"] for r in split} == {"claude-sonnet-4-5-20250929"}


def test_rates_are_kept_so_the_next_report_loads_no_price_tables(repo: Path) -> None:
    """genai-prices costs hundreds of milliseconds to load: a second `status` or `report`
    over the same days prices from the kept rates, to the same figures."""
    captured(repo, ["2026-03-01T10:00:00.000Z"])
    first = cli_json(repo, "report", "--by", "model")
    assert (repo / ".git" / "tokentag" / "rates").exists()
    for command in (["report", "--by", "model", "--json"], ["status", "--json"]):
        _, loaded = _run_main(repo, command)
        assert "genai_prices" not in loaded and "pydantic" not in loaded, command
    assert json.loads(_run_main(repo, ["report", "--by", "model", "--json"])[0]) == first
    (repo / ".tokentag.toml").write_text('[prices."claude-sonnet-4-5"]\ninput_mtok = 100\n'
                                         'output_mtok = 100\n')
    changed = cli_json(repo, "report", "--by", "model")  # new config: rates derived again
    assert changed["totals"]["cost_usd"] > first["totals"]["cost_usd"]


def test_rates_price_exactly_as_the_price_tables_do() -> None:
    import random

    from tokentag.core.usage import Usage
    from tokentag.report import costs
    from tokentag.report.costs import PriceGroup
    from tokentag.report.ratebook import RateBook

    book = RateBook("/nonexistent", "/nonexistent")
    chance = random.Random(7)
    for _ in range(400):
        writes_5m, writes_1h = chance.randint(0, 10**6), chance.choice([0, 10**5, 3 * 10**6])
        usage = Usage(chance.randint(0, 10**7), chance.randint(0, 10**6),
                      writes_5m + writes_1h + chance.choice([0, 0, 777]), writes_5m,
                      writes_1h, chance.randint(0, 10**8))
        group = PriceGroup(chance.choice(["claude-opus-4-6", "claude-sonnet-4-20250514",
                                          "claude-haiku-4-5-20251001", "no-such-model"]),
                           chance.choice(["2025-06-01", "2026-02-12"]),
                           chance.choice([5_000, 150_000, 500_000]), 2, usage, "observed")
        direct, kept = costs.priced(group), book.priced(group)
        assert (kept.cost, kept.unpriced_requests) == (direct.cost, direct.unpriced_requests)


def test_all_repos_shows_every_captured_repository_in_one_table(tmp_path: Path) -> None:
    repos = []
    for name in ("alpha", "beta"):
        path = tmp_path / name
        path.mkdir()
        git(path, "init", "-q")
        repos.append(path)
    captured(repos[0], ["2026-03-01T10:00:00.000Z"])
    captured(repos[1], ["2026-03-01T10:00:00.000Z", "2026-03-02T10:00:00.000Z"])
    listed = Path(_env()["XDG_STATE_HOME"]) / "tokentag" / "repositories"
    assert listed.read_text().split() == [str(r / ".git") for r in repos]
    stamp = listed.stat().st_mtime_ns
    captured(repos[0], ["2026-03-03T10:00:00.000Z"])  # known: the list is not written
    assert listed.stat().st_mtime_ns == stamp
    everywhere = cli_json(tmp_path, "report", "--all-repos")
    assert everywhere["by"] == "repository"
    assert {r["key"]: r["requests"] for r in everywhere["rows"]} == {
        str(repos[0]): 2, str(repos[1]): 2}
    by_day = cli_json(tmp_path, "report", "--all-repos", "--by", "day", "--tz", "UTC")["rows"]
    assert [(r["key"], Path(r["repository"]).name) for r in by_day] == [
        ("2026-03-01", "alpha"), ("2026-03-01", "beta"), ("2026-03-02", "beta"),
        ("2026-03-03", "alpha")]
    text = tokentag("report", "--all-repos", "--by", "day", "--tz", "UTC", cwd=tmp_path)
    assert text.stdout.splitlines()[0].split()[:2] == ["repository", "day"]
    (repos[1] / ".git").rename(tmp_path / "moved.git")
    after = tokentag("report", "--all-repos", "--json", cwd=tmp_path)
    assert [r["key"] for r in json.loads(after.stdout)["rows"]] == [str(repos[0])]
    assert "1 listed repository no longer there" in after.stderr


def test_install_lists_a_repository_whose_ledger_is_older_than_the_list(repo: Path) -> None:
    captured(repo, ["2026-03-01T10:00:00.000Z"])
    listed = Path(_env()["XDG_STATE_HOME"]) / "tokentag" / "repositories"
    listed.unlink()
    tokentag("install", cwd=repo)
    assert listed.read_text().split() == [str(repo / ".git")]


# -- helpers ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _berlin_offset_now() -> str:
    from zoneinfo import ZoneInfo

    offset = datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()
    assert offset is not None
    return f"+{int(offset.total_seconds()) // 3600:02d}:00"


def _run_main(repo: Path, argv: list[str]) -> tuple[str, set[str]]:
    """A command run in a fresh interpreter: what it printed, and the modules it loaded."""
    code = ("import sys\nfrom tokentag.cli import main\nsys.argv = ['tokentag', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True,
                          text=True, check=True)
    return done.stdout, set(done.stderr.split())
