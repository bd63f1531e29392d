"""`report --by task|author|pr`: a real repository with a ticket branch, a merged pull
request, a squash-merged one and ids in messages, with the hooks installed; every figure
stated by hand below."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit, install
from tokentag.git import gitrepo
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.store import Store
from tokentag.report import costs, workitems

FEATURE = "feature/ABC-12-login"
# Each request's tokens (all uncached input), and where it goes:
R1 = 1_000  # main, "Initial layout": no id anywhere -> (no task)
R2 = 2_000  # the feature branch, "Add login form" -> ABC-12 (branch)
R3 = 4_000  # the feature branch, "Wire up #34 validation" -> ABC-12 (the branch wins)
R4 = 8_000  # main, "Fix timeouts gh-7" -> gh-7 (message)
R5 = 16_000  # main, the merge "Merge pull request #12 from ..." -> #12, PR #12
R6 = 32_000  # main, by Other Dev, "Add export (#15)" -> #15, PR #15
R7 = 64_000  # main, pending -> (no task), (pending)
T = 128  # recorded for work item OPS-9 -> OPS-9, (no commit)


def spend(session: Session, branch: str, tokens: int) -> None:
    session.branch = branch
    session.add(input=tokens, output=0, cache_write=0, cache_read=0, blocks=1)
    session.hook()


@pytest.fixture
def history(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    install(repo)
    session = Session(repo)
    spend(session, "main", R1)
    commit(repo, "Initial layout")
    git(repo, "checkout", "-q", "-b", FEATURE)
    spend(session, FEATURE, R2)
    commit(repo, "Add login form", name="login.txt")
    spend(session, FEATURE, R3)
    commit(repo, "Wire up #34 validation", name="login.txt")
    git(repo, "checkout", "-q", "main")
    spend(session, "main", R4)
    commit(repo, "Fix timeouts gh-7")
    spend(session, "main", R5)
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge pull request #12 from me/{FEATURE}",
        FEATURE)
    spend(session, "main", R6)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Other Dev")
    commit(repo, "Add export (#15)\n\n* Add export\n* Fix ABC-99 in passing")
    spend(session, "main", R7)
    tokentag("record", "--tokens-in", "100", "--tokens-out", "28", "--task", "OPS-9", cwd=repo)
    return repo


def totals_by(repo: Path, group: str, *args: str) -> dict[str, int]:
    data: dict[str, Any] = json.loads(
        tokentag("report", "--by", group, "--json", *args, cwd=repo).stdout)
    rows = {row["key"]: row["tokens"]["total"] for row in data["rows"]}
    assert sum(rows.values()) == data["totals"]["tokens"]["total"] == R1 + R2 + R3 + R4 + R5 \
        + R6 + R7 + T
    return rows


def test_by_task_reads_the_branch_then_the_message(history: Path) -> None:
    assert totals_by(history, "task") == {
        "ABC-12": R2 + R3, "gh-7": R4, "#12": R5, "#15": R6, "(no task)": R1 + R7, "OPS-9": T}
    text = tokentag("report", "--by", "task", cwd=history).stdout
    assert text.splitlines()[2].split()[:2] == ["(no", "task)"]  # largest first: 65,000


def test_a_configured_pattern_replaces_the_defaults(history: Path) -> None:
    tokentag("config", "set", "task_pattern", r"ABC-(\d+)", cwd=history)  # its group: the id
    assert totals_by(history, "task") == {
        "12": R2 + R3 + R5, "99": R6, "(no task)": R1 + R4 + R7, "OPS-9": T}
    bad = tokentag("config", "set", "task_pattern", "ABC-(", cwd=history, check=False)
    assert bad.returncode == 1 and "task_pattern" in bad.stderr
    assert "not a regular expression" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_by_author_and_by_pr(history: Path) -> None:
    assert totals_by(history, "author") == {
        "Test Author": R1 + R2 + R3 + R4 + R5, "Other Dev": R6, "(pending)": R7,
        "(no commit)": T}
    assert totals_by(history, "pr") == {
        "#12": R5, "#15": R6, "(no pr)": R1 + R2 + R3 + R4, "(pending)": R7, "(no commit)": T}


def test_work_items_honour_the_filters(history: Path) -> None:
    measured = json.loads(tokentag("report", "--by", "pr", "--evidence", "estimated", "--json",
                                   cwd=history).stdout)
    assert [(row["key"], row["tokens"]["total"]) for row in measured["rows"]] == \
        [("(no commit)", T)]


def test_commits_are_read_in_one_git_command(history: Path, mocker: Any) -> None:
    worktree = find_worktree(history)
    assert worktree is not None
    spy = mocker.spy(gitrepo, "run")
    with Store.of(worktree).reading() as index:
        found = workitems.by_model(worktree, index, "author", Filters(), costs.priced)
    assert [call.args[1] for call in spy.call_args_list] == ["log"]  # six commits, one git
    assert costs.overall(found["Other Dev"].values()).usage.total == R6
    # A commit git no longer has (another clone's, or rewritten away) says so.
    assert workitems.read_commits(gitrepo.open_repo(history).git, ["0" * 40]) == {}


@pytest.mark.parametrize(("text", "task"), [
    ("feature/ABC-123-login", "ABC-123"), ("Fix #45 at last", "#45"), ("gh-7: timeouts", "gh-7"),
    ("Read transcripts as UTF-8 and SHA-256", None), ("issue#4 and &#38;", None),
    ("PROJ2-9 then ABC-1", "PROJ2-9"), ("main", None),
])
def test_default_task_pattern(text: str, task: str | None) -> None:
    pattern = workitems.compiled_task_pattern(workitems.DEFAULT_TASK_PATTERN)
    assert workitems.task_in(pattern, text) == task


def test_a_pattern_that_backtracks_for_ages_is_a_one_line_error_in_bounded_time(
        history: Path) -> None:
    """A cloned repository's config may hold a pattern that takes exponential time on some
    branch name or commit message: the report stops at the search's bound and says why."""
    git(history, "commit", "-q", "--allow-empty", "-m", "a" * 40 + "!")
    tokentag("record", "--tokens-in", "1", "--tokens-out", "1", "--commit", "HEAD",
             cwd=history)
    (history / ".tokentag.toml").write_text('task_pattern = "^(a|aa)+$"\n')
    started = time.monotonic()
    result = tokentag("report", "--by", "task", cwd=history, check=False)
    assert time.monotonic() - started < 30  # a bound on a hang, not a speed target
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "task_pattern '^(a|aa)+$' took over 0.5 s" in result.stderr


@pytest.mark.parametrize(("message", "number"), [
    ("Merge pull request #12 from me/topic\n\nTitle", "#12"), ("Add export (#15)", "#15"),
    ("Add export (#15)  ", "#15"), ("Refs (#15) in the middle", None),
    ("Title\n\nsquashed (#3)", None), ("Merge branch 'x'", None),
])
def test_pull_request_number(message: str, number: str | None) -> None:
    assert workitems.pull_request(message) == number
