"""`tokentag statusline`: Claude Code's status-line JSON in, one line out, in a real
repository with the hooks installed, held to `report --json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit
from tests.test_hot_path import COSTLY
from tokentag.core.money import usd
from tokentag.ledger.index import INDEX_VERSION

# Money is `decimal`'s, whose C module loads `collections` (for its DecimalTuple); and the
# line is a report, read from the index's read side.
STATUS_LINE_COSTLY = tuple(module for module in COSTLY
                           if module not in ("collections", "tokentag.ledger.reads"))
NOW = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
TODAY = NOW[:10]


def status_input(cwd: Path, session: Session | None = None) -> str:
    """What Claude Code sends, in the shape its documentation gives."""
    return json.dumps({
        "hook_event_name": "Status", "session_id": session.session_id if session else "s",
        "transcript_path": str(session.path) if session else "/nowhere.jsonl",
        "cwd": str(cwd), "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": str(cwd), "project_dir": str(cwd)}, "version": "2.1.90",
        "cost": {"total_cost_usd": 0.01, "total_duration_ms": 1000},
        "context_window": {"total_input_tokens": 1000, "context_window_size": 200000}})


def statusline(cwd: Path, stdin: str, *args: str) -> str:
    result = tokentag("statusline", *args, cwd=cwd, stdin=stdin)
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def costs(repo: Path, by: str) -> dict[str, str]:
    rows = json.loads(tokentag("report", "--by", by, "--json", cwd=repo).stdout)["rows"]
    return {row["key"]: usd(row["cost_usd"], "unpriced_requests" in row) for row in rows}


@pytest.fixture
def branch_work(installed_repo: Path) -> tuple[Path, Session, str]:
    """main with a commit; a feature branch with its own commit and a request pending;
    requests today on both."""
    repo = installed_repo
    session = Session(repo)
    session.add(output=40_000, timestamp="2026-09-01T10:00:00.000Z")
    session.add(output=1_000, timestamp=NOW)
    session.hook()
    commit(repo, "on main")
    git(repo, "checkout", "-q", "-b", "feature/login")
    session.add(output=20_000, timestamp=NOW)
    session.hook()
    feature = commit(repo, "on the branch")
    session.add(output=3_000, timestamp=NOW)
    session.hook()
    return repo, session, feature


def test_the_line_is_branch_pending_and_today_as_report_counts_them(
        branch_work: tuple[Path, Session, str]) -> None:
    repo, session, feature = branch_work
    by_commit, by_day = costs(repo, "commit"), costs(repo, "day")
    expected = (f"branch feature/login {by_commit[feature]} | pending "
                f"{by_commit['(pending)']} | today {by_day[TODAY]}\n")
    assert statusline(repo, status_input(repo, session)) == expected
    assert (repo / ".git" / "tokentag" / "rates").exists()
    assert statusline(repo, status_input(repo, session)) == expected  # from the kept rates
    git(repo, "checkout", "-q", "main")
    assert statusline(repo, status_input(repo)) == \
        f"pending {by_commit['(pending)']} | today {by_day[TODAY]}\n"  # no branch of its own


def test_the_price_cache_follows_the_configured_prices(
        branch_work: tuple[Path, Session, str]) -> None:
    repo, session, _ = branch_work
    statusline(repo, status_input(repo, session))
    for field, price in (("input_mtok", "1000"), ("output_mtok", "1000")):
        tokentag("config", "set", f"prices.{session.model}.{field}", price, cwd=repo)
    pending = costs(repo, "commit")["(pending)"]
    assert pending == usd((3 + 3_000 + 500 * 1.25 + 9_000 * 0.1) * 1_000 / 1e6)
    assert f"| pending {pending} |" in statusline(repo, status_input(repo, session))


@pytest.mark.without_coverage
def test_a_cached_line_imports_nothing_costly(branch_work: tuple[Path, Session, str]) -> None:
    """Claude Code runs it after every assistant message: once the price cache holds the
    day's models, it imports none of what the hook paths may not (click, pydantic,
    genai-prices, GitPython, and `re`, `json`, `typing`, `dataclasses`...), nor the SDK."""
    repo, session, _ = branch_work
    first = statusline(repo, status_input(repo, session))
    code = ("import sys, io\n"
            "from tokentag.watch import statusline\n"
            "out = io.StringIO()\n"
            "statusline.run([], stdin=sys.stdin.buffer, stdout=out)\n"
            "print(out.getvalue(), end='')\n"
            f"print(' '.join(m for m in {(*STATUS_LINE_COSTLY, 'mcp')!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                            text=True, input=status_input(repo, session), check=True)
    assert result.stdout == first + "\n"  # the line, then no costly module at all


@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", "{}", '{"cwd": 7}',
                                   '{"cwd": "/nonexistent/place"}'])
def test_bad_input_prints_nothing_logs_and_exits_0(tmp_path: Path, stdin: str,
                                                   isolated_home: Path) -> None:
    assert statusline(tmp_path, stdin) == ""
    assert statusline(tmp_path, stdin, "--also", "echo theirs") == "theirs\n"


def test_a_repository_tokentag_never_ran_in_is_left_alone(repo: Path) -> None:
    commit(repo, "plain")
    assert statusline(repo, status_input(repo)) == ""
    assert not (repo / ".git" / "tokentag").exists()


def test_composed_with_another_status_line(branch_work: tuple[Path, Session, str],
                                           tmp_path: Path) -> None:
    repo, session, _ = branch_work
    ours = statusline(repo, status_input(repo, session)).rstrip("\n")
    seen = tmp_path / "seen.json"
    theirs = f"cat > {seen}; printf '%s\\n' 'Sonnet 4.5 ~/repo'"
    payload = status_input(repo, session)
    assert statusline(repo, payload, "--also", theirs) == f"Sonnet 4.5 ~/repo | {ours}\n"
    assert seen.read_text() == payload  # the same input, whole
    assert statusline(repo, payload, "--also", "exit 3") == f"{ours}\n"  # nothing from theirs
    two_lines = "printf 'one\\ntwo\\n'"
    assert statusline(repo, payload, "--also", two_lines) == f"one\ntwo | {ours}\n"


def test_a_large_input_reaches_the_other_status_line_whole(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    payload = json.dumps({"cwd": str(repo), "padding": "x" * 200_000})
    assert statusline(repo, payload, "--also", f"cat > {seen}; echo theirs") == "theirs\n"
    assert seen.read_text() == payload


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, killed and not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize("start", ["", "setsid "], ids=["in its group", "left its group"])
def test_a_status_line_that_hangs_is_cut_off_with_what_it_started(
        installed_repo: Path, tmp_path: Path, start: str) -> None:
    """A process the other status line started keeps its stdout open: the line still comes
    once the wait for it is over, and what stayed in its process group is killed."""
    repo, pid_file = installed_repo, tmp_path / "sleep.pid"
    payload = json.dumps({"cwd": str(repo)})
    ours = statusline(repo, payload)
    assert ours.startswith("pending ")
    hanging = f"{start}sleep 30 & echo $! > {pid_file}; echo theirs; wait"
    began = time.monotonic()
    try:
        assert statusline(repo, payload, "--also", hanging) == ours
        assert time.monotonic() - began < 20  # a bound on a hang: the wait is 10 s
        sleeper = int(pid_file.read_text())
        if not start:
            deadline = time.monotonic() + 5  # the kill is sent; its delivery may lag
            while running(sleeper) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not running(sleeper)
    finally:
        if pid_file.exists() and running(pid := int(pid_file.read_text())):
            os.kill(pid, signal.SIGKILL)


def test_help_goes_through_click(repo: Path) -> None:
    assert "--also CMD" in tokentag("statusline", "--help", cwd=repo).stdout


def test_unknown_arguments_are_logged_not_shown(repo: Path, isolated_home: Path) -> None:
    assert statusline(repo, "{}", "--frobnicate") == ""
    log = isolated_home / ".local" / "state" / "tokentag" / "tokentag.log"
    assert "statusline" in log.read_text()


@pytest.mark.parametrize("version", [6, 7, 8])
def test_an_older_index_gains_the_time_index_and_roll_ups_in_place(
        branch_work: tuple[Path, Session, str], version: int) -> None:
    """Today's total is a lookup by time, totals read roll-ups, and a commit finds the
    previous one by an index: the index an older tokentag made gets what it lacks where
    it stands, without folding the ledger again."""
    import sqlite3

    repo, session, _ = branch_work
    path = repo / ".git" / "tokentag" / "index.sqlite"
    before = statusline(repo, status_input(repo, session))
    index = sqlite3.connect(path)
    with index:
        index.execute("DROP INDEX commits_observed")
        if version < 8:
            index.execute("DROP INDEX requests_time")
            index.execute("DROP TABLE rollups")
            index.execute("DROP TABLE rollup_minus")
        if version == 7:  # its index on time alone
            index.execute("CREATE INDEX requests_time ON requests (ts)")
        index.execute("UPDATE meta SET value = '-1' WHERE name = 'seq'")  # a re-fold resets it
    index.execute(f"PRAGMA user_version={version}")
    index.close()
    assert statusline(repo, status_input(repo, session)) == before
    index = sqlite3.connect(path)
    assert index.execute("PRAGMA user_version").fetchone()[0] == INDEX_VERSION
    assert index.execute("SELECT value FROM meta WHERE name = 'seq'").fetchone()[0] == "-1"
    assert index.execute("SELECT count(*) FROM rollups").fetchone()[0] > 0
    plan = " ".join(str(row) for row in index.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM requests ORDER BY ts DESC, seq DESC LIMIT 20"))
    previous = " ".join(str(row) for row in index.execute(
        "EXPLAIN QUERY PLAN SELECT max(attributed_at) FROM commits WHERE worktree = 'w' "
        "AND how = 'observed'"))
    index.close()
    assert "requests_time" in plan and "TEMP B-TREE" not in plan
    assert "commits_observed" in previous
