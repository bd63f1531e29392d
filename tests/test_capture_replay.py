"""Replaying the real sessions through `tokentag hook` gives ccusage's exact totals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import replay


@pytest.fixture
def sessions(tmp_path: Path) -> list[replay.Session]:
    return replay.all_sessions(tmp_path, Path(os.environ["CLAUDE_CONFIG_DIR"]))


def _totals(sessions: list[replay.Session]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for repo in {s.repo for s in sessions}:
        found.update(replay.session_totals(repo))
    return found


def test_replay_in_chunks_matches_expected(sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.replay_in_chunks(session)
    assert _totals(sessions) == replay.expected_sessions()


def test_one_read_of_whole_files_matches_expected(sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.write_whole(session)
        replay.fire(session, "SessionEnd", reason="exit")
    assert _totals(sessions) == replay.expected_sessions()


def test_every_hook_firing_twice_counts_once(sessions: list[replay.Session]) -> None:
    for session in sessions:
        replay.replay_in_chunks(session, chunks=4, times=2)
    assert _totals(sessions) == replay.expected_sessions()
