"""The post-commit hook's note, its git started before the hook's imports and work
(tokentag/notes/early.py): written under the notes lock all the same, by that git, and
never written when the commit takes no note or the hook fails or dies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tokentag.attribution import attribute, git_hook
from tokentag.core.errors import TokentagError
from tokentag.core.faillog import LOG_NAME
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.notes import NOTES_REF, content
from tokentag.notes.early import StartedNote

ROOT = Path(__file__).resolve().parents[1]


def no_hooks_commit(repo: Path, message: str) -> str:
    """A commit made without the installed hooks: the test runs the post-commit itself."""
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def installed(repo: Path) -> Path:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    return repo


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


def no_child_left() -> bool:
    """Every process the code under test started has been reaped by it."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_commit_s_note_is_written_by_the_git_started_before_its_work(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(installed)
    session.add()
    session.hook()
    head = no_hooks_commit(installed, "takes them")

    def refused(*args: object) -> None:
        raise TokentagError("only the started git may write this note")

    monkeypatch.setattr(content, "write_note", refused)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes(installed)[head]["requests"] == 1
    assert not (installed / ".git" / "tokentag" / LOG_NAME).exists()
    assert leftovers(installed) == [] and no_child_left()


def test_a_note_whose_git_cannot_start_early_is_written_the_usual_way(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(installed)
    session.add()
    session.hook()
    head = no_hooks_commit(installed, "takes them")

    def no_spawn(*args: object) -> None:
        raise OSError("out of processes")

    monkeypatch.setattr(gitcmd, "Fed", no_spawn)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes(installed)[head]["requests"] == 1
    assert not (installed / ".git" / "tokentag" / LOG_NAME).exists()


def test_the_started_git_reads_the_notes_ref_only_once_it_has_its_body(installed: Path) -> None:
    """What lets it start before the notes lock is taken: a note another writer adds
    meanwhile is kept."""
    first = no_hooks_commit(installed, "first")
    second = no_hooks_commit(installed, "second")
    started = StartedNote(worktree_of(installed))
    assert started.commit == second
    time.sleep(0.2)  # git has started and waits for its input
    content.write_note(installed, first, {"by": "another writer"})
    started.write(content.note_text({"by": "the started git"}))
    started.abandon()  # after a write: only cleans up
    assert notes(installed) == {first: {"by": "another writer"},
                                second: {"by": "the started git"}}
    assert leftovers(installed) == [] and no_child_left()


def test_a_commit_that_takes_no_note_stops_its_git_unwritten(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_hooks_commit(installed, "takes nothing: nothing is pending")
    before = notes_tip(installed)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes_tip(installed) == before
    assert leftovers(installed) == [] and no_child_left()


def test_a_hook_that_fails_after_starting_its_note_writes_none_and_logs_why(
        installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session(installed)
    session.add()
    session.hook()
    no_hooks_commit(installed, "would take them")
    before = notes_tip(installed)

    def failing(*args: object) -> None:
        raise OSError("the disk is full")

    monkeypatch.setattr(attribute, "on_post_commit", failing)
    monkeypatch.chdir(installed)
    assert git_hook.run(["post-commit"]) == 0
    assert notes_tip(installed) == before
    assert "the disk is full" in (installed / ".git" / "tokentag" / LOG_NAME).read_text()
    assert leftovers(installed) == [] and no_child_left()


def test_a_hook_killed_before_the_body_leaves_a_git_that_writes_nothing(
        installed: Path) -> None:
    """Its git then reads an empty input: for a commit without a note, as one just made is,
    git removes nothing and writes no notes commit."""
    no_hooks_commit(installed, "its hook dies")
    before = notes_tip(installed)
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from tokentag.git.gitdirs import find_worktree\n"
            "from tokentag.notes.early import StartedNote\n"
            "started = StartedNote(find_worktree(os.getcwd()))\n"
            "print(started._git._pid, flush=True)\n"
            "os.kill(os.getpid(), 9)")
    died = subprocess.run([sys.executable, "-S", "-c", code], cwd=installed,
                          capture_output=True, text=True, check=False)
    assert died.returncode == -9
    orphan = int(died.stdout)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{orphan}") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{orphan}")
    assert notes_tip(installed) == before


def test_a_fed_git_gets_all_its_input_and_says_why_it_failed(installed: Path) -> None:
    scratch = installed / ".git" / "tokentag"
    large = "x" * (2 << 20)  # more than a pipe holds: written while git reads
    fed = gitcmd.Fed(installed, scratch, "hash-object", "--stdin", "-w")
    fed.finish(large.encode())
    blob = git(installed, "hash-object", "--stdin", stdin=large)
    assert git(installed, "cat-file", "-s", blob) == str(len(large))
    failing = gitcmd.Fed(installed, scratch, "notes", "--ref", NOTES_REF, "add", "-f", "-F",
                         "-", "no-such-commit")
    with pytest.raises(TokentagError, match=r"git notes failed: .*no-such-commit"):
        failing.finish(b"{}")
    assert leftovers(installed) == [] and no_child_left()
