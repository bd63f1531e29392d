"""Subagent requests seen only in the main file's `agent_progress` lines.

Each corpus's big session (the real 2.1.39 session 4d5611e5 has 67 such lines) echoes the
requests of a subagent whose own file is there too: with it, progress lines count for
nothing (the totals stay expected.json's). Without it, the copies are all that is left of
its requests: 11 of its 12 (its last response is echoed by no progress line).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import replay
from tests.conftest import tokentag
from tests.corpora import Corpus
from tests.session_writer import FIELDS, USAGE_KEYS, requests_in, totals


def echoed(content: bytes, agent: str) -> dict[str, dict[str, int]]:
    """Independently of tokentag: the requests of `agent` the progress lines echo, each
    (message.id, requestId) once, the largest value of each field."""
    found: dict[str, dict[str, int]] = {}
    for line in content.splitlines():
        entry = json.loads(line)
        data = entry.get("data") if entry.get("type") == "progress" else None
        if not isinstance(data, dict) or data.get("agentId") != agent:
            continue
        inner = data["message"]
        message = inner.get("message", {})
        if inner.get("type") != "assistant" or "usage" not in message:
            continue
        known = found.setdefault(f"{message['id']}/{inner['requestId']}",
                                 dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            known[name] = max(known[name], int(message["usage"].get(USAGE_KEYS[name]) or 0))
    return found


@pytest.fixture
def session(corpus: Corpus, tmp_path: Path) -> replay.Session:
    return replay.prepare(corpus, corpus.worktree, corpus.big,
                          replay.make_repo(tmp_path / "dov"),
                          Path(os.environ["CLAUDE_CONFIG_DIR"]))


def agent_file(corpus: Corpus, session: replay.Session) -> Path:
    return next(p for p in session.files if p.name == f"agent-{corpus.agent}.jsonl")


def without_agent_file(corpus: Corpus, session: replay.Session,
                       ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Drop the subagent's file from the session: (its requests, those the copies echo)."""
    own = requests_in(session.files.pop(agent_file(corpus, session)))
    copies = echoed(session.files[session.main], corpus.agent)
    assert len(own) == 12 and len(copies) == 11
    assert all(copies[key] == own[key] for key in copies)  # the same counts as its file's
    return own, copies


def expected_without(corpus: Corpus, own: dict[str, dict[str, int]],
                     copies: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The big session's totals: its subagent's own requests taken out, the copies in."""
    whole = replay.expected_sessions(corpus)[corpus.big]
    lost, kept = totals(own, set(own)), totals(copies, set(copies))
    return {corpus.big: {f: whole[f] - lost[f] + kept[f] for f in (*FIELDS, "total")}}


def log(repo: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        tokentag("log", "--json", "--all", cwd=repo).stdout)["requests"]
    return rows


def test_with_the_subagent_s_file_progress_lines_count_for_nothing(
        corpus: Corpus, session: replay.Session) -> None:
    replay.replay_in_chunks(session, chunks=5)
    assert replay.session_totals(session.repo) == {
        corpus.big: replay.expected_sessions(corpus)[corpus.big]}
    assert not [r for r in log(session.repo) if r["via"] != "hook"]


def test_without_it_the_copies_count_once_and_its_file_wins_when_it_comes_back(
        corpus: Corpus, session: replay.Session) -> None:
    agent_path = agent_file(corpus, session)
    agent_content = session.files[agent_path]
    own, copies = without_agent_file(corpus, session)
    replay.replay_in_chunks(session, chunks=5, times=2)
    assert replay.session_totals(session.repo) == expected_without(corpus, own, copies)
    marked = [r for r in log(session.repo) if r["via"] == "hook:progress"]
    assert {r["request"] for r in marked} == set(copies)
    assert {r["agent"] for r in marked} == {corpus.agent}

    agent_path.parent.mkdir(parents=True, exist_ok=True)
    agent_path.write_bytes(agent_content)  # found again: only what no copy had is new
    replay.fire(session, "SubagentStop", agent_transcript_path=str(agent_path))
    assert replay.session_totals(session.repo) == {
        corpus.big: replay.expected_sessions(corpus)[corpus.big]}
    assert len(log(session.repo)) == len({r["request"] for r in log(session.repo)})


def test_an_import_counts_them_as_the_hooks_do(corpus: Corpus, session: replay.Session) -> None:
    own, copies = without_agent_file(corpus, session)
    replay.write_whole(session)
    summary = json.loads(tokentag("import", "--json", cwd=session.repo).stdout)
    assert summary["progress_copies"] == len(copies)
    assert replay.session_totals(session.repo) == expected_without(corpus, own, copies)
    assert {r["request"] for r in log(session.repo) if r["via"] == "import:progress"} == \
        set(copies)
    replay.fire(session, "Stop")  # hooks reading it all again add nothing
    assert replay.session_totals(session.repo) == expected_without(corpus, own, copies)
    shutil.rmtree(session.repo / ".git" / "tokentag")  # and hooks first, then an import
    replay.fire(session, "Stop")
    again = json.loads(tokentag("import", "--json", cwd=session.repo).stdout)
    assert again["progress_copies"] == again["new"] == 0
    assert replay.session_totals(session.repo) == expected_without(corpus, own, copies)
