"""Budgets: `tokentag check` as a CI gate and the opt-in warning at the end of a turn, in
real repositories with the hooks installed, real commits and real `tokentag` processes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit


def check(repo: Path, *args: str) -> tuple[int, str, str]:
    result = tokentag("check", *args, cwd=repo, check=False)
    return result.returncode, result.stdout, result.stderr


def check_json(repo: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tokentag("check", "--json", *args, cwd=repo,
                                               check=False).stdout)
    return data


def spend(repo: Path, session: Session, message: str, output: int) -> str:
    """One request of `output` output tokens, captured by the hook, then a commit."""
    session.add(output=output)
    session.hook()
    return commit(repo, message)


@pytest.fixture
def project(installed_repo: Path) -> tuple[Path, Session, list[str]]:
    """v1.0, then two commits not released yet."""
    session = Session(installed_repo)
    shas = [spend(installed_repo, session, "one", 100_000)]
    git(installed_repo, "tag", "v1.0")
    shas += [spend(installed_repo, session, "two", 200_000),
             spend(installed_repo, session, "three", 50_000)]
    return installed_repo, session, shas


def release_cost(repo: Path, tag: str) -> float:
    cost: float = json.loads(tokentag("release", tag, "--json", cwd=repo).stdout)["cost_usd"]
    return cost


def test_check_fails_when_the_release_passes_its_budget_here_and_in_ci(
        project: tuple[Path, Session, list[str]], tmp_path: Path) -> None:
    repo, _, _ = project
    cost = release_cost(repo, "v1.1")  # not tagged yet: HEAD's release
    assert cost > 3  # 250,000 output tokens of Sonnet at $15 per million, and the rest
    tokentag("config", "set", "budgets.release.usd", f"{cost * 0.9:.2f}", cwd=repo)
    git(repo, "add", ".tokentag.toml")
    git(repo, "commit", "-q", "-m", "Set the release budget")  # no usage: nothing pending
    code, out, err = check(repo)
    assert code == 1 and err == "tokentag: 1 budget(s) exceeded\n"
    assert out == (f"EXCEEDED release unreleased (after v1.0): ${cost:,.2f} of "
                   f"${cost * 0.9:,.2f} ({cost / round(cost * 0.9, 2):.0%})\n")
    data = check_json(repo)
    assert data["exceeded"] is True
    [verdict] = data["budgets"]
    assert (verdict["scope"], verdict["over"]) == ("release", ["usd"])
    assert verdict["spent"]["cost_usd"] == pytest.approx(cost)
    assert verdict["spent"]["tokens"] == json.loads(
        tokentag("release", "v1.1", "--json", cwd=repo).stdout)["tokens"]
    git(repo, "tag", "v1.1")  # HEAD is the release now, measured by its tag
    assert check(repo)[1].startswith("EXCEEDED release v1.1: ")
    assert check(repo, "--release", "v1.0")[0] == 0  # $1.5 and a little, under the budget

    # CI: a fresh clone with the notes fetched and no ledger measures the same.
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(repo), str(ci))
    git(ci, "fetch", "-q", "origin", "refs/notes/tokentag:refs/notes/tokentag")
    code, out, _ = check(ci)
    assert code == 1 and out.startswith("EXCEEDED release v1.1: ")
    assert check_json(ci)["budgets"][0]["spent"]["cost_usd"] == pytest.approx(cost)
    assert not (ci / ".git" / "tokentag").exists()  # measuring wrote nothing

    tokentag("config", "set", "budgets.release.usd", f"{cost * 1.1:.2f}", cwd=repo)
    code, out, err = check(repo)
    assert (code, err) == (0, "") and out.startswith("ok       release v1.1: ")


def test_commit_and_token_budgets_name_each_commit_over(
        project: tuple[Path, Session, list[str]]) -> None:
    repo, session, shas = project
    totals = {row["key"]: row["tokens"]["total"] for row in json.loads(
        tokentag("report", "--by", "commit", "--json", cwd=repo).stdout)["rows"]}
    tokentag("config", "set", "budgets.commit.tokens", str(totals[shas[2]] + 1), cwd=repo)
    data = check_json(repo)
    assert data["exceeded"] is True
    assert [(v["subject"], v["over"], v["spent"]["tokens"]["total"]) for v in data["budgets"]] \
        == [(shas[1], ["tokens"], totals[shas[1]])]  # v1.0's commit is another release's
    session.add(output=300_000)
    session.hook()  # the next commit's, pending: over as well
    subjects = [v["subject"] for v in check_json(repo)["budgets"]]
    assert subjects == [shas[1], "(pending)"]
    tokentag("config", "set", "budgets.commit.tokens", "10000000", cwd=repo)
    code, out, _ = check(repo)
    assert code == 0
    assert out.startswith("ok       commit (pending): ")  # the costliest, to show how near


def test_branch_budget_counts_the_branch_s_own_commits_and_pending(
        project: tuple[Path, Session, list[str]]) -> None:
    repo, session, _ = project
    tokentag("config", "set", "budgets.branch.usd", "1", cwd=repo)
    assert check_json(repo)["budgets"] == []  # on main: no branch of its own
    git(repo, "checkout", "-q", "-b", "feature/x")
    feature = spend(repo, session, "on the branch", 80_000)
    session.add(output=1_000)
    session.hook()
    [verdict] = check_json(repo)["budgets"]
    rows = {row["key"]: row for row in json.loads(
        tokentag("report", "--by", "commit", "--json", cwd=repo).stdout)["rows"]}
    assert verdict["subject"] == "feature/x" and verdict["over"] == ["usd"]
    assert verdict["spent"]["cost_usd"] == pytest.approx(
        rows[feature]["cost_usd"] + rows["(pending)"]["cost_usd"])


def test_day_budget_counts_today_only(installed_repo: Path) -> None:
    session = Session(installed_repo)
    session.add(output=40_000, timestamp="2026-01-05T10:00:00.000Z")
    session.add(output=1_000, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
    session.hook()
    tokentag("config", "set", "budgets.day.tokens", "12000", cwd=installed_repo)
    [verdict] = check_json(installed_repo)["budgets"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert verdict["subject"] == today
    assert verdict["spent"]["tokens"]["total"] == 3 + 1_000 + 500 + 9_000
    assert verdict["over"] == []


def test_no_budgets_and_bad_budgets(installed_repo: Path) -> None:
    assert check(installed_repo) == (0, "no budgets configured (see `tokentag config set "
                                        "budgets.<scope>.usd N`)\n", "")
    (installed_repo / ".tokentag.toml").write_text("[budgets.day]\n")
    code, _, err = check(installed_repo)
    assert code == 1 and "budgets.day" in err and "set usd, tokens or both" in err
    (installed_repo / ".tokentag.toml").write_text("[budgets.week]\nusd = 3\n")
    code, _, err = check(installed_repo)
    assert code == 1 and "budgets.week" in err
    (installed_repo / ".tokentag.toml").unlink()
    result = tokentag("config", "set", "--", "budgets.release.usd", "-2", cwd=installed_repo,
                      check=False)
    assert result.returncode == 1 and "budgets.release.usd" in result.stderr


# -- the warning at the end of a turn --------------------------------------------------------


def stop(session: Session) -> tuple[int, str, str]:
    result = tokentag("check", "--stop-hook", cwd=session.cwd, stdin=session.payload("Stop"),
                      check=False)
    return result.returncode, result.stdout, result.stderr


def test_the_stop_hook_warns_once_when_a_budget_is_crossed(installed_repo: Path) -> None:
    session = Session(installed_repo)
    session.add(output=1_000, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
    assert stop(session) == (0, "", "")  # no budgets: silent
    tokentag("config", "set", "budgets.day.tokens", "20000", cwd=installed_repo)
    assert stop(session) == (0, "", "")  # under it
    # The turn's last request, not captured by any hook yet: the warning catches up on it.
    session.add(output=30_000, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                       time.gmtime()))
    code, out, err = stop(session)
    assert (code, err) == (0, "")
    message = json.loads(out)
    assert list(message) == ["systemMessage"]  # never a decision that keeps Claude working
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert message["systemMessage"] == (f"tokentag: budget exceeded: day {today}: "
                                        f"{2 * 9_503 + 31_000:,} of 20,000 tokens (250%)")
    assert stop(session) == (0, "", "")  # warned once
    tokentag("config", "set", "budgets.day.tokens", "100000", cwd=installed_repo)
    assert stop(session) == (0, "", "")
    tokentag("config", "set", "budgets.day.tokens", "20000", cwd=installed_repo)
    assert json.loads(stop(session)[1])["systemMessage"].startswith("tokentag: budget exceeded")


@pytest.mark.parametrize("payload", ["not json", "{}", '{"cwd": "/nonexistent/x"}'])
def test_the_stop_hook_stays_silent_on_bad_input(installed_repo: Path, payload: str) -> None:
    result = tokentag("check", "--stop-hook", cwd=installed_repo, stdin=payload, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_broken_config_is_logged_not_shown(installed_repo: Path) -> None:
    session = Session(installed_repo)
    (installed_repo / ".tokentag.toml").write_text("[budgets\n")
    assert stop(session) == (0, "", "")
    log = (installed_repo / ".git" / "tokentag" / "tokentag.log").read_text()
    assert "budget warning" in log and "malformed config" in log
