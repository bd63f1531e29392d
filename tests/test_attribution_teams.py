"""Attribution that survives how teams work: the agent's own commits, installs after weeks
of capture, squash and reset and amend, server-side merges, a CI clone, two worktrees
committing at once. Real repositories, real commits through the installed hooks, real
`tokentag` subprocesses; every figure checked against the requests the test wrote."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tokentag.notes import NOTES_REF
from tokentag.notes.content import parse_note

FIELDS = ("input", "output", "cache_creation", "cache_read")


def sums(session: Session, keys: list[str] | set[str]) -> dict[str, int]:
    found = {f: sum(session.requests[k][f] for k in keys) for f in FIELDS}
    return {**found, "total": sum(found.values())}


def keys_added(session: Session, before: set[str]) -> set[str]:
    return set(session.requests) - before


def by_commit(repo: Path) -> dict[str, dict[str, int]]:
    rows = json.loads(tokentag("report", "--by", "commit", "--json", cwd=repo).stdout)["rows"]
    return {row["key"]: row["tokens"] for row in rows}


def release(repo: Path, tag: str) -> dict[str, Any]:
    result = json.loads(tokentag("release", tag, "--json", cwd=repo).stdout)
    assert isinstance(result, dict)
    return result


def note_of(repo: Path, commit: str) -> dict[str, Any] | None:
    shown = subprocess.run(["git", "-C", str(repo), "notes", "--ref", NOTES_REF, "show", commit],
                           capture_output=True, text=True, check=False)
    return parse_note(shown.stdout) if shown.returncode == 0 else None


def commit(repo: Path, message: str, env: dict[str, str] | None = None,
           name: str | None = None) -> str:
    path = repo / (name or f"{message.split()[0].lower()}.txt")
    path.write_text(f"{message}\n{path.read_text() if path.exists() else ''}")
    git(repo, "add", "-A")
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True,
                   env={**os.environ, **(env or {})})
    return git(repo, "rev-parse", "HEAD")


def install(repo: Path) -> Path:
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    tokentag("install", cwd=repo)
    return repo


# -- the agent's own commit ------------------------------------------------------------


@pytest.mark.parametrize(("session_named", "settled_by"), [
    (True, "PostToolUse"), (False, "PostToolUse"), (True, "Stop"), (False, "next commit")])
def test_the_request_that_made_a_commit_goes_with_that_commit(
        repo: Path, session_named: bool, settled_by: str) -> None:
    """Claude Code starts the tool as soon as its tool_use block streamed and writes the
    request's lines after the stream ended: the commit happens first."""
    install(repo)
    session = Session(repo)
    session.add()
    session.hook("PostToolUse", tool_use_id="toolu_before", tool_name="Read")
    earlier = set(session.requests)
    agent = {"CLAUDECODE": "1", **({"CLAUDE_CODE_SESSION_ID": session.session_id}
                                   if session_named else {})}
    made = commit(repo, "Agent commit", env=agent)  # inside tool call toolu_commit
    before = set(session.requests)
    session.append(session.request_lines(tool_use_id="toolu_commit"))
    committing = keys_added(session, before)
    if settled_by == "PostToolUse":
        session.hook("PostToolUse", tool_use_id="toolu_commit", tool_name="Bash")
    elif settled_by == "Stop":
        session.hook("Stop")
    before = set(session.requests)
    session.add()  # a later request: the next commit's
    later = keys_added(session, before)
    if settled_by != "next commit":
        session.hook("Stop")
    nxt = commit(repo, "By hand")
    found = by_commit(repo)
    assert found[made] == sums(session, earlier | committing)
    if settled_by == "next commit":  # settled first, then the rest is the next commit's
        assert found[nxt] == sums(session, later)
    else:
        assert found[nxt] == sums(session, later)
    note = note_of(repo, made)
    assert note is not None and note["requests"] == len(earlier | committing)


def test_two_agent_commits_in_one_session_each_take_their_own_request(repo: Path) -> None:
    install(repo)
    session = Session(repo)
    agent = {"CLAUDECODE": "1", "CLAUDE_CODE_SESSION_ID": session.session_id}
    firsts: list[set[str]] = []
    commits: list[str] = []
    for number in range(2):
        made = commit(repo, f"Agent {number}", env=agent)
        before = set(session.requests)
        session.append(session.request_lines(tool_use_id=f"toolu_{number}"))
        firsts.append(keys_added(session, before))
        session.hook("PostToolUse", tool_use_id=f"toolu_{number}", tool_name="Bash")
        commits.append(made)
    found = by_commit(repo)
    for made, keys in zip(commits, firsts, strict=True):
        assert found[made] == sums(session, keys)


# -- installed late ---------------------------------------------------------------------


def dated(repo: Path, message: str, when: str) -> str:
    return commit(repo, message, env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})


def test_installed_late_the_first_commit_carries_only_its_own_usage(repo: Path) -> None:
    """The user-scope hooks captured here for days before the git hooks were installed."""
    first = dated(repo, "First", "2026-11-01T10:00:00Z")
    second = dated(repo, "Second", "2026-11-02T10:00:00Z")
    session = Session(repo)
    spans = {}
    for name, when in (("before first", "2026-11-01T09:00:00.000Z"),
                       ("between", "2026-11-01T15:00:00.000Z"),
                       ("after second", "2026-11-02T12:00:00.000Z")):
        before = set(session.requests)
        session.add(timestamp=when)
        spans[name] = keys_added(session, before)
    session.hook("Stop")  # captured, with no git hook to attribute it
    assert (repo / ".git" / "tokentag" / "ledger.jsonl").exists()
    out = tokentag("install", cwd=repo).stdout
    assert "2 request(s) assigned to the 2 past commit(s)" in out
    found = by_commit(repo)
    assert found[first] == sums(session, spans["before first"])
    assert found[second] == sums(session, spans["between"])
    before = set(session.requests)
    session.add()
    session.hook("Stop")
    third = commit(repo, "Third")
    assert by_commit(repo)[third] == sums(session, spans["after second"]
                                          | keys_added(session, before))


# -- local squash, reset, amend --------------------------------------------------------


def work(repo: Path, session: Session, message: str) -> tuple[str, set[str]]:
    """A request, then the commit it led to."""
    before = set(session.requests)
    session.add()
    session.hook("Stop")
    return commit(repo, message), keys_added(session, before)


def test_a_local_squash_merge_carries_the_branchs_usage_into_the_release(repo: Path) -> None:
    install(repo)
    commit(repo, "Base")
    git(repo, "tag", "v1.0")
    git(repo, "checkout", "-q", "-b", "feat")
    session = Session(repo, branch="feat")
    one, first = work(repo, session, "Feature one")
    two, second = work(repo, session, "Feature two")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--squash", "feat")
    squashed = commit(repo, "Squash the feature")
    git(repo, "branch", "-q", "-D", "feat")
    git(repo, "tag", "v1.1")
    result = release(repo, "v1.1")
    assert result["tokens"] == sums(session, first | second)
    assert [c["commit"] for c in result["by_commit"]] == [squashed]
    assert note_of(repo, one) is None and note_of(repo, two) is None
    note = note_of(repo, squashed)
    assert note is not None and note["requests"] == 2


def test_a_soft_reset_and_recommit_carries_the_usage(repo: Path) -> None:
    install(repo)
    commit(repo, "Base")
    session = Session(repo)
    original, keys = work(repo, session, "Work")
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    again = commit(repo, "Work, reworded")
    assert again != original
    git(repo, "tag", "v1.0")
    result = release(repo, "v1.0")
    assert result["tokens"] == sums(session, keys)
    assert by_commit(repo)[again] == sums(session, keys) and original not in by_commit(repo)
    assert note_of(repo, original) is None and note_of(repo, again) is not None


def test_amending_a_commit_that_stays_reachable_counts_its_usage_once(repo: Path) -> None:
    install(repo)
    commit(repo, "Base")
    session = Session(repo)
    original, keys = work(repo, session, "Work")
    git(repo, "branch", "merged-earlier")  # the original stays reachable from here
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--amend", "-m", "Work, amended"],
                   check=True)
    amended = git(repo, "rev-parse", "HEAD")
    git(repo, "merge", "-q", "--no-edit", "-s", "ours", "merged-earlier")
    git(repo, "tag", "v1.0")
    result = release(repo, "v1.0")
    assert original in {*git(repo, "rev-list", "v1.0").split()}
    assert result["tokens"] == sums(session, keys)
    assert note_of(repo, original) is None and note_of(repo, amended) is not None


# -- server merges, and the CI clone --------------------------------------------------------


class Hosting:
    """A bare remote, a developer's clone with tokentag, and the server's own clone that
    merges pull requests without tokentag (as GitHub does: no hooks run there)."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "remote.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        self.dev = root / "dev"
        git(root, "clone", "-q", str(self.remote), str(self.dev))
        install(self.dev)
        commit(self.dev, "Base")
        git(self.dev, "push", "-q", "origin", "main")
        self.server = root / "server"
        git(root, "clone", "-q", str(self.remote), str(self.server))
        self.session = Session(self.dev, branch="feat")
        self.pulls = 0

    def pull_request(self, branch: str, messages: list[str]) -> tuple[list[str], set[str]]:
        """The developer's branch, its commits' requests, pushed and synced."""
        git(self.dev, "checkout", "-q", "-b", branch, "main")
        self.session.branch = branch
        made, keys = [], set()
        for message in messages:
            sha, taken = work(self.dev, self.session, message)
            made.append(sha)
            keys |= taken
        git(self.dev, "push", "-q", "origin", branch)
        tokentag("sync", "origin", cwd=self.dev)
        self.pulls += 1
        git(self.dev, "push", "-q", "origin", f"{branch}:refs/pull/{self.pulls}/head")
        git(self.dev, "checkout", "-q", "main")
        return made, keys

    def server_merge(self, branch: str, how: str) -> None:
        git(self.server, "fetch", "-q", "origin")
        git(self.server, "checkout", "-q", "-B", "main", "origin/main")
        if how == "rebase":
            git(self.server, "checkout", "-q", "-B", "pr", f"origin/{branch}")
            # GitHub's rebase-merge makes new commits even when main did not move. Later:
            # a rebase within the second of the original commit would remake it unchanged.
            later = {**os.environ, "GIT_COMMITTER_DATE": f"@{int(time.time()) + 60} +0000"}
            subprocess.run(["git", "-C", str(self.server), "rebase", "-q", "--force-rebase",
                            "main"], env=later, check=True, capture_output=True)
            git(self.server, "checkout", "-q", "main")
            git(self.server, "merge", "-q", "--ff-only", "pr")
        else:
            git(self.server, "merge", "-q", "--squash", f"origin/{branch}")
            git(self.server, "commit", "-q", "-m", f"Merge {branch} (#{self.pulls})")
        git(self.server, "push", "-q", "origin", "main", f":{branch}")

    def dev_pulls(self) -> None:
        git(self.dev, "pull", "-q", "--ff-only", "origin", "main")


def test_server_rebase_and_squash_merges_and_a_ci_clone_count_each_request_once(
        tmp_path: Path) -> None:
    hosting = Hosting(tmp_path)
    git(hosting.dev, "tag", "v1.0")
    rebased, rebased_keys = hosting.pull_request("feat-a", ["A one", "A two"])
    squashed, squashed_keys = hosting.pull_request("feat-b", ["B one", "B two", "B three"])
    hosting.server_merge("feat-a", "rebase")
    hosting.server_merge("feat-b", "squash")
    hosting.dev_pulls()
    git(hosting.dev, "tag", "v1.1")
    git(hosting.dev, "push", "-q", "origin", "v1.1", "v1.0")
    expected = sums(hosting.session, rebased_keys | squashed_keys)
    ours = release(hosting.dev, "v1.1")
    assert ours["tokens"] == expected
    carried = {c["commit"]: c.get("carried_from", []) for c in ours["by_commit"]}
    assert all(c["source"] == "carried" for c in ours["by_commit"])
    assert sorted(o for originals in carried.values() for o in originals) == sorted(
        rebased + squashed)
    assert ours["outside_releases"]["requests"] == 0
    # CI: a fresh clone, with the notes and the pull requests' refs fetched (docs/ci.md).
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(hosting.remote), str(ci))
    git(ci, "fetch", "-q", "origin", f"{NOTES_REF}:{NOTES_REF}",
        "+refs/pull/*/head:refs/remotes/origin/pull/*")
    theirs = release(ci, "v1.1")
    assert theirs["tokens"] == expected and theirs["cost_usd"] == ours["cost_usd"]
    assert not (ci / ".git" / "tokentag").exists()


def test_usage_no_release_reaches_is_listed_not_dropped(tmp_path: Path) -> None:
    """A pull request merged in a way no commit matches (edited while squashing)."""
    hosting = Hosting(tmp_path)
    git(hosting.dev, "tag", "v1.0")
    _, keys = hosting.pull_request("feat-c", ["C one"])
    git(hosting.server, "fetch", "-q", "origin")
    git(hosting.server, "checkout", "-q", "-B", "main", "origin/main")
    git(hosting.server, "merge", "-q", "--squash", "origin/feat-c")
    (hosting.server / "extra.txt").write_text("changed while merging\n")
    git(hosting.server, "add", "-A")
    git(hosting.server, "commit", "-q", "-m", "Merge, edited (#1)")
    git(hosting.server, "push", "-q", "origin", "main", ":feat-c")
    hosting.dev_pulls()
    git(hosting.dev, "tag", "v1.1")
    result = release(hosting.dev, "v1.1")
    assert result["requests"] == 0
    assert result["outside_releases"]["tokens"] == sums(hosting.session, keys)
    notes = tokentag("release", "v1.1", "--stdout", cwd=hosting.dev).stdout
    assert "Outside any release: 1 request" in notes


def test_a_squash_merge_is_matched_whatever_diff_driver_the_attributes_pick(
        tmp_path: Path) -> None:
    """A diff driver (chosen by .gitattributes, set up in the developer's config) that
    rewrites what `git diff` shows, or the developer's diff settings, must not change the
    change a squash-merge is matched by."""
    hosting = Hosting(tmp_path)
    git(hosting.dev, "tag", "v1.0")
    _, keys = hosting.pull_request("feat-d", ["D one", "D two"])
    hosting.server_merge("feat-d", "squash")
    hosting.dev_pulls()
    git(hosting.dev, "tag", "v1.1")
    (hosting.dev / ".git" / "info" / "attributes").write_text("*.txt diff=shout\n")
    git(hosting.dev, "config", "diff.shout.textconv", "sed s/o/O/g")
    assert "D One" in git(hosting.dev, "diff", "v1.0", "v1.1")  # the driver is in force
    result = release(hosting.dev, "v1.1")
    assert result["tokens"] == sums(hosting.session, keys)
    git(hosting.dev, "config", "diff.shout.command", "false")  # an external diff, failing
    result = release(hosting.dev, "v1.1")
    assert result["tokens"] == sums(hosting.session, keys)
    assert result["outside_releases"]["requests"] == 0
    for name, value in (("diff.noprefix", "true"), ("diff.relative", "true"),
                        ("diff.context", "1")):  # the developer's own diff settings
        git(hosting.dev, "config", name, value)
    assert release(hosting.dev, "v1.1")["tokens"] == sums(hosting.session, keys)


# -- notes under concurrency -------------------------------------------------------------


def test_two_worktrees_committing_at_once_keep_every_note(repo: Path, tmp_path: Path) -> None:
    install(repo)
    commit(repo, "Base")
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "other", str(other))
    second = "0b0b0b0b-0000-4000-8000-0000000000b2"
    sessions = {repo: Session(repo), other: Session(other, branch="other", session_id=second)}
    for round_ in range(20):
        for place, session in sessions.items():
            session.add()
            session.hook("Stop")
            # Each worktree's own change: the same tree, message and second would make
            # the two commits one object.
            (place / f"r{round_}.txt").write_text(f"{place.name} {round_}")
            git(place, "add", "-A")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda place, n=round_: git(place, "commit", "-q", "-m", f"r{n}"),
                          sessions))
    ledger = by_commit(repo)
    noted = [c for c in ledger if c != "(pending)"]
    assert len(noted) == 40
    for sha in noted:
        note = note_of(repo, sha)
        assert note is not None, sha
        totals = {f: sum(g[f] for g in note["groups"]) for f in FIELDS}
        assert {**totals, "total": sum(totals.values())} == ledger[sha]


# -- release tags, clones without notes, read-only commands, pending ------------------------


def test_only_version_tags_are_releases_by_default(repo: Path) -> None:
    install(repo)
    session = Session(repo)
    work(repo, session, "One")
    git(repo, "tag", "v1.0")
    _, keys = work(repo, session, "Two")
    git(repo, "tag", "deploy-staging")
    work_keys = keys | work(repo, session, "Three")[1]
    git(repo, "tag", "v1.1")
    result = release(repo, "v1.1")
    assert result["previous_tag"] == "v1.0"
    assert result["tokens"] == sums(session, work_keys)
    tags = [r["tag"] for r in json.loads(tokentag("release", "--all", "--json",
                                                  cwd=repo).stdout)["releases"]]
    assert tags == ["v1.0", "v1.1"]


def test_a_clone_whose_notes_were_not_fetched_is_told_how(tmp_path: Path) -> None:
    hosting = Hosting(tmp_path)
    work(hosting.dev, hosting.session, "Work")
    git(hosting.dev, "push", "-q", "origin", "main")
    tokentag("sync", "origin", cwd=hosting.dev)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(hosting.remote), str(clone))
    result = tokentag("release", "v1.0", "--stdout", cwd=clone)
    fetch = f"git fetch origin +{NOTES_REF}:{NOTES_REF}"
    assert fetch in result.stderr
    for command in (["status"], ["report"], ["log"], ["show"], ["release", "v1", "--json"],
                    ["pending"]):
        tokentag(*command, cwd=clone)
    assert not (clone / ".git" / "tokentag").exists()  # read-only commands made nothing
    tokentag("install", "--scope", "local", cwd=clone)  # its notes ref: a commit of no notes
    assert fetch in tokentag("release", "v1.0", "--stdout", cwd=clone).stderr
    git(clone, *fetch.split()[1:])
    assert release(clone, "v1.0")["tokens"] == release(hosting.dev, "v1.0")["tokens"]


def test_pending_lists_ages_assigns_and_drops(repo: Path) -> None:
    install(repo)
    base = commit(repo, "Base")
    kept = Session(repo)
    kept.add(timestamp="2026-11-20T10:00:00.000Z")
    kept.hook("Stop")
    abandoned = Session(repo, session_id="0c0c0c0c-0000-4000-8000-0000000000c3")
    abandoned.add(timestamp="2026-11-21T10:00:00.000Z")
    abandoned.hook("Stop")
    listed = json.loads(tokentag("pending", "--json", cwd=repo).stdout)["sessions"]
    assert [s["session_id"] for s in listed] == [kept.session_id, abandoned.session_id]
    refused = tokentag("pending", "--assign", "HEAD", cwd=repo, check=False)
    assert refused.returncode == 1 and "--session" in refused.stderr
    tokentag("pending", "--assign", base, "--session", kept.session_id[:8], cwd=repo)
    tokentag("pending", "--drop", "--all", "--reason", "an abandoned experiment", cwd=repo)
    found = by_commit(repo)
    assert found[base] == kept.totals()
    assert found["(dropped)"] == abandoned.totals() and "(pending)" not in found
    assert "an abandoned experiment" in (repo / ".git" / "tokentag" / "ledger.jsonl"
                                         ).read_text()
    assert json.loads(tokentag("pending", "--json", cwd=repo).stdout)["sessions"] == []
