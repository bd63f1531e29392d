"""Replaying each corpus through `tokentag hook` gives its expected totals (for the real
sessions, ccusage's exact ones)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import replay
from tests.conftest import git, tokentag
from tests.corpora import Corpus
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
    other = session.main.parent / "agent-0ther.jsonl"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b'{"type":"user","sessionId":"another-session","cwd":"/x"}\n')
    replay.replay_in_chunks(session, chunks=3)
    with Store(session.repo / ".git" / "tokentag").reading() as index:
        remembered = index.agent_file_sessions(str(session.main.parent))
    assert remembered == {**{str(p): session.session_id for p in session.agent_files},
                          str(other): "another-session"}
    expected = replay.expected_sessions(corpus)[session.session_id]
    assert replay.session_totals(session.repo)[session.session_id] == expected


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
