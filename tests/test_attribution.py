"""Attribution through the installed hooks: real repositories, real commits, real sessions."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git, tokentag
from tests.corpora import Corpus
from tests.session_writer import SessionWriter, requests_in, totals


def install(repo: Path) -> None:
    tokentag("install", cwd=repo)


def commit(repo: Path, message: str, name: str = "file.txt") -> str:
    path = repo / name
    path.write_text(path.read_text() + message + "\n" if path.exists() else message + "\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


class Expected:
    """Applies the attribution rule independently: at each commit, the requests whose first
    complete line is in the worktree's transcripts and not yet given to an earlier commit."""

    def __init__(self) -> None:
        self.assigned: set[str] = set()
        self.by_commit: dict[str, set[str]] = {}
        self.requests: dict[str, dict[str, int]] = {}

    def commit(self, sha: str, *writers: SessionWriter) -> None:
        for writer in writers:
            self.requests.update(requests_in(writer.path.read_bytes()))
        keys = {k for w in writers for k in requests_in(w.path.read_bytes())} - self.assigned
        self.assigned |= keys
        self.by_commit.setdefault(sha, set()).update(keys)

    def finish(self, *writers: SessionWriter) -> None:
        """Later lines can raise a request's counts; the request stays where it was."""
        for writer in writers:
            self.requests.update(requests_in(writer.path.read_bytes()))

    def totals(self, sha: str) -> dict[str, int]:
        return totals(self.requests, self.by_commit[sha])


def by_commit(repo: Path) -> dict[str, dict[str, int]]:
    data = json.loads(tokentag("report", "--by", "commit", "--json", cwd=repo).stdout)
    return {row["key"]: row["tokens"] for row in data["rows"]}


def test_commits_take_what_was_spent_before_them(corpus: Corpus, installed_repo: Path) -> None:
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    writer.write(40)
    writer.hook("SessionStart")
    first = commit(repo, "initial commit")  # the root commit
    expected.commit(first, writer)
    writer.write(200, torn_tail=True)  # no hook: the agent commits mid-turn
    second = commit(repo, "second")
    expected.commit(second, writer)
    writer.write(300)
    writer.hook()
    git(repo, "checkout", "-q", "--detach")
    third = commit(repo, "on a detached HEAD")
    expected.commit(third, writer)
    writer.write(10_000)
    writer.hook("Stop")
    expected.finish(writer)
    found = by_commit(repo)
    for sha in (first, second, third):
        assert found[sha] == expected.totals(sha)
    pending = set(requests_in(writer.path.read_bytes())) - expected.assigned
    assert pending, "the last requests were never committed"
    assert found["(pending)"] == totals(expected.requests, pending)


def test_a_transcript_written_just_after_the_last_look_is_still_found(
        corpus: Corpus, installed_repo: Path) -> None:
    """A session whose hooks never ran: its file's mtime comes from the kernel's coarse
    clock, which may put a write made right after a commit's look a few ms before it."""
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    writer.write(50)
    state = sqlite3.connect(repo / ".git" / "tokentag" / "state.sqlite")
    looked = int(state.execute("SELECT value FROM stamps WHERE name='last_flush_ns'"
                               ).fetchone()[0])
    state.close()
    os.utime(writer.path, ns=(looked - 5_000_000, looked - 5_000_000))
    sha = commit(repo, "one")
    expected.commit(sha, writer)
    assert by_commit(repo)[sha] == expected.totals(sha)


def test_show_and_note_agree_with_ledger(corpus: Corpus, installed_repo: Path) -> None:
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    writer.write(120)
    sha = commit(repo, "one")
    expected.commit(sha, writer)
    shown = json.loads(tokentag("show", sha, "--json", cwd=repo).stdout)
    assert shown["tokens"] == expected.totals(sha)
    assert shown["source"] == "ledger"
    note = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", sha))
    assert note["requests"] == len(expected.by_commit[sha])
    assert sum(m["output"] for m in note["models"].values()) == expected.totals(sha)["output"]


def test_amend_moves_tokens_and_takes_pending(corpus: Corpus, installed_repo: Path) -> None:
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    commit(repo, "base")
    writer.write(150)
    original = commit(repo, "work")
    expected.commit(original, writer)
    writer.write(150)
    (repo / "file.txt").write_text("amended\n")
    git(repo, "commit", "-q", "-a", "--amend", "-m", "work, amended")
    amended = git(repo, "rev-parse", "HEAD")
    expected.commit(amended, writer)
    found = by_commit(repo)
    assert original not in found
    keys = expected.by_commit[original] | expected.by_commit[amended]
    assert found[amended] == totals(expected.requests, keys)
    shown = json.loads(tokentag("show", amended, "--json", cwd=repo).stdout)
    assert shown["tokens"] == totals(expected.requests, keys)


def test_interactive_rebase_squash_sums_commits(corpus: Corpus, installed_repo: Path) -> None:
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    base = commit(repo, "base")
    shas = []
    for step in range(3):
        writer.write(120)
        shas.append(commit(repo, f"step {step}", name=f"f{step}.txt"))
        expected.commit(shas[-1], writer)
    editor = "sed -i '2s/^pick/squash/'"  # fold step 1 into step 0
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": editor, "GIT_EDITOR": "true"}
    subprocess.run(["git", "rebase", "-q", "-i", base], cwd=repo, env=env, check=True,
                   capture_output=True)
    new = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    assert len(new) == 2
    found = by_commit(repo)
    folded = expected.by_commit[shas[0]] | expected.by_commit[shas[1]]
    assert found[new[0]] == totals(expected.requests, folded)
    assert found[new[1]] == expected.totals(shas[2])
    assert not set(shas) & set(found)
    note = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", new[0]))
    assert note["requests"] == len(folded)  # rewritten, not git's concatenation


def test_worktrees_attribute_separately(corpus: Corpus,
                                        installed_repo: Path, tmp_path: Path) -> None:
    repo = installed_repo
    commit(repo, "base")
    other = tmp_path / "other-worktree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    main_writer = SessionWriter(repo, corpus)
    side_writer = SessionWriter(other, corpus, session_id="11111111-2222-3333-4444-555555555555")
    expected_main, expected_side = Expected(), Expected()
    main_writer.write(100)
    side_writer.write(200)
    main_writer.hook()
    side_writer.hook()
    side_commit = commit(other, "feature work")
    expected_side.commit(side_commit, side_writer)
    main_writer.write(50)
    main_commit = commit(repo, "main work")
    expected_main.commit(main_commit, main_writer)
    found = by_commit(repo)
    assert found[side_commit] == expected_side.totals(side_commit)
    assert found[main_commit] == expected_main.totals(main_commit)


def test_merge_commit_and_cherry_pick(corpus: Corpus, installed_repo: Path) -> None:
    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "topic")
    writer.write(80)
    topic = commit(repo, "topic work", name="topic.txt")
    expected.commit(topic, writer)
    git(repo, "checkout", "-q", "main")
    writer.write(80)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    merge = git(repo, "rev-parse", "HEAD")
    expected.commit(merge, writer)
    git(repo, "checkout", "-q", "-b", "release", "HEAD~1")
    writer.write(80)
    git(repo, "cherry-pick", topic)
    pick = git(repo, "rev-parse", "HEAD")
    expected.commit(pick, writer)
    found = by_commit(repo)
    assert found[merge] == expected.totals(merge)
    assert found[topic] == expected.totals(topic)  # the original keeps its tokens
    assert found[pick] == expected.totals(pick)


def test_submodule_session_attributes_to_submodule(corpus: Corpus,
                                                   repo: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    git(library, "init", "-q")
    commit(library, "library base")
    commit(repo, "super base")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    git(repo, "commit", "-q", "-m", "add lib")
    sub = repo / "lib"
    install(repo)
    install(sub)
    writer, expected = SessionWriter(sub, corpus), Expected()
    writer.write(100)
    writer.hook()
    sub_commit = commit(sub, "library change", name="lib.txt")
    expected.commit(sub_commit, writer)
    assert by_commit(sub)[sub_commit] == expected.totals(sub_commit)
    assert sub_commit not in by_commit(repo)


def test_failure_in_git_hook_is_logged_and_commit_succeeds(corpus: Corpus,
                                                           installed_repo: Path) -> None:
    repo = installed_repo
    writer = SessionWriter(repo, corpus)
    writer.write(50)
    tokentag_dir = repo / ".git" / "tokentag"
    (tokentag_dir / "index.sqlite").unlink()
    (tokentag_dir / "index.sqlite").mkdir()  # the index cannot be opened
    sha = commit(repo, "still commits")
    assert sha
    log = (tokentag_dir / "tokentag.log").read_text()
    assert "git-hook post-commit" in log


def test_foreign_hook_still_runs_and_uninstall_restores(corpus: Corpus,
                                                        repo: Path, tmp_path: Path) -> None:
    hooks = repo / ".git" / "hooks"
    marker = tmp_path / "foreign-ran"
    foreign = f"#!/bin/sh\necho ran >> '{marker}'\nexit 3\n"
    (hooks / "post-commit").write_text(foreign)
    (hooks / "post-commit").chmod(0o755)
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}
    install(repo)
    writer = SessionWriter(repo, corpus)
    writer.write(60)
    sha = commit(repo, "with a foreign hook")
    assert marker.read_text() == "ran\n"
    assert by_commit(repo)[sha]["total"] > 0
    result = subprocess.run(["sh", str(hooks / "post-commit")], cwd=repo, capture_output=True,
                            check=False)
    assert result.returncode == 3  # the foreign hook's exit code is the hook's
    tokentag("uninstall", cwd=repo)
    after = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}
    assert after == before


@pytest.mark.parametrize("event", ["Stop", "SessionEnd"])
def test_requests_never_followed_by_a_commit_stay_pending(corpus: Corpus,
                                                          installed_repo: Path, event: str) -> None:
    repo = installed_repo
    writer = SessionWriter(repo, corpus)
    writer.write(90)
    writer.hook(event)
    found = by_commit(repo)
    assert list(found) == ["(pending)"]
    assert found["(pending)"] == totals(requests_in(writer.path.read_bytes()),
                                        set(requests_in(writer.path.read_bytes())))


def test_pruned_transcripts_keep_their_tokens_and_drop_their_cursor(corpus: Corpus,
                                                                    installed_repo: Path) -> None:
    """Claude Code deletes transcripts after 30 days: the ledger keeps what they held, and
    commits stop looking at them."""
    import sqlite3

    repo = installed_repo
    writer, expected = SessionWriter(repo, corpus), Expected()
    writer.write(100)
    writer.hook()
    first = commit(repo, "first")
    expected.commit(first, writer)
    writer.path.unlink()  # with its folder of subagents
    shutil.rmtree(writer.path.with_suffix(""))
    second = commit(repo, "after the transcript was pruned")
    found = by_commit(repo)
    assert found[first] == expected.totals(first)
    assert second not in found
    index = sqlite3.connect(repo / ".git" / "tokentag" / "index.sqlite")
    index.execute("ATTACH DATABASE ? AS state", (str(repo / ".git" / "tokentag" / "state.sqlite"),))
    cursors = [row[0] for row in index.execute("SELECT path FROM state.cursors")]
    gone = [row[0] for row in index.execute("SELECT session_id FROM sessions WHERE gone = 1")]
    index.close()
    assert str(writer.path) not in cursors
    assert gone == [writer.session_id]  # later commits skip it without a look
    assert not (repo / ".git" / "tokentag" / "tokentag.log").exists()


def test_a_count_raised_after_the_commit_updates_its_note(corpus: Corpus,
                                                          installed_repo: Path) -> None:
    """Commit while a request's output is still a streaming placeholder; its final line
    arrives later. The ledger and the commit's note both end with the final count."""
    repo = installed_repo
    writer = SessionWriter(repo, corpus)
    final = requests_in(b"".join(writer.lines))
    cut = next(n for n in range(1, len(writer.lines))
               if any(usage["output"] < final[key]["output"]
                      for key, usage in requests_in(b"".join(writer.lines[:n])).items()))
    writer.write(cut)
    sha = commit(repo, "mid-request")
    taken = set(requests_in(writer.path.read_bytes()))
    writer.write(10_000)
    writer.hook("Stop")
    expected = totals(final, taken)
    assert by_commit(repo)[sha] == expected
    note = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", sha))
    assert sum(m["output"] for m in note["models"].values()) == expected["output"]


def test_a_note_that_cannot_be_written_is_written_by_the_next_commit(
        corpus: Corpus, installed_repo: Path) -> None:
    """A stale notes ref lock (a killed git left it) fails one commit's note: the commit
    still takes what is pending, the failure is logged, and the next commit writes the
    note it missed."""
    repo = installed_repo
    writer = SessionWriter(repo, corpus)
    commit(repo, "initial commit")
    writer.write(300)
    writer.hook("Stop")
    lock = repo / ".git" / "refs" / "notes" / "tokentag.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("left by a killed git\n")
    missed = commit(repo, "its note cannot be written")
    assert missed in by_commit(repo)  # the ledger has it
    assert subprocess.run(["git", "-C", str(repo), "notes", "--ref", "refs/notes/tokentag",
                           "show", missed], capture_output=True).returncode != 0
    assert f"note of {missed[:12]}" in (repo / ".git" / "tokentag" / "tokentag.log").read_text()
    lock.unlink()
    writer.write(100)
    writer.hook("Stop")
    commit(repo, "the next one")
    noted = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", missed))
    assert noted["requests"] > 0
    shown = json.loads(tokentag("show", missed, "--json", cwd=repo).stdout)
    assert shown["tokens"] == by_commit(repo)[missed]
