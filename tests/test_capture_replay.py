"""Replaying each corpus through `tokentag hook` gives its expected totals (for the real
sessions, ccusage's exact ones)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests import replay
from tests.conftest import git, tokentag
from tests.corpora import Corpus
from tests.session_writer import requests_in, totals
from tokentag.ledger.store import Store


@pytest.fixture
def sessions(corpus: Corpus, tmp_path: Path) -> list[replay.Session]:
    return replay.all_sessions(corpus, tmp_path, Path(os.environ["CLAUDE_CONFIG_DIR"]))


def _totals(sessions: list[replay.Session]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for repo in {s.repo for s in sessions}:
        found.update(replay.session_totals(repo))
    return found


def test_replay_in_chunks_matches_expected(corpus: Corpus,
                                           sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.replay_in_chunks(session)
    assert _totals(sessions) == replay.expected_sessions(corpus)


def test_one_read_of_whole_files_matches_expected(corpus: Corpus,
                                                  sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.write_whole(session)
        replay.fire(session, "SessionEnd", reason="exit")
    assert _totals(sessions) == replay.expected_sessions(corpus)


def test_every_hook_firing_twice_counts_once(corpus: Corpus,
                                            sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.replay_in_chunks(session, chunks=4, times=2)
    assert _totals(sessions) == replay.expected_sessions(corpus)


def _flatten(session: replay.Session) -> replay.Session:
    """The same session in the 2.0.28-2.1.1 layout: agent files beside the session file."""
    files = {(path if path == session.main else session.main.parent / path.name): content
             for path, content in session.files.items()}
    return replay.Session(session.session_id, session.repo, session.main, files)


def _big(corpus: Corpus, sessions: list[replay.Session]) -> replay.Session:
    return next(s for s in sessions if s.session_id == corpus.big)


def test_flat_agent_files_are_caught_when_the_turn_ends(corpus: Corpus,
                                                        sessions: list[replay.Session]) -> None:
    session = _flatten(_big(corpus, sessions))
    assert session.agent_files and all(p.parent == session.main.parent
                                       for p in session.agent_files)
    replay.replay_in_chunks(session, chunks=3)
    expected = replay.expected_sessions(corpus)[session.session_id]
    assert replay.session_totals(session.repo)[session.session_id] == expected


def test_the_turn_end_remembers_whose_each_flat_agent_file_is(
        corpus: Corpus, sessions: list[replay.Session]) -> None:
    session = _flatten(_big(corpus, sessions))
    project_dir = session.main.parent
    other = project_dir / "agent-0ther.jsonl"
    project_dir.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b'{"type":"user","sessionId":"another-session","cwd":"/x"}\n')
    replay.replay_in_chunks(session, chunks=3)
    os.utime(project_dir)  # changed a moment ago, however long the replay took
    replay.fire(session, "Stop")
    files, stamp = _remembered(session)
    assert files == {**{str(p): session.session_id for p in session.agent_files},
                     str(other): "another-session"}
    assert stamp != os.stat(project_dir).st_mtime_ns  # too fresh to be stamped

    settled = time.time_ns() - 60 * 10**9
    os.utime(project_dir, ns=(settled, settled))
    replay.fire(session, "Stop")
    assert _remembered(session)[1] == settled  # later Stops list nothing while it holds

    # A subagent that starts later gets a new file, which changes the dir.
    late = _renamed_copy(session.agent_files[0], project_dir / "agent-late.jsonl")
    replay.fire(session, "Stop")
    expected = replay.expected_sessions(corpus)[session.session_id]
    added = totals(requests_in(late.read_bytes()), set(requests_in(late.read_bytes())))
    assert added["total"] > 0
    assert replay.session_totals(session.repo)[session.session_id] == {
        field: expected[field] + added[field] for field in expected}

    other.unlink()  # Claude Code prunes old sessions' files
    replay.fire(session, "Stop")
    assert str(other) not in _remembered(session)[0]


def _remembered(session: replay.Session) -> tuple[dict[str, str], int | None]:
    project_dir = str(session.main.parent)
    with Store(session.repo / ".git" / "tokentag").reading() as index:
        return index.agent_file_sessions(project_dir), index.agent_dir_listed_ns(project_dir)


def _renamed_copy(source: Path, target: Path) -> Path:
    """A subagent file like `source` whose requests are other requests."""
    data = source.read_bytes().replace(b'"id":"msg_', b'"id":"msg_late').replace(
        b'"requestId":"req_', b'"requestId":"req_late')
    target.write_bytes(data)
    return target


def test_flat_agent_files_are_caught_by_a_commit(corpus: Corpus,
                                                 sessions: list[replay.Session]) -> None:
    session = _flatten(_big(corpus, sessions))
    tokentag("install", cwd=session.repo)
    session.main.parent.mkdir(parents=True, exist_ok=True)
    session.main.write_bytes(b"")
    replay.fire(session, "SessionStart")  # the session is known; no hook runs after this
    replay.write_whole(session)
    git(session.repo, "commit", "-q", "--allow-empty", "-m", "all of it")
    expected = replay.expected_sessions(corpus)[session.session_id]
    assert replay.session_totals(session.repo)[session.session_id] == expected
