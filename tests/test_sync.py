"""Teams: notes shared through a bare "remote" by clones that capture and commit in parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RepoTemplate, git, tokentag
from tests.corpora import Corpus
from tests.session_writer import SessionWriter
from tests.test_statusline import running
from tokentag.core import locking
from tokentag.core.errors import TokentagError
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger.records import EVIDENCE_KINDS
from tokentag.notes import content, sync

NOTES = "refs/notes/tokentag"
IDENTITY_VARS = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL")
BOB_SESSION = "b0b0b0b0-1111-2222-3333-444444444444"


@dataclass
class Member:
    """One teammate: a clone with tokentag installed and a Claude session writing into it."""

    repo: Path
    writer: SessionWriter
    branch: str

    def work(self, lines: int, message: str) -> str:
        """Claude spends tokens, then the work is committed and its branch pushed."""
        self.writer.write(lines)
        self.writer.hook()
        path = self.repo / f"{self.branch}.txt"
        path.write_text((path.read_text() if path.exists() else "") + message + "\n")
        git(self.repo, "add", path.name)
        git(self.repo, "commit", "-q", "-m", message)
        git(self.repo, "push", "-q", "origin", self.branch)
        return git(self.repo, "rev-parse", "HEAD")


@dataclass
class Team:
    remote: Path
    alice: Member
    bob: Member
    root: Path

    def fresh_clone(self, name: str = "ci") -> Path:
        """What CI does: a clone, then the notes fetched by hand (docs/ci.md)."""
        path = self.root / name
        git(self.root, "clone", "-q", str(self.remote), str(path))
        git(path, "fetch", "-q", "origin", f"{NOTES}:{NOTES}")
        return path


def clone_as(remote: Path, path: Path, name: str) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(path))
    git(path, "config", "user.name", name)
    git(path, "config", "user.email", f"{name.lower()}@example.com")
    return path


@pytest.fixture(scope="module")
def team_template(tmp_path_factory: pytest.TempPathFactory) -> RepoTemplate:
    """A bare remote with one commit and two clones, Alice's and Bob's, each with its own
    git identity (from its config, not the test's environment)."""
    template = RepoTemplate(tmp_path_factory.mktemp("team-template"))
    with template.making() as root, pytest.MonkeyPatch.context() as monkeypatch:
        for name in IDENTITY_VARS:
            monkeypatch.delenv(name, raising=False)
        remote = root / "remote.git"
        git(root, "init", "-q", "--bare", str(remote))
        seed = clone_as(remote, root / "seed", "Seed")
        (seed / "README").write_text("team project\n")
        git(seed, "add", "README")
        git(seed, "commit", "-q", "-m", "base")
        git(seed, "push", "-q", "origin", "HEAD:main")
        alice = clone_as(remote, root / "alice", "Alice")
        bob = clone_as(remote, root / "bob", "Bob")
        git(bob, "checkout", "-q", "-b", "bob")
        for repo in (alice, bob):
            template.install(repo)
    return template


@pytest.fixture
def team(corpus: Corpus, team_template: RepoTemplate, tmp_path: Path, isolated_home: Path,
         monkeypatch: pytest.MonkeyPatch) -> Team:
    """The team, copied into this test: the clones' origin is this test's remote."""
    for name in IDENTITY_VARS:
        monkeypatch.delenv(name, raising=False)
    team_template.copy_to(tmp_path, isolated_home)
    remote, alice, bob = tmp_path / "remote.git", tmp_path / "alice", tmp_path / "bob"
    for clone in (tmp_path / "seed", alice, bob):
        git(clone, "remote", "set-url", "origin", str(remote))
    return Team(remote, Member(alice, SessionWriter(alice, corpus), "main"),
                Member(bob, SessionWriter(bob, corpus, session_id=BOB_SESSION), "bob"), tmp_path)


def show(repo: Path, sha: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tokentag("show", sha, "--json", cwd=repo).stdout)
    return data


def figures(shown: dict[str, Any]) -> dict[str, Any]:
    """What a commit costs, whichever source it was read from (and whatever commit, after
    a rewrite, now carries it)."""
    return {k: v for k, v in shown.items() if k not in ("source", "date", "author", "subject")}


def remote_note(remote: Path, sha: str) -> dict[str, Any] | None:
    text = subprocess.run(["git", "--git-dir", str(remote), "notes", "--ref", NOTES, "show",
                           sha], capture_output=True, text=True, check=False).stdout
    return content.parse_note(text) if text else None


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def racing_push(monkeypatch: pytest.MonkeyPatch, before_first_push: Callable[[], None]) -> None:
    """Make the remote move between a sync's fetch and its first push."""
    real = sync.push_notes
    calls: list[str] = []

    def push(cwd: Path, remote: str) -> bool:
        if not calls:
            before_first_push()
        calls.append(remote)
        return real(cwd, remote)

    monkeypatch.setattr(sync, "push_notes", push)


def sync_in_process(repo: Path) -> sync.SyncResult:
    worktree = find_worktree(repo)
    assert worktree is not None
    return sync.sync(worktree)


# --- the two clones ----------------------------------------------------------------------------


@pytest.mark.parametrize("first_to_sync", ["alice", "bob"])
def test_parallel_clones_sync_in_either_order(team: Team, first_to_sync: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    owners = {team.alice.work(150, "alice 1"): team.alice.repo,
              team.bob.work(200, "bob 1"): team.bob.repo}
    first, second = ((team.alice, team.bob) if first_to_sync == "alice"
                     else (team.bob, team.alice))
    tokentag("sync", cwd=first.repo)

    def first_pushes_more() -> None:  # lands between the second's fetch and its push
        owners[first.work(80, "more")] = first.repo
        tokentag("sync", cwd=first.repo)

    racing_push(monkeypatch, first_pushes_more)
    result = sync_in_process(second.repo)
    assert result.pushed and result.attempts == 2  # rejected once, merged again, pushed
    tokentag("sync", cwd=first.repo)  # the first now gets the second's notes

    fresh = team.fresh_clone()
    for member in (team.alice, team.bob):
        git(member.repo, "fetch", "-q", "origin")  # the commits; the notes came by sync
    for sha, owner in owners.items():
        at_owner = show(owner, sha)
        assert at_owner["source"] == "ledger" and at_owner["requests"] > 0
        for elsewhere in (fresh, team.alice.repo, team.bob.repo):
            assert figures(show(elsewhere, sha)) == figures(at_owner)
        assert show(fresh, sha)["source"] == "git note"
    authors = set(git(fresh, "log", "--format=%an <%ae>", NOTES).splitlines())
    assert authors == {"Alice <alice@example.com>", "Bob <bob@example.com>",
                       "tokentag <tokentag>"}
    # Every clone's install started the ref with the same empty commit: one root, shared.
    roots = git(fresh, "rev-list", "--max-parents=0", NOTES).split()
    assert len(roots) == 1 and git(fresh, "ls-tree", roots[0]) == ""


def test_release_in_fresh_clone_equals_capturing_machine(team: Team) -> None:
    if not (Path(sync.__file__).parent / "release.py").exists():
        pytest.skip("`tokentag release` is not there yet")
    owned = [team.alice.work(150, "alice 1"), team.bob.work(200, "bob 1")]
    tokentag("sync", cwd=team.alice.repo)
    tokentag("sync", cwd=team.bob.repo)
    owned.append(team.alice.work(60, "alice 2"))
    alice = team.alice.repo
    git(alice, "fetch", "-q", "origin")
    git(alice, "merge", "-q", "--no-ff", "-m", "merge bob", "origin/bob")
    git(alice, "tag", "v1")
    git(alice, "push", "-q", "origin", "main", "v1")
    tokentag("sync", cwd=alice)
    at_alice = json.loads(tokentag("release", "v1", "--json", cwd=alice).stdout)
    fresh = team.fresh_clone()
    in_ci = json.loads(tokentag("release", "v1", "--json", cwd=fresh).stdout)
    assert in_ci["commits_from_notes"] == 3 and at_alice["commits_from_notes"] == 1
    assert without_provenance(in_ci) == without_provenance(at_alice)
    owners = {owned[0]: alice, owned[1]: team.bob.repo, owned[2]: alice}
    expected = sum(show(repo, sha)["tokens"]["total"] for sha, repo in owners.items())
    assert in_ci["tokens"]["total"] == expected
    cost = sum(show(repo, sha)["cost_usd"] for sha, repo in owners.items())
    assert in_ci["cost_usd"] == pytest.approx(cost)


def without_provenance(release: dict[str, Any]) -> dict[str, Any]:
    """The release JSON less where each figure was read from (ledger or note), which
    differs between the machines by design. Sessions stay: notes carry their ids."""
    extras = ("commits_from_notes",)
    data = {k: v for k, v in release.items() if k not in extras}
    data["by_commit"] = [{k: v for k, v in c.items() if k != "source"}
                         for c in release["by_commit"]]
    return data


def test_push_retries_are_bounded(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    team.alice.work(100, "alice 1")
    monkeypatch.setattr(sync, "push_notes", lambda cwd, remote: False)
    with pytest.raises(TokentagError, match="rejected 5 times"):
        sync_in_process(team.alice.repo)


def test_local_ledger_wins_over_a_changed_copy(team: Team) -> None:
    sha = team.alice.work(150, "alice 1")
    tokentag("sync", cwd=team.alice.repo)
    tokentag("sync", cwd=team.bob.repo)
    bogus = {"tokentag": 1, "requests": 1, "sessions": 1, "inferred_requests": 0,
             "models": {}, "groups": [{"model": "x", "day": "2025-01-01", "band": 0,
                                        "prompt": 1, "requests": 1, "input": 1, "output": 1,
                                        "cache_creation": 0, "cache_creation_5m": 0,
                                        "cache_creation_1h": 0, "cache_read": 0}]}
    content.write_note(team.bob.repo, sha, bogus)  # Bob's copy, changed by hand
    tokentag("sync", cwd=team.bob.repo)
    # As read: checked, a group without an evidence kind being observed.
    assert remote_note(team.remote, sha)["groups"] == [{**g, "evidence": "observed"}
                                                       for g in bogus["groups"]]
    out = json.loads(tokentag("sync", "--json", cwd=team.alice.repo).stdout)
    assert out["merged"]["from_ledger"] == 1 and out["pushed"]
    tokentag("sync", cwd=team.bob.repo)  # Bob takes the fix: only Alice changed it since
    git(team.bob.repo, "fetch", "-q", "origin")
    for repo in (team.bob.repo, team.fresh_clone()):
        assert figures(show(repo, sha)) == figures(show(team.alice.repo, sha))


def test_notes_changed_on_both_sides_are_joined_not_summed(team: Team) -> None:
    sha = team.alice.work(150, "alice 1")
    tokentag("sync", cwd=team.alice.repo)
    original = remote_note(team.remote, sha)
    assert original is not None
    copies = [clone_as(team.remote, team.root / name, name) for name in ("Carol", "Dan")]
    raised = json.loads(json.dumps(original))
    raised["groups"][0]["output"] += 1000  # a later correction seen by one copy
    for repo in copies:  # both start from the same notes, and change them in parallel
        git(repo, "fetch", "-q", "origin", f"{NOTES}:{NOTES}")
    for repo, note in zip(copies, (original, raised), strict=True):
        extra = dict(note, groups=[*note["groups"], {**note["groups"][0], "model": repo.name}])
        content.write_note(repo, sha, extra)
        tokentag("sync", cwd=repo)
    joined = remote_note(team.remote, sha)
    assert joined is not None
    models = {g["model"] for g in joined["groups"]}
    assert models == {*(g["model"] for g in original["groups"]), "Carol", "Dan"}
    first = next(g for g in joined["groups"] if g["model"] == original["groups"][0]["model"]
                 and g["day"] == original["groups"][0]["day"]
                 and g["band"] == original["groups"][0]["band"])
    assert first["output"] == raised["groups"][0]["output"]  # the maximum, not the sum


def test_join_is_an_order_free_union() -> None:
    def note(*groups: tuple[str, int]) -> dict[str, Any]:
        rows = [{"model": m, "day": "2025-06-01", "band": 0, "prompt": 10, "requests": 1,
                 "input": 1, "output": out, "cache_creation": 0, "cache_creation_5m": 0,
                 "cache_creation_1h": 0, "cache_read": 0} for m, out in groups]
        return {"tokentag": 1, "requests": len(rows), "sessions": 1, "inferred_requests": 0,
                "models": {}, "groups": rows}

    a, b, c = note(("m1", 5)), note(("m1", 9), ("m2", 3)), note(("m3", 1))
    assert content.join_notes(a, b) == content.join_notes(b, a)
    join = content.join_notes
    assert join(join(a, b), c) == join(a, join(b, c))
    assert content.join_notes(b, b) == content.join_notes(b, note(("m1", 9)))
    joined = content.join_notes(a, b)
    assert joined["models"]["m1"]["output"] == 9 and joined["requests"] == 2


# --- rewrites, the pre-push hook, identity and boundaries --------------------------------------


def rebase_onto_bobs_work(team: Team, push: Callable[[Path], None]) -> dict[str, str]:
    """Alice's feature branch is rebased onto a newer main and force-pushed: old -> new."""
    alice = team.alice.repo
    git(alice, "checkout", "-q", "-b", "feature")
    team.alice.branch = "feature"
    old = [team.alice.work(120, "feature 1"), team.alice.work(90, "feature 2")]
    push(alice)
    git(team.bob.repo, "push", "-q", "origin", "bob:main")  # main moves on
    git(alice, "fetch", "-q", "origin")
    git(alice, "rebase", "-q", "origin/main")
    git(alice, "push", "-q", "--force", "origin", "feature")
    push(alice)
    new = git(alice, "rev-list", "--reverse", "origin/main..feature").split()
    assert len(new) == 2 and not set(new) & set(old)
    return dict(zip(old, new, strict=True))


def test_rebase_and_force_push_keep_notes(team: Team) -> None:
    team.bob.work(50, "bob 1")
    before: dict[str, dict[str, Any]] = {}

    def sync_and_remember(repo: Path) -> None:
        tokentag("sync", cwd=repo)
        for sha in git(repo, "rev-list", "origin/main..feature").split():
            before.setdefault(sha, show(repo, sha))

    rewritten = rebase_onto_bobs_work(team, sync_and_remember)
    fresh = team.fresh_clone()
    for old, new in rewritten.items():
        shown = show(fresh, new)
        assert shown["source"] == "git note"
        assert figures(shown) | {"commit": old} == figures(before[old])


def test_pre_push_hook_pushes_notes_in_the_background(team: Team) -> None:
    tokentag("install", "--pre-push", cwd=team.alice.repo)
    team.bob.work(50, "bob 1")
    rewritten = rebase_onto_bobs_work(team, lambda repo: None)  # no `tokentag sync` at all
    wait_for(lambda: all(remote_note(team.remote, sha) for sha in rewritten.values()),
             "the notes of the rewritten commits on the remote")
    fresh = team.fresh_clone()
    for new in rewritten.values():
        assert figures(show(fresh, new)) == figures(show(team.alice.repo, new))


def test_pre_push_never_fails_the_push(team: Team) -> None:
    hook = team.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nif grep -q refs/notes/; then echo no notes >&2; exit 1; fi\n")
    hook.chmod(0o755)
    tokentag("install", "--pre-push", cwd=team.alice.repo)
    sha = team.alice.work(100, "alice 1")  # pushes main; the notes push is refused
    assert git(team.remote, "rev-parse", "main") == sha
    log = team.alice.repo / ".git" / "tokentag" / "tokentag.log"
    wait_for(lambda: log.exists() and "pre-push notes sync" in log.read_text(), "the log line")
    assert "refused the notes" in log.read_text()
    assert remote_note(team.remote, sha) is None


def test_pre_push_recursion_guard(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    team.alice.work(100, "alice 1")
    started: list[list[str]] = []
    monkeypatch.setattr(sync, "start_background", lambda argv, cwd: started.append(argv))
    worktree = find_worktree(team.alice.repo)
    assert worktree is not None
    zero, sha = "0" * 40, git(team.alice.repo, "rev-parse", "HEAD")
    branch = f"refs/heads/main {sha} refs/heads/main {zero}\n"
    notes_only = f"{NOTES} {sha} {NOTES} {zero}\n"
    deletion = f"(delete) {zero} refs/heads/old {sha}\n"
    assert not sync.on_pre_push(worktree, ["origin", "url"], notes_only)
    assert not sync.on_pre_push(worktree, ["origin", "url"], deletion)
    assert not sync.on_pre_push(worktree, [str(team.remote), str(team.remote)], branch)
    monkeypatch.setenv(sync.PUSHING_ENV, "1")
    assert not sync.on_pre_push(worktree, ["origin", "url"], branch)
    monkeypatch.delenv(sync.PUSHING_ENV)
    assert sync.on_pre_push(worktree, ["origin", "url"], branch)
    assert started == [[sys.executable, "-E", "-P", "-m", "tokentag.notes.sync", "origin"]]


def background_sync(repo: Path) -> subprocess.CompletedProcess[str]:
    """What the pre-push hook starts (see sync.start_background), waited for here."""
    env = {**os.environ, sync.PUSHING_ENV: "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run([sys.executable, "-E", "-P", "-m", "tokentag.notes.sync", "origin"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=30,
                          check=False)


def test_a_background_sync_leaves_the_notes_to_the_one_running(team: Team) -> None:
    """Pushes to a remote that stopped answering must not queue one sync each on the lock."""
    alice = team.alice.repo
    sha = team.alice.work(100, "alice 1")
    with locking.locked(str(alice / ".git" / "tokentag" / sync.SYNC_LOCK)):
        began = time.monotonic()
        done = background_sync(alice)
        assert time.monotonic() - began < 10  # a bound on a wait for the lock
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert remote_note(team.remote, sha) is None
    assert not (alice / ".git" / "tokentag" / "tokentag.log").exists()  # skipped, not failed
    assert background_sync(alice).returncode == 0  # the lock free: it syncs
    assert remote_note(team.remote, sha) is not None


def test_a_remote_that_never_answers_fails_the_sync_in_time(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alice, pid_file = team.alice.repo, tmp_path / "remote.pid"
    team.alice.work(100, "alice 1")
    stalled = tmp_path / "stalled-remote"
    stalled.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    stalled.chmod(0o755)
    git(alice, "config", "protocol.ext.allow", "always")
    git(alice, "remote", "set-url", "origin", f"ext::{stalled}")
    monkeypatch.setattr(sync, "REMOTE_WAIT", 1.0)
    began = time.monotonic()
    with pytest.raises(TokentagError, match=r"git ls-remote failed: .*did not complete"):
        sync_in_process(alice)
    assert time.monotonic() - began < 15  # a bound on a hang: git is killed after 1 s
    deadline = time.monotonic() + 5  # killed with git; the kill's delivery may lag
    while running(remote := int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(remote)


def test_missing_identity_is_one_line(team: Team) -> None:
    team.alice.work(100, "alice 1")
    tokentag("sync", cwd=team.alice.repo)
    bob = team.bob.repo
    team.bob.work(100, "bob 1")
    git(bob, "config", "--unset", "user.name")
    git(bob, "config", "--unset", "user.email")
    git(bob, "config", "user.useConfigOnly", "true")
    before = git(bob, "rev-parse", NOTES)
    result = tokentag("sync", cwd=bob, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tokentag: no git identity") and result.stderr.count("\n") == 1
    assert git(bob, "rev-parse", NOTES) == before


def test_refspecs_and_other_notes_refs_untouched(team: Team) -> None:
    alice = team.alice.repo
    sha = team.alice.work(100, "alice 1")
    git(alice, "notes", "add", "-m", "my own note", sha)  # refs/notes/commits
    config = git(alice, "config", "--local", "--list")
    own = git(alice, "rev-parse", "refs/notes/commits")
    tokentag("sync", cwd=alice)
    assert git(alice, "config", "--local", "--list") == config
    assert git(alice, "rev-parse", "refs/notes/commits") == own
    refs = git(alice, "for-each-ref", "--format=%(refname)", "refs/notes").split()
    assert refs == ["refs/notes/commits", NOTES, "refs/notes/tokentag-remote/origin"]
    remote_refs = git(team.remote, "for-each-ref", "--format=%(refname)", "refs/notes").split()
    assert remote_refs == [NOTES]
    assert not (alice / ".git" / "FETCH_HEAD").exists() or "notes" not in (
        alice / ".git" / "FETCH_HEAD").read_text()


def test_sync_errors_are_one_line(team: Team, tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    git(alone, "init", "-q")
    result = tokentag("sync", cwd=alone, check=False)
    assert (result.returncode, result.stderr) == (
        1, "tokentag: this repository has no remote to sync the notes with\n")
    result = tokentag("sync", "nowhere", cwd=team.alice.repo, check=False)
    assert (result.returncode, result.stderr) == (
        1, "tokentag: no remote named 'nowhere' (see `git remote -v`)\n")


def test_notes_never_contain_transcript_text(team: Team) -> None:
    shas = [team.alice.work(300, "alice 1"), team.bob.work(400, "bob 1")]
    tokentag("sync", cwd=team.alice.repo)
    tokentag("sync", cwd=team.bob.repo)
    fresh = team.fresh_clone()
    texts = [git(fresh, "notes", "--ref", NOTES, "show", sha) for sha in shas]
    models: set[str] = set()
    strings: set[str] = set()
    for writer in (team.alice.writer, team.bob.writer):
        for line in writer.path.read_bytes().splitlines():
            entry = json.loads(line)
            model = (entry.get("message") or {}).get("model") if isinstance(
                entry.get("message"), dict) else None
            if isinstance(model, str):
                models.add(model)
            strings.update(_strings(entry))
    allowed_keys = {"tokentag", "requests", "sessions", "session_ids", "inferred_requests",
                    "models", "groups"}
    session_ids = {team.alice.writer.session_id, team.bob.writer.session_id}
    for text in texts:
        note = json.loads(text)
        assert set(note) == allowed_keys
        assert set(note["models"]) <= models
        assert set(note["session_ids"]) <= session_ids
        for value in _strings(note):  # model names, days, session ids and evidence only
            assert value in models | session_ids | set(EVIDENCE_KINDS) or (
                len(value) == 10 and value[4] == "-"), value
        leaked = [s for s in strings - models - session_ids if len(s) >= 12 and s in text]
        assert not leaked, leaked[:3]


def _strings(value: Any) -> list[str]:
    """Every string value in a JSON document (not the keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
