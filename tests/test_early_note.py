"""A commit's note, its git started while the post-commit hook works out the body
(tokentag/notes/early.py): written under the notes lock all the same, by that git; never
started for a commit with nothing to take; and never written, nor a note there removed,
when the hook fails or dies first."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git
from tests.test_hook_hardening import log_of
from tokentag.attribution import attribute, git_hook
from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.notes import NOTES_REF, content, early, publish
from tokentag.notes.early import StartedNote

ROOT = Path(__file__).resolve().parents[1]


def no_hooks_commit(repo: Path, message: str) -> str:
    """A commit made without the installed hooks: the test runs the post-commit itself."""
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def installed(installed_repo: Path) -> Path:
    no_hooks_commit(installed_repo, "root")
    return installed_repo


def with_pending(repo: Path) -> str:
    """A request captured by the Claude hook, then a commit (without hooks) to take it."""
    session = Session(repo)
    session.add()
    session.hook()
    return no_hooks_commit(repo, "takes it")


def worktree_of(repo: Path) -> Worktree:
    found = find_worktree(repo)
    assert found is not None
    return found


def notes(repo: Path) -> dict[str, dict[str, Any]]:
    listed = git(repo, "notes", "--ref", NOTES_REF, "list").split()
    return {commit: json.loads(git(repo, "notes", "--ref", NOTES_REF, "show", commit))
            for commit in listed[1::2]}


def notes_tip(repo: Path) -> str:
    """The notes ref's commit, "" when there is none."""
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", NOTES_REF],
                          capture_output=True, text=True, check=False).stdout.strip()


def leftovers(repo: Path) -> list[str]:
    """What a git run leaves in the tokentag dir when its files are not cleaned up."""
    return sorted(p.name for p in (repo / ".git" / "tokentag").glob("git-*"))


def gone(pid: int) -> bool:
    """Ended and reaped (by us, or by whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_commit_s_note_is_written_by_its_started_git_under_the_notes_lock(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = with_pending(installed)
    pids: list[int] = []
    write = StartedNote.write

    def write_checked(self: StartedNote, text: str) -> bool:
        pids.append(self._git._pid or 0)
        lock = installed / ".git" / "tokentag" / publish.NOTES_LOCK
        with open(lock, "a") as other, pytest.raises(BlockingIOError):  # publish holds it
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return write(self, text)

    def refused(*args: object) -> None:
        raise TokentagError("only the started git may write this note")

    monkeypatch.setattr(StartedNote, "write", write_checked)
    monkeypatch.setattr(content, "write_note", refused)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes(installed)[head]["requests"] == 1 and pids and gone(pids[0])
    assert log_of(installed) == "" and leftovers(installed) == []


def test_a_commit_with_nothing_to_take_starts_no_git(installed: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Most commits a person makes by hand: they pay nothing for it."""
    no_hooks_commit(installed, "takes nothing: nothing is pending")
    before = notes_tip(installed)

    def no_start(*args: object) -> None:
        raise AssertionError("a git was started for a commit that takes no note")

    monkeypatch.setattr(early, "StartedNote", no_start)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes_tip(installed) == before and log_of(installed) == ""


def test_a_note_whose_git_cannot_start_early_is_written_the_usual_way(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = with_pending(installed)

    def no_spawn(*args: object) -> None:
        raise OSError("out of processes")

    monkeypatch.setattr(gitcmd, "Fed", no_spawn)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes(installed)[head]["requests"] == 1 and log_of(installed) == ""


def test_a_hook_that_fails_after_starting_its_note_stops_its_git_and_logs_why(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_pending(installed)
    before = notes_tip(installed)
    pids: list[int] = []
    start = early.started

    def remembered(*args: Any) -> StartedNote | None:
        found = start(*args)
        pids.append(found._git._pid or 0 if found else 0)
        return found

    def failing(*args: object) -> None:
        raise OSError("the disk is full")

    monkeypatch.setattr(early, "started", remembered)
    monkeypatch.setattr(attribute, "_take", failing)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert pids and pids[0] and gone(pids[0])
    assert notes_tip(installed) == before and "the disk is full" in log_of(installed)
    assert leftovers(installed) == []


def test_the_started_git_reads_the_notes_ref_only_once_it_has_its_body(installed: Path) -> None:
    """What lets it start before the notes lock is taken: a note another writer adds
    meanwhile is kept."""
    first = no_hooks_commit(installed, "first")
    second = no_hooks_commit(installed, "second")
    started = StartedNote(worktree_of(installed), second)
    time.sleep(0.2)  # git has started and waits for its input
    content.write_note(installed, first, {"by": "another writer"})
    assert started.write(content.note_text({"by": "the started git"}))
    started.abandon()  # after a write: only cleans up
    assert notes(installed) == {first: {"by": "another writer"},
                                second: {"by": "the started git"}}
    assert leftovers(installed) == []


def test_a_note_there_already_is_overwritten_the_usual_way(installed: Path) -> None:
    """The started git does not overwrite (see the next test); publish then writes as it
    always has."""
    head = no_hooks_commit(installed, "noted before its post-commit ran")
    content.write_note(installed, head, {"old": True})
    worktree = worktree_of(installed)
    started = StartedNote(worktree, head)
    try:
        assert publish._put(worktree, head, {"new": True}, started) is None
    finally:
        started.abandon()
    assert notes(installed)[head] == {"new": True}


def test_a_body_larger_than_a_pipe_holds_is_written_the_usual_way(installed: Path) -> None:
    head = no_hooks_commit(installed, "a large note")
    worktree = worktree_of(installed)
    started = StartedNote(worktree, head)
    pid = started._git._pid or 0
    large = {"groups": ["x" * 1000] * 100}
    assert not started.write(content.note_text(large))  # declined: its git is stopped
    assert gone(pid)
    assert publish._put(worktree, head, large, started=None) is None
    assert notes(installed)[head] == large and leftovers(installed) == []


@pytest.mark.parametrize("noted", [False, True])
def test_a_hook_killed_before_the_body_leaves_a_git_that_writes_nothing(
        installed: Path, noted: bool) -> None:
    """Its git reads an empty input then: with no note on the commit there is nothing to
    remove; with one (a same-second amend), it refuses rather than remove it unlocked."""
    head = no_hooks_commit(installed, "its hook dies")
    if noted:
        content.write_note(installed, head, {"kept": True})
    before = notes_tip(installed)
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from tokentag.git.gitdirs import find_worktree\n"
            "from tokentag.notes.early import StartedNote\n"
            f"started = StartedNote(find_worktree(os.getcwd()), {head!r})\n"
            "print(started._git._pid, flush=True)\n"
            "os.kill(os.getpid(), 9)")
    died = subprocess.run([sys.executable, "-S", "-c", code], cwd=installed,
                          capture_output=True, text=True, check=False)
    assert died.returncode == -9
    orphan = int(died.stdout)
    deadline = time.monotonic() + 10
    while not gone(orphan) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(orphan)
    assert notes_tip(installed) == before
    assert notes(installed).get(head) == ({"kept": True} if noted else None)


def test_a_fed_git_gets_all_its_input_and_says_why_it_failed(installed: Path) -> None:
    scratch = installed / ".git" / "tokentag"
    large = "x" * (2 << 20)  # more than a pipe holds: written while git reads
    gitcmd.Fed(installed, scratch, "hash-object", "--stdin", "-w").finish(large.encode())
    blob = git(installed, "hash-object", "--stdin", stdin=large)
    assert git(installed, "cat-file", "-s", blob) == str(len(large))
    unknown = gitcmd.Fed(installed, scratch, "notes", "--ref", NOTES_REF, "add", "-F", "-",
                         "no-such-commit")
    with pytest.raises(TokentagError, match=r"git notes failed: .*no-such-commit"):
        unknown.finish(b"{}")
    unread = gitcmd.Fed(installed, scratch, "no-such-command")  # ends without reading
    with pytest.raises(TokentagError, match=r"git no-such-command failed: .*not a git command"):
        unread.finish(large.encode())
    assert leftovers(installed) == []
