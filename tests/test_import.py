"""`tokentag import`: each corpus of transcripts, real repositories and commits, real
subprocesses.

A corpus is copied into the temporary Claude config dir at test time; its sessions ran in
a checkout on master, a linked worktree and other projects (tests/corpora.py), which
`--path-map` points at temporary repositories.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import replay
from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.corpora import Corpus
from tests.session_writer import FIELDS, SessionWriter, requests_in, totals
from tokentag.attribution.history import History
from tokentag.capture import transcript
from tokentag.capture.catch_up import request_record
from tokentag.core.errors import TokentagError
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.git.gitdirs import find_worktree, refs_fingerprint
from tokentag.importer import inference, reader, run, writer
from tokentag.importer.discovery import Job, repository_tops
from tokentag.importer.inference import Inference
from tokentag.importer.options import Options, PathMap
from tokentag.ledger import jsonl
from tokentag.ledger.records import (
    REQUEST_FIELDS,
    SCHEMA_VERSION,
    request_from_row,
    request_line,
)
from tokentag.notes import bulk, content


@pytest.fixture
def config(corpus: Corpus) -> Path:
    """The corpus as this test's Claude config dir (writable copies)."""
    target = Path(os.environ["CLAUDE_CONFIG_DIR"])
    shutil.copytree(corpus.root / "claude", target, dirs_exist_ok=True)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def run_import(repo: Path, *args: str) -> dict[str, int]:
    result = tokentag("import", "--json", *args, cwd=repo)
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    summary: dict[str, int] = json.loads(result.stdout)
    return summary


def maps(*pairs: tuple[str, Path]) -> list[str]:
    return [arg for old, new in pairs for arg in ("--path-map", f"{old}={new}")]


def report(repo: Path, by: str) -> dict[str, dict[str, int]]:
    data = json.loads(tokentag("report", "--by", by, "--json", cwd=repo).stdout)
    return {row["key"]: row["tokens"] for row in data["rows"]}


def all_into(corpus: Corpus, repo: Path, linked: Path | None = None) -> list[str]:
    """Path maps of every project: the checkout on master to `repo`, the linked worktree's
    to `linked` (or a dir in `repo`), any other into `repo`."""
    def target(project: str, cwd: str) -> Path:
        if project == corpus.main:
            return repo
        if project == corpus.worktree:
            return linked or repo / "dov"
        return repo / Path(cwd).name.lower()

    return maps(*((cwd, target(project, cwd)) for project, cwd in corpus.cwds.items()))


def main_into(corpus: Corpus, repo: Path) -> list[str]:
    """The path map of the checkout on master's sessions alone."""
    return maps((corpus.cwds[corpus.main], repo))


# -- totals and exactly once ----------------------------------------------------------


def test_import_gives_expected_totals_and_a_second_adds_nothing(corpus: Corpus, repo: Path,
                                                                 config: Path) -> None:
    first = run_import(repo, *all_into(corpus, repo))
    assert report(repo, "session") == replay.expected_sessions(corpus)
    assert first["files"] == first["files_read"] == corpus.files  # subagent files included
    assert first["new"] == first["requests"] == corpus.requests
    assert first["skipped_lines"] == first["other_repository"] == 0
    second = run_import(repo, *all_into(corpus, repo))
    assert second["files_read"] == second["new"] == second["requests"] == 0
    assert report(repo, "session") == replay.expected_sessions(corpus)


def test_copies_in_a_second_config_dir_are_known(corpus: Corpus, repo: Path, config: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A colon-separated CLAUDE_CONFIG_DIR; the same requests at other paths count once."""
    run_import(repo, *all_into(corpus, repo))
    copy = tmp_path / "copy"
    shutil.copytree(config, copy)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{config}{os.pathsep}{copy}")
    again = run_import(repo, *all_into(corpus, repo))
    assert again["files_read"] == corpus.files and again["requests"] == corpus.requests
    assert again["new"] == 0 and again["known"] == corpus.requests
    assert report(repo, "session") == replay.expected_sessions(corpus)


def test_import_after_live_capture_adds_nothing(corpus: Corpus, tmp_path: Path) -> None:
    sessions = replay.all_sessions(corpus, tmp_path, Path(os.environ["CLAUDE_CONFIG_DIR"]))
    for session in sessions:
        replay.replay_in_chunks(session, chunks=3)
    for repo in {s.repo for s in sessions}:
        summary = run_import(repo)
        assert summary["new"] == summary["corrected"] == 0
    found = {k: v for r in {s.repo for s in sessions} for k, v in replay.session_totals(r).items()}
    assert found == replay.expected_sessions(corpus)


def test_hooks_rereading_imported_sessions_count_once(corpus: Corpus, tmp_path: Path) -> None:
    """Import first; then Claude Code rewrites the files as hooks fire; then import again."""
    sessions = replay.all_sessions(corpus, tmp_path, Path(os.environ["CLAUDE_CONFIG_DIR"]))
    for session in sessions:
        replay.write_whole(session)
    repos = {s.repo for s in sessions}
    assert sum(run_import(r)["new"] for r in repos) == corpus.requests
    for session in sessions:
        replay.replay_in_chunks(session, chunks=3)  # truncates, regrows: hooks read it all
    assert sum(run_import(r)["new"] for r in repos) == 0
    found = {k: v for r in repos for k, v in replay.session_totals(r).items()}
    assert found == replay.expected_sessions(corpus)


def test_since_until_then_everything(corpus: Corpus, repo: Path, config: Path) -> None:
    expected = replay.expected_sessions(corpus)
    worktree_files = sorted((config / "projects" / corpus.worktree).rglob("*.jsonl"))
    late_keys = set().union(*(requests_in(path.read_bytes()) for path in worktree_files))
    early = run_import(repo, "--until", "2026-02-11", *all_into(corpus, repo))
    sessions = report(repo, "session")
    assert corpus.big not in sessions  # 2026-02-12
    assert sessions[corpus.routed] == expected[corpus.routed]  # its progress copies in
    assert early["progress_copies"] == corpus.progress_copies  # its subagent's file is gone
    assert early["new"] == corpus.requests - len(late_keys)
    assert early["out_of_range"] == len(late_keys)
    late = run_import(repo, "--since", "2026-02-12T00:00:00Z", *all_into(corpus, repo))
    # The files a range kept cursors from; the rest are done.
    assert late["files_read"] == len(worktree_files)
    assert late["new"] == len(late_keys) and late["out_of_range"] == 0
    assert run_import(repo, *all_into(corpus, repo))["files_read"] == 0
    assert report(repo, "session") == expected


def test_other_repositories_are_left_alone(corpus: Corpus, repo: Path, config: Path) -> None:
    summary = run_import(repo, "--all-projects")  # no path map: nothing ran in `repo`
    assert summary["files_read"] == corpus.files
    # Each file's requests (a resumed session's file repeats its origin's), the progress
    # copies, and each session's last running totals.
    files = [path.read_bytes() for path in (config / "projects").rglob("*.jsonl")]
    readings = sum(b'"type":"cost-state"' in content for content in files)
    assert summary["other_repository"] == sum(len(requests_in(content)) for content in files) \
        + corpus.progress_copies + readings
    assert summary["new"] == 0
    assert report(repo, "session") == {}


def test_torn_last_line_waits_for_its_end(corpus: Corpus, repo: Path) -> None:
    writer = SessionWriter(repo, corpus)
    writer.write(300, torn_tail=True)
    first = run_import(repo)
    writer.write(10_000)
    second = run_import(repo)
    expected = requests_in(writer.path.read_bytes())
    assert first["new"] + second["new"] == len(expected)
    assert second["new"] + second["corrected"] > 0
    assert report(repo, "session")[writer.session_id] == totals(expected, set(expected))


def test_replaced_file_is_read_again_without_double_counting(corpus: Corpus, repo: Path) -> None:
    writer = SessionWriter(repo, corpus)
    writer.write(400)
    run_import(repo)
    content = writer.path.read_bytes()
    writer.path.write_bytes(content[: len(content) // 3])  # shorter than its cursor
    again = run_import(repo)
    assert again["files_read"] == 1 and again["new"] == 0
    expected = requests_in(content)
    assert report(repo, "session")[writer.session_id] == totals(expected, set(expected))


def test_human_summary(corpus: Corpus, repo: Path, config: Path) -> None:
    result = tokentag("import", *all_into(corpus, repo), cwd=repo)
    count = corpus.requests
    assert f"{count:,} of this repository: {count:,} new" in result.stdout
    assert result.stderr == ""


def test_bad_path_map_is_one_line_error(repo: Path) -> None:
    result = tokentag("import", "--path-map", "no-equals-sign", cwd=repo, check=False)
    assert result.returncode != 0
    assert "OLD=NEW" in result.stderr and "Traceback" not in result.stderr


# -- worktrees and retroactive attribution ----------------------------------------------


def commit_at(worktree: Path, when: str, message: str) -> str:
    """An empty commit whose author and committer time is `when` (UTC)."""
    stamp = f"@{int(datetime.fromisoformat(when + '+00:00').timestamp())} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "-C", str(worktree), "commit", "-q", "--allow-empty", "-m", message],
                   check=True, env=env, capture_output=True)
    return git(worktree, "rev-parse", "HEAD")


def progress_only_requests(corpus: Corpus,
                           ) -> Iterator[tuple[str, dict[str, int], str, str | None]]:
    """The requests of the corpus's sessions that only progress lines echo."""
    for project in corpus.cwds:
        for main in replay.session_mains(corpus, project):
            yield from replay.progress_only_lines(corpus, project, main.stem)


def first_seen(corpus: Corpus, paths: list[Path]) -> dict[str, tuple[float, str | None]]:
    """Independently of tokentag: each request's first line's time and branch (a request
    only progress lines echo: the first of those)."""
    seen: dict[str, tuple[float, str | None]] = {}
    for key, _, stamp, branch in progress_only_requests(corpus):
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        seen.setdefault(key, (when.timestamp(), branch or None))
    for path in paths:
        for line in path.read_bytes().splitlines():
            entry = json.loads(line)
            message = entry.get("message") if entry.get("type") == "assistant" else None
            if isinstance(message, dict) and "usage" in message and \
                    message.get("model") != "<synthetic>":
                key = f"{message['id']}/{entry.get('requestId', '')}"
                when = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
                seen.setdefault(key, (when.timestamp(), entry.get("gitBranch") or None))
    return seen


def expected_by_commit(corpus: Corpus, config: Path, commits: dict[str, list[tuple[str, str]]],
                       gone_branch: str = "master") -> dict[str, set[str]]:
    """The rule: the first commit on the request's branch at or after its time; for a
    branch that does not exist (none recorded, or another clone's), on the history of its
    worktree's HEAD (`gone_branch`: all such requests here are the main worktree's)."""
    files = sorted((config / "projects").rglob("*.jsonl"))
    by_commit: dict[str, set[str]] = {}
    for key, (when, branch) in first_seen(corpus, files).items():
        on = branch if branch in commits else gone_branch
        made = sorted((datetime.fromisoformat(t + "+00:00").timestamp(), sha)
                      for t, sha in commits[on])
        later = [sha for t, sha in made if t >= when]
        by_commit.setdefault(later[0] if later else "(pending)", set()).add(key)
    return by_commit


def all_requests(corpus: Corpus, config: Path) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for key, counts, _, _ in progress_only_requests(corpus):
        known = found.setdefault(key, dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            known[name] = max(known[name], counts[name])
    for path in (config / "projects").rglob("*.jsonl"):
        for key, counts in requests_in(path.read_bytes()).items():
            known = found.setdefault(key, dict.fromkeys(FIELDS, 0))
            for name in FIELDS:
                known[name] = max(known[name], counts[name])
    return found


def test_commits_interleaved_with_imported_requests(corpus: Corpus, repo: Path, config: Path,
                                                    tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "master")
    made: dict[str, list[tuple[str, str]]] = {"master": [], corpus.branch: []}
    made["master"].append(("2026-02-10T20:00:00", commit_at(repo, "2026-02-10T20:00:00", "root")))
    git(repo, "checkout", "-q", "-b", "other")
    other = commit_at(repo, "2026-02-10T21:20:00", "another branch: takes nothing")
    git(repo, "checkout", "-q", "master")
    for when in ("2026-02-10T21:30:00", "2026-02-10T22:30:00", "2026-02-10T22:58:30"):
        made["master"].append((when, commit_at(repo, when, f"master at {when}")))
    dov = tmp_path / "dov-worktree"
    git(repo, "worktree", "add", "-q", "-b", corpus.branch, str(dov))
    for when in ("2026-02-12T17:00:00", "2026-02-12T19:00:00", "2026-02-12T20:27:00",
                 "2026-02-12T21:00:00"):
        made[corpus.branch].append((when, commit_at(dov, when, f"dov at {when}")))

    summary = run_import(repo, *all_into(corpus, repo, dov))
    expected = expected_by_commit(corpus, config, made)
    counts = all_requests(corpus, config)
    found = report(repo, "commit")
    assert set(found) == set(expected) and other not in found
    for sha, keys in expected.items():
        assert found[sha] == totals(counts, keys), sha
    assert summary["inferred"] == sum(len(k) for c, k in expected.items() if c != "(pending)")
    assert summary["inferred_commits"] == len(expected) - 1
    _check_marks_and_notes(repo, expected)
    _live_commit_takes_only_its_branch(corpus, repo, expected, counts)


def test_a_repeated_import_attributes_what_a_branch_that_moved_now_takes(
        corpus: Corpus, repo: Path, config: Path) -> None:
    """The second import has nothing new to read; only the branch moved (git alone, no
    hooks), and that must be seen, packed refs or loose."""
    git(repo, "checkout", "-q", "-b", "master")
    commit_at(repo, "2026-02-10T20:00:00", "before every request")
    args = main_into(corpus, repo)
    first = run_import(repo, *args)
    assert first["new"] > 0 and first["inferred"] == 0  # no commit after them yet
    assert run_import(repo, *args)["inferred"] == 0  # nothing moved: the same answer
    git(repo, "pack-refs", "--all")  # ref files rewritten, tips the same
    assert run_import(repo, *args)["inferred"] == 0
    later = commit_at(repo, "2026-02-11T09:00:00", "after them all")
    again = run_import(repo, *args)
    assert again["new"] == 0 and again["inferred"] == first["new"] + first["progress_copies"]
    assert set(report(repo, "commit")) == {later}


def test_an_import_never_imports_gitpython(
        corpus: Corpus, repo: Path, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its import (70-100 ms) would be most of a repeated import's time, and part of the
    writing process's time in one with work: branch tips and histories are read through
    gitcmd."""
    git(repo, "checkout", "-q", "-b", "master")
    commit_at(repo, "2026-02-10T20:00:00", "before every request")
    args = main_into(corpus, repo)
    assert run_import(repo, *args)["inferred"] == 0  # pending: no commit after them yet

    def imported_by_an_import() -> tuple[set[str], int]:
        monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
        done = tokentag("import", "--json", *args, cwd=repo)
        monkeypatch.delenv("PYTHONPROFILEIMPORTTIME")
        return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}, json.loads(done.stdout)["inferred"]

    nothing_moved, _ = imported_by_an_import()
    assert "tokentag.importer.run" in nothing_moved and "git" not in nothing_moved
    git(repo, "pack-refs", "--all")  # ref files rewritten, tips the same: git asked
    repacked, inferred = imported_by_an_import()
    assert "git" not in repacked and inferred == 0
    commit_at(repo, "2026-02-11T09:00:00", "after them all")
    with_history, inferred = imported_by_an_import()  # a history read, and requests taken
    assert "tokentag.importer.inference" in with_history and "git" not in with_history
    assert inferred > 0


def test_a_branch_that_moves_while_an_import_runs_is_seen_by_the_next(
        corpus: Corpus, repo: Path, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import read the tips before the move; what it stores must not claim the
    ref files as they are after it."""
    git(repo, "checkout", "-q", "-b", "master")
    commit_at(repo, "2026-02-10T20:00:00", "before every request")
    worktree = find_worktree(repo)
    assert worktree is not None
    made: list[str] = []
    finish = inference.finish_attribution

    def moved_meanwhile(*args: Any) -> None:
        made.append(commit_at(repo, "2026-02-11T09:00:00", "made while the import ran"))
        finish(*args)

    monkeypatch.setattr(inference, "finish_attribution", moved_meanwhile)
    first = run.run_import(worktree, Options(
        path_map=PathMap.parse([f"{corpus.cwds[corpus.main]}={repo}"])))
    assert first.new > 0 and first.inferred == 0
    monkeypatch.setattr(inference, "finish_attribution", finish)
    again = run_import(repo, *main_into(corpus, repo))
    assert again["new"] == 0 and again["inferred"] == first.new + first.progress_copies
    assert set(report(repo, "commit")) == set(made)


def test_refs_fingerprint_changes_when_and_only_when_ref_files_do(repo: Path) -> None:
    common = str(repo / ".git")
    commit_at(repo, "2026-01-01T00:00:00", "one")
    before = refs_fingerprint(common)
    assert before is not None and refs_fingerprint(common) == before
    git(repo, "branch", "feature/nested")
    with_branch = refs_fingerprint(common)
    assert with_branch != before and "feature/nested" in str(with_branch)
    git(repo, "pack-refs", "--all")
    packed = refs_fingerprint(common)
    assert packed != with_branch
    git(repo, "update-ref", "refs/heads/feature/nested", "HEAD")  # a no-op: same tip
    assert refs_fingerprint(common) == packed
    commit_at(repo, "2026-01-02T00:00:00", "two")  # master moves, written as a loose ref
    moved = refs_fingerprint(common)
    assert moved != packed
    git(repo, "update-ref", "refs/heads/feature/nested", "HEAD")  # a packed branch moves
    nested = refs_fingerprint(common)
    assert nested not in (moved, packed)
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "--detach", str(linked))
    with_worktree = refs_fingerprint(common)
    assert with_worktree != nested and "worktrees/linked/HEAD" in str(with_worktree)
    commit_at(linked, "2026-01-03T00:00:00", "detached")  # moves that worktree's HEAD only
    assert refs_fingerprint(common) != with_worktree


def test_a_commit_on_a_detached_head_takes_the_requests_of_a_branch_that_is_gone(
        repo: Path) -> None:
    """Such requests go by their worktree's HEAD (see Inference.history). A commit made
    there with HEAD detached moves no branch, yet a repeated import must not answer
    "nothing new" for it, by its quick path or the whole way."""
    commit_at(repo, "2026-01-01T00:00:00", "root")
    git(repo, "checkout", "-q", "--detach")
    Session(repo, branch="gone").add()
    Session(repo, branch="gone").add()
    assert run_import(repo)["inferred"] == 0  # no commit follows them yet
    taker = commit_at(repo, "2026-11-02T10:05:00", "takes them, detached")  # after them
    assert run.nothing_new(find_worktree(repo)) is None  # type: ignore[arg-type]
    assert run_import(repo)["inferred"] == 2
    assert json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show",
                          taker))["requests"] == 2
    assert run.nothing_new(find_worktree(repo)) is not None  # type: ignore[arg-type]


def test_a_head_that_moves_while_an_import_reads_its_history_is_seen_by_the_next(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tips (and the ref files' fingerprint stored with them) are read before any
    history, a worktree HEAD's included: a commit made after that read is the next
    import's to see."""
    commit_at(repo, "2026-01-01T00:00:00", "root")
    git(repo, "checkout", "-q", "--detach")
    Session(repo, branch="").add()  # no branch: it goes by the worktree's HEAD
    load = History.load.__func__  # type: ignore[attr-defined]
    made: list[str] = []

    def commit_after_reading(cls: type[History], *args: Any) -> History:
        read = load(cls, *args)
        if not made:
            made.append(commit_at(repo, "2026-11-02T10:05:00", "made during the import"))
        return read  # type: ignore[no-any-return]

    monkeypatch.setattr(History, "load", classmethod(commit_after_reading))
    worktree = find_worktree(repo)
    assert worktree is not None
    assert run.run_import(worktree).inferred == 0 and made
    monkeypatch.undo()
    assert run.nothing_new(worktree) is None
    assert run.run_import(worktree).inferred == 1


def test_branch_tips_name_a_branch_that_shares_its_name_with_a_tag(repo: Path) -> None:
    commit_at(repo, "2026-01-01T00:00:00", "one")
    git(repo, "branch", "x")
    git(repo, "tag", "x")
    git(repo, "branch", "feature/y")
    worktree = find_worktree(repo)
    assert worktree is not None
    head = git(repo, "rev-parse", "HEAD")
    assert inference.branch_tips(worktree) == {"main": head, "x": head, "feature/y": head}


def test_names_that_are_not_utf_8_neither_break_nor_hide_the_tips(repo: Path,
                                                                   tmp_path: Path) -> None:
    """A branch or a linked worktree whose name has a byte that is not UTF-8: the
    fingerprint is text the state file can store, and import lists the worktree."""
    commit_at(repo, "2026-01-01T00:00:00", "one")
    before = refs_fingerprint(str(repo / ".git"))
    subprocess.run([b"git", b"branch", b"b-\xe9"], cwd=repo, check=True)
    linked = os.fsencode(tmp_path) + b"/w-\xe9"
    subprocess.run([b"git", b"worktree", b"add", b"-q", b"--detach", linked], cwd=repo,
                   check=True, capture_output=True)
    after = refs_fingerprint(str(repo / ".git"))
    assert after is not None and after != before and after.encode("utf-8")
    worktree = find_worktree(repo)
    assert worktree is not None
    assert os.fsdecode(linked) in repository_tops(worktree)
    assert run_import(repo)["files"] == 0  # the whole way, stamps stored: no error


def _check_marks_and_notes(repo: Path, expected: dict[str, set[str]]) -> None:
    rows = json.loads(tokentag("log", "--all", "--json", cwd=repo).stdout)["requests"]
    marks = {row["request"]: row["attribution"] for row in rows}
    for sha, keys in expected.items():
        assert {marks[k] for k in keys} == ({None} if sha == "(pending)" else {"inferred"})
        if sha != "(pending)":
            note = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", sha))
            assert note["requests"] == note["inferred_requests"] == len(keys)
            assert note == _note_from_three_queries(repo, sha)


def _note_from_three_queries(repo: Path, commit: str) -> dict[str, Any]:
    """What content.note_for made before it folded its three queries into one."""
    db = sqlite3.connect(repo / ".git" / "tokentag" / "index.sqlite")
    db.row_factory = sqlite3.Row
    try:
        prompt = "(input + cache_creation + cache_read)"
        groups = [dict(row) for row in db.execute(
            f"SELECT model, substr(ts, 1, 10) AS day, (CASE WHEN {prompt} > 200000 THEN 2 "
            f"WHEN {prompt} > 100000 THEN 1 ELSE 0 END) AS band, 'inferred' AS evidence, "
            f"max({prompt}) AS prompt, "
            "count(*) AS requests, "
            + ", ".join(f"sum({f}) AS {f}" for f in USAGE_FIELDS)
            + " FROM requests WHERE commit_id=? GROUP BY model, day, band "
            "ORDER BY model, day, band", (commit,))]
        requests, inferred = db.execute("SELECT count(*), sum(attribution='inferred') FROM "
                                        "requests WHERE commit_id=?", (commit,)).fetchone()
        sessions = sorted(row[0] for row in db.execute(
            "SELECT DISTINCT session_id FROM requests WHERE commit_id=? AND session_id != ''",
            (commit,)))
    finally:
        db.close()
    models: dict[str, dict[str, int]] = {}
    for group in groups:
        totals = models.setdefault(group["model"], dict.fromkeys((*USAGE_FIELDS, "requests"), 0))
        for name in totals:
            totals[name] += group[name]
    return {"tokentag": SCHEMA_VERSION, "requests": requests, "sessions": len(sessions),
            "session_ids": sessions, "inferred_requests": inferred or 0, "models": models,
            "groups": groups}


def _live_commit_takes_only_its_branch(corpus: Corpus, repo: Path,
                                       expected: dict[str, set[str]],
                                       counts: dict[str, dict[str, int]]) -> None:
    """The hooks' next commit on master takes master's pending imports, and only those:
    the spotter-dov worktree's stay pending (Demo's, on no branch or one not here, went
    by the main worktree's history)."""
    tokentag("install", cwd=repo)
    (repo / "f.txt").write_text("live\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "live commit")
    live = git(repo, "rev-parse", "HEAD")
    seen = first_seen(corpus, sorted(Path(os.environ["CLAUDE_CONFIG_DIR"]).rglob("*.jsonl")))
    taken = {k for k in expected["(pending)"] if seen[k][1] == "master"}
    assert taken, "the test needs master requests after its last old commit"
    found = report(repo, "commit")
    assert found[live] == totals(counts, taken)
    assert found["(pending)"] == totals(counts, expected["(pending)"] - taken)


def test_linked_worktree_sessions_found_from_main_worktree(corpus: Corpus, repo: Path,
                                                           tmp_path: Path) -> None:
    """No path map: the project dir named after a linked worktree is found from the main one."""
    commit_at(repo, "2026-01-01T00:00:00", "base")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "spotter-dov", str(linked))
    writer = SessionWriter(linked, corpus)
    writer.write(10_000)
    summary = run_import(repo)
    expected = requests_in(writer.path.read_bytes())
    assert summary["new"] == len(expected)
    rows = json.loads(tokentag("log", "--all", "--json", cwd=repo).stdout)["requests"]
    linked_worktree = find_worktree(linked)
    assert linked_worktree is not None
    assert {row["worktree"] for row in rows} == {linked_worktree.top}
    assert summary["inferred"] == 0  # its only commit predates the session


# -- the reader itself --------------------------------------------------------------------


EDGE_LINES = [
    b'{"type":"assistant","message":{"id":"m1","model":"x","usage":{"input_tokens":true,'
    b'"output_tokens":-4,"cache_read_input_tokens":7}},"requestId":"r","isSidechain":true}',
    b'{"type":"assistant","message":{"id":"m2","model":"<synthetic>","usage":{"input_tokens":1}}}',
    b'{"type":"assistant","message":{"id":"m3","usage":{"output_tokens":2}},"cwd":"\\ud800"}',
    b'{"type":"progress","data":{"type":"assistant","message":{"id":"m4","usage":{}}}}',
    b'{"type":"assistant","message":{"id":"m5","usage":{"input_tokens":1}',
    b'{"type":"assistant","message":{"id":5,"usage":{"input_tokens":1}}}',
    b'[{"type":"assistant","message":{"id":"m6","usage":{"input_tokens":1}}}]',
    b'{"type":"assistant","message":{"id":"m7","usage":{"input_tokens":1}},"deep":'
    + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


@pytest.mark.parametrize("fast", [False, True])
def test_reader_agrees_with_parse_request(corpus: Corpus, fast: bool) -> None:
    files = sorted(corpus.projects.rglob("*.jsonl"))
    for path in files:
        reference: dict[str, transcript.Request] = {}
        agent = transcript.agent_id_of(path)
        lines = [line for line, _ in transcript.Lines(path, 0)] + EDGE_LINES
        for line in lines:
            request = transcript.parse_request(line, agent)
            if request is not None:
                known = reference.get(request.key)
                reference[request.key] = known.merged(request) if known else request
        bulk = reader.RequestReader(agent, fast)
        for line in lines:
            if transcript.USAGE_MARKER in line:
                bulk.feed(line)
        assert _requests_of(bulk) == reference, path
        assert bulk.skipped == 3  # the unterminated object, the lone surrogate, the deep one


def _requests_of(bulk: reader.RequestReader) -> dict[str, transcript.Request]:
    return {key: transcript.Request(key, *context, Usage(*bulk.counts[key]))
            for key, context in bulk.context.items()}


@pytest.mark.parametrize("fast", [False, True])
def test_reader_agrees_with_parse_request_on_a_file_name_that_is_not_unicode(
        fast: bool) -> None:
    agent = "\udcff"  # what os.scandir makes of the byte 0xff in agent-\xff.jsonl
    lines = [b'{"type":"assistant","requestId":"r","message":{"id":"m1","usage":'
             b'{"input_tokens":1}}}',
             b'{"type":"assistant","agentId":"a","requestId":"r","message":{"id":"m2",'
             b'"usage":{"input_tokens":2}}}']
    bulk = reader.RequestReader(agent, fast)
    for line in lines:
        bulk.feed(line)
    expected = {r.key: r for r in map(lambda line: transcript.parse_request(line, agent), lines)
                if r is not None}
    assert _requests_of(bulk) == expected and list(expected) == ["m2/r"]


def test_worker_processes_give_the_same_totals(corpus: Corpus, repo: Path, config: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(reader, "FAST_JSON_BYTES", 0)
    monkeypatch.setattr(writer, "BATCH_REQUESTS", 50)  # several batches, several locks
    monkeypatch.setattr(writer, "IDLE_BATCH_REQUESTS", 1)  # and more while workers read
    worktree = find_worktree(repo)
    assert worktree is not None
    options = Options(path_map=PathMap.parse(arg for arg in all_into(corpus, repo)
                                             if arg != "--path-map"))
    summary = run.run_import(worktree, options)
    assert summary.new == corpus.requests
    assert report(repo, "session") == replay.expected_sessions(corpus)
    by_commit = report(repo, "commit")
    Path(worktree.tokentag_dir, "index.sqlite").unlink()  # folded from memory: refold the ledger
    assert report(repo, "session") == replay.expected_sessions(corpus)
    assert report(repo, "commit") == by_commit


def test_worktrees_read_from_the_common_dir_match_git(repo: Path, tmp_path: Path) -> None:
    commit_at(repo, "2026-01-01T00:00:00", "base")
    for name in ("one", "two"):
        git(repo, "worktree", "add", "-q", "-b", name, str(tmp_path / name))
    listed = [line.split(" ", 1)[1] for line in
              git(repo, "worktree", "list", "--porcelain").splitlines()
              if line.startswith("worktree ")]
    for where in (repo, tmp_path / "two"):
        worktree = find_worktree(where)
        assert worktree is not None
        assert sorted(repository_tops(worktree)) == sorted(listed)


def test_path_map_rewrites_whole_path_components() -> None:
    mapping = PathMap.parse(["/home/marco/projects/spotter/=/tmp/r", "/=/mnt/old"])
    assert mapping.apply("/home/marco/projects/spotter") == "/tmp/r"
    assert mapping.apply("/home/marco/projects/spotter/lib/x") == "/tmp/r/lib/x"
    assert mapping.apply("/home/marco/spotter-2") == "/mnt/old/home/marco/spotter-2"
    assert mapping.apply("") == ""
    with pytest.raises(TokentagError, match="OLD=NEW"):
        PathMap.parse(["relative=/x"])


def test_earlier_requests_within_a_month_reuse_the_branch_history(repo: Path,
                                                                  mocker: Any) -> None:
    """Files arrive in no time order; each batch with an earlier request must not cost
    another `git log`."""
    git(repo, "checkout", "-q", "-b", "master")
    first = commit_at(repo, "2026-01-01T00:00:00", "a month before")
    second = commit_at(repo, "2026-02-10T20:00:00", "the day of the requests")
    worktree = find_worktree(repo)
    assert worktree is not None
    loads = mocker.spy(History, "load")
    inference = Inference(worktree)
    top = worktree.top
    late = inference.records([("k1", top, "master", "2026-02-10T19:00:00Z")])
    early = inference.records([("k2", top, "master", "2026-01-20T00:00:00Z")])
    assert [r["commit"] for r in late + early] == [second, second]
    assert loads.call_count == 1
    older = inference.records([("k3", top, "master", "2025-12-01T00:00:00Z")])
    assert [r["commit"] for r in older] == [first] and loads.call_count == 2


def test_rows_and_lines_made_in_the_worker_are_request_record_s(corpus: Corpus,
                                                                repo: Path) -> None:
    """scan_file builds index rows and ledger lines itself: they must be what
    request_record (in REQUEST_FIELDS' order) and jsonl.encode_line make of the same
    request."""
    worktree = find_worktree(repo)
    assert worktree is not None
    options = Options(path_map=PathMap.parse(arg for arg in all_into(corpus, repo)
                                             if arg != "--path-map"))
    scope = reader.Scope(worktree.common_dir, options)
    checked, in_files = 0, 0
    for path in sorted(corpus.projects.rglob("*.jsonl")):
        in_files += len(requests_in(path.read_bytes()))
        job = Job(str(path), 0, path.stat())
        for key, (row, line) in reader.scan_file(job, scope, fast_json=True).requests.items():
            request = _merged_request(path, key)
            mapped = options.path_map.apply(request.cwd)
            home = find_worktree(mapped)
            assert home is not None
            record = request_record(request._replace(cwd=mapped), home, str(path),
                                    row[REQUEST_FIELDS.index("captured_at")], "import")
            assert row == tuple(map(record.get, REQUEST_FIELDS))
            assert line == jsonl.encode_line(record)
            checked += 1
    assert checked == in_files >= corpus.requests  # a resumed session's file repeats some


def _merged_request(path: Path, key: str) -> transcript.Request:
    found = None
    for line, _ in transcript.Lines(path, 0):
        request = transcript.parse_request(line, transcript.agent_id_of(path))
        if request is not None and request.key == key:
            found = found.merged(request) if found else request
    assert found is not None
    return found


@pytest.mark.parametrize("texts", [
    ("k", "m", "", "s", None, "claude", "2026-01-01T00:00:00Z", "/r", "/r", None, None, "/t",
     "2026-01-02T00:00:00Z", "import"),
    ('k"\\', "m\u00e9\U0001f600", "\n\t\x01\x7f", "s", "a", "m", "t", "/r \u2028", "/r", "b",
     "2.1", "/t", "c", "import"),
])
def test_request_line_is_encode_line_byte_for_byte(texts: tuple[str | None, ...]) -> None:
    row = (*texts, 0, 1, 2**62, 3, 4, 5)
    record = {"v": SCHEMA_VERSION, "kind": "request",
              **dict(zip(REQUEST_FIELDS, row, strict=True))}
    assert request_from_row(row) == record
    assert request_line(row) == jsonl.encode_line(record)


def test_a_lone_surrogate_in_a_recorded_text_skips_that_request_alone(corpus: Corpus,
                                                                      repo: Path) -> None:
    """JSON may escape half of a surrogate pair, which no UTF-8 ledger line can hold: the
    request is skipped and counted, not a crash of the import or a hook stuck on it."""
    writer = SessionWriter(repo, corpus)
    writer.write(200)
    good = requests_in(writer.path.read_bytes())
    bad = (b'{"type":"assistant","cwd":"%s","sessionId":"%s","gitBranch":"b\\ud800",'
           b'"requestId":"req_bad","message":{"id":"msg_bad","model":"m",'
           b'"usage":{"input_tokens":7}}}\n') % (str(repo).encode(), writer.session_id.encode())
    with writer.path.open("ab") as handle:
        handle.write(bad)
    hook = tokentag("hook", cwd=repo, stdin=replay.payload_for(
        writer.session_id, writer.path, repo, "Stop"))
    assert (hook.stdout, hook.stderr) == ("", "")
    assert report(repo, "session")[writer.session_id] == totals(good, set(good))
    assert not (repo / ".git" / "tokentag" / "tokentag.log").exists()
    shutil.rmtree(repo / ".git" / "tokentag")
    summary = run_import(repo)
    assert (summary["new"], summary["skipped_lines"]) == (len(good), 1)
    assert report(repo, "session")[writer.session_id] == totals(good, set(good))


def _notes_on(repo: Path) -> dict[str, dict[str, Any]]:
    listed = git(repo, "notes", "--ref", "refs/notes/tokentag", "list").splitlines()
    return {commit: json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", commit))
            for _, commit in (line.split() for line in listed)}


def test_notes_import_retries_when_a_hook_moved_the_notes_ref(repo: Path, mocker: Any) -> None:
    retry = mocker.spy(bulk, "write_notes")
    first = commit_at(repo, "2026-01-01T00:00:00", "one")
    second = commit_at(repo, "2026-01-02T00:00:00", "two")
    third = commit_at(repo, "2026-01-03T00:00:00", "three")
    content.write_note(repo, first, {"tokentag": 1, "from": "before"})
    with bulk.NotesImport(str(repo)) as written:
        # The first note waits for the import's read of the notes tip, which runs in a git
        # of its own: only a hook that moves the ref after that read makes it retry.
        written.add(second, {"tokentag": 1, "from": "the import"})
        content.write_note(repo, third, {"tokentag": 1, "from": "a hook, meanwhile"})
    assert _notes_on(repo) == {first: {"tokentag": 1, "from": "before"},
                               second: {"tokentag": 1, "from": "the import"},
                               third: {"tokentag": 1, "from": "a hook, meanwhile"}}
    assert retry.call_count == 1  # fast-import refused to move the ref back


def test_notes_import_writes_nothing_on_an_error_or_with_no_notes(repo: Path) -> None:
    commit = commit_at(repo, "2026-01-01T00:00:00", "one")
    with pytest.raises(KeyError), bulk.NotesImport(str(repo)) as written:
        written.add(commit, {"tokentag": 1})
        raise KeyError("a failed query")
    with bulk.NotesImport(str(repo)):
        pass
    assert git(repo, "for-each-ref", "refs/notes/") == ""
    with pytest.raises(ChildProcessError):  # every git it started was reaped
        os.waitpid(-1, os.WNOHANG)


def test_a_transcript_whose_name_is_not_utf8_is_counted_unreadable(corpus: Corpus,
                                                                   repo: Path) -> None:
    writer = SessionWriter(repo, corpus)
    writer.write(50)
    odd = os.fsencode(writer.path.parent) + b"/agent-\xff.jsonl"
    with open(odd, "wb") as handle:
        handle.write(writer.path.read_bytes())
    summary = run_import(repo)
    assert summary["unreadable_files"] == 1
    assert summary["files"] == 3  # with the session's (empty) subagent file
    good = requests_in(writer.path.read_bytes())
    assert summary["new"] == len(good)
