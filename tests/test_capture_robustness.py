"""Capture under stress: concurrent and killed hooks, bad input, torn ledgers, routing,
what the ledger may hold, and whether the commands that read it agree with each other.

Everything goes through real `tokentag` subprocesses fed each corpus of transcripts
(tests/corpora.py, copied into temporary dirs by tests/replay.py), except the reader unit
tests, which call the ledger and index directly.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests import replay
from tests.conftest import cli_json, git, tokentag
from tests.corpora import Corpus
from tests.session_writer import requests_in, totals
from tokentag.capture import catch_up, transcript
from tokentag.core.usage import USAGE_FIELDS
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger import jsonl, schema
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import INDEX_NAME, Index
from tokentag.ledger.records import SCHEMA_VERSION
from tokentag.ledger.store import Store

EXE = Path(sys.executable).with_name("tokentag")
EVENTS = ("PostToolUse", "Stop", "SubagentStop", "UserPromptSubmit", "PreCompact",
          "SessionStart", "PostToolUse", "Stop")
TOKEN_FIELDS = ("input", "output", "cache_creation", "cache_read", "total")
LOG_LINE = re.compile(r"^\S+Z hook [A-Za-z]+Error: \S.*$")


# --- helpers -------------------------------------------------------------------------------


def config_dir() -> Path:
    return Path(os.environ["CLAUDE_CONFIG_DIR"])


def tokentag_dir(repo: Path) -> Path:
    return repo / ".git" / "tokentag"


def ledger_file(repo: Path) -> Path:
    return tokentag_dir(repo) / jsonl.LEDGER_NAME


def ledger_lines(repo: Path) -> list[bytes]:
    return ledger_file(repo).read_bytes().splitlines()


def parsed_records(repo: Path) -> list[dict[str, Any]]:
    """Every line of the ledger that is a JSON object; torn and garbage lines left out."""
    found = []
    for line in ledger_lines(repo):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def request_keys(repo: Path) -> Counter[str]:
    return Counter(r["key"] for r in parsed_records(repo) if r.get("kind") == "request")


def unparsable_lines(repo: Path) -> int:
    """Complete lines (newline-ended) that are not JSON; a torn tail is not a line yet."""
    complete = ledger_file(repo).read_bytes().split(b"\n")[:-1]
    return sum(1 for line in complete if not _is_json(line))


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def status(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = cli_json(repo, "status")
    return data


def all_totals(sessions: list[replay.Session]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for repo in {s.repo for s in sessions}:
        found.update(replay.session_totals(repo))
    return found


def expected_for(corpus: Corpus, sessions: list[replay.Session]) -> dict[str, dict[str, int]]:
    expected = replay.expected_sessions(corpus)
    return {s.session_id: expected[s.session_id] for s in sessions}


def keys_in(corpus: Corpus, *sessions: replay.Session) -> set[str]:
    """Request keys of sessions, counted independently of tokentag's own parser: their
    files' and those of their subagents only progress lines echo (a resumed session's
    file repeats its origin's requests: each counts once)."""
    keys: set[str] = set()
    for session in sessions:
        keys |= replay.progress_keys(corpus, session.session_id)
        for content in session.files.values():
            keys |= set(requests_in(content))
    return keys


def grow(session: replay.Session, step: int, steps: int) -> None:
    """Append to every file of the session up to about step/steps of it, cut mid-line."""
    for path, content in session.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        have = path.stat().st_size if path.exists() else 0
        end = replay.cut_mid_line(content, step, steps)
        if end > have:
            with path.open("ab") as handle:
                handle.write(content[have:end])


def start_hook(session: replay.Session, event: str) -> subprocess.Popen[bytes]:
    """A real `tokentag hook` process, its payload already written and stdin closed."""
    extra: dict[str, str] = {}
    if event == "SubagentStop" and session.agent_files:
        agent = session.agent_files[0]
        extra = {"agent_transcript_path": str(agent),
                 "agent_id": agent.stem.removeprefix("agent-")}
    elif event == "PostToolUse":
        extra = {"tool_name": "Bash", "tool_use_id": "toolu_robustness"}
    read_end, write_end = os.pipe()  # the payload fits the pipe's buffer: no blocking
    os.write(write_end, replay.payload(session, event, **extra).encode())
    os.close(write_end)
    try:
        return subprocess.Popen([str(EXE), "hook"], cwd=session.repo, stdin=read_end,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.close(read_end)


def finish_quietly(processes: list[subprocess.Popen[bytes]]) -> None:
    """Every hook exits 0 and says nothing, on stdout or stderr."""
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, out, err) == (0, b"", b"")


def hook_once(cwd: Path, body: str | bytes) -> subprocess.CompletedProcess[bytes]:
    raw = body.encode() if isinstance(body, str) else body
    return subprocess.run([str(EXE), "hook"], cwd=cwd, input=raw, capture_output=True,
                          check=False, timeout=60)


def delete_index(repo: Path) -> None:
    for path in tokentag_dir(repo).glob("index.sqlite*"):
        path.unlink()


# --- exactly once, whatever runs at the same time ---------------------------------------


def test_eight_concurrent_hooks_per_session_count_every_request_once(corpus: Corpus,
                                                                     tmp_path: Path) -> None:
    sessions = replay.all_sessions(corpus, tmp_path, config_dir())
    steps = 3
    for step in range(1, steps + 1):
        for session in sessions:
            # Half of the round's hooks start, the file grows under them, then the rest.
            grow(session, 2 * step - 1, 2 * steps)
            first = [start_hook(session, event) for event in EVENTS[:4]]
            grow(session, 2 * step, 2 * steps)
            finish_quietly(first + [start_hook(session, event) for event in EVENTS[4:]])
    assert all_totals(sessions) == expected_for(corpus, sessions)
    for repo in {s.repo for s in sessions}:
        expected_keys = keys_in(corpus, *(s for s in sessions if s.repo == repo))
        counted = request_keys(repo)
        assert set(counted) == expected_keys
        assert set(counted.values()) == {1}
        assert status(repo)["invalid_lines"] == 0
        assert not (tokentag_dir(repo) / "tokentag.log").exists()


def test_sigkilled_writers_and_torn_lines_never_change_totals(corpus: Corpus,
                                                              tmp_path: Path) -> None:
    repo = replay.make_repo(tmp_path / "repo")
    session = replay.prepare(corpus, corpus.worktree, corpus.big, repo, config_dir())
    grow(session, 1, KILL_STEPS)
    started = time.monotonic()
    replay.fire(session, "PostToolUse")  # one whole run: the ledger exists, and its duration
    stats = _kill_rounds(session, time.monotonic() - started)
    grow(session, KILL_STEPS, KILL_STEPS)
    replay.fire(session, "Stop")  # the catch-up, with the whole transcript there
    before = ledger_file(repo).read_bytes()
    replay.fire(session, "Stop")
    assert ledger_file(repo).read_bytes() == before  # caught up: nothing left to write
    _append_torn_record(repo, random.Random(1))  # and a torn tail that nobody ended yet
    assert replay.session_totals(repo) == expected_for(corpus, [session])
    counted = request_keys(repo)
    assert set(counted) == keys_in(corpus, session) and set(counted.values()) == {1}
    stats["invalid"] = unparsable_lines(repo)
    assert stats["killed"] >= 15 and stats["torn"] >= 3, stats
    assert 1 <= stats["invalid"] <= stats["torn"]  # torn pieces in a row make one line
    assert {k: status(repo)[k] for k in ("invalid_lines", "requests")} == {
        "invalid_lines": stats["invalid"], "requests": len(counted)}


KILL_STEPS = 60


def _kill_rounds(session: replay.Session, run_time: float) -> Counter[str]:
    """Grow the transcript and SIGKILL a hook at a random moment of its run, until 15
    were killed while still running; tear the ledger's last line now and then, as a
    writer killed inside `write` would."""
    rng, tear = random.Random(20260212), random.Random(7)
    repo, stats = session.repo, Counter[str]()
    for step in range(2, KILL_STEPS):
        if stats["killed"] >= 15:
            break
        grow(session, step, KILL_STEPS)
        if rng.random() < 0.3:
            delete_index(repo)  # the next hook re-folds the ledger and re-reads everything
        size = ledger_file(repo).stat().st_size
        process = start_hook(session, "PostToolUse")
        time.sleep(rng.uniform(0.0, run_time))
        running = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        stats.update(rounds=1, killed=running,
                     after_append=running and ledger_file(repo).stat().st_size > size)
        if rng.random() < 0.4:
            stats["torn"] += _append_torn_record(repo, tear)
    return stats


def _append_torn_record(repo: Path, rng: random.Random) -> int:
    """What a writer killed mid-`write` leaves: the first part of a real record, no newline."""
    lines = [line for line in ledger_lines(repo) if _is_json(line)]
    if not lines:
        return 0
    line = rng.choice(lines)
    with ledger_file(repo).open("ab") as handle:
        handle.write(line[:rng.randrange(1, len(line) - 1)])
    return 1


def test_a_rival_hook_between_the_read_and_the_lock_costs_nothing_twice(
        corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks read before they lock: a rival that reads and writes the same new bytes, and
    more, while this one waits for the lock leaves every request once and the cursor at
    the end the rival reached (cursors never move back)."""
    repo = replay.make_repo(tmp_path / "repo")
    session = replay.prepare(corpus, corpus.main, corpus.small, repo, config_dir())
    grow(session, 1, 2)
    replay.fire(session, "PostToolUse")
    real_writing_to = Store.writing_to
    events: list[str] = []

    def rival_goes_first(store: Store, index: Any, lock_wait: Any = None) -> Any:
        if not events:  # between this hook's read and its lock, the rival runs whole
            events.append("rival")
            grow(session, 2, 2)
            replay.fire(session, "PostToolUse")
        return real_writing_to(store, index, lock_wait)

    monkeypatch.setattr(Store, "writing_to", rival_goes_first)
    worktree = find_worktree(repo)
    assert worktree is not None
    result = catch_up.catch_up([session.main], worktree, session.session_id)
    assert events == ["rival"] and result.new == 0
    assert max(request_keys(repo).values()) == 1
    assert replay.session_totals(repo) == expected_for(corpus, [session])
    with Store.of(worktree).reading() as index:
        cursor = index.cursors_of([str(session.main)]).get(str(session.main))
    assert cursor is not None and cursor.offset == session.main.stat().st_size


# --- no content in the ledger or its index -------------------------------------------------


SAFE_TEXT = re.compile(r"[A-Za-z0-9 .,:;()\[\]{}<>=+*/_#@!?'-]{32}")


def content_samples(corpus: Corpus) -> dict[str, set[str]]:
    """32-character pieces of text that only the transcripts' message content holds, by
    kind of content: text, thinking, tool_use input and tool_result output."""
    samples: dict[str, set[str]] = {"text": set(), "thinking": set(), "tool_use": set(),
                                    "tool_result": set()}
    skeleton: list[str] = []
    for path in sorted(corpus.projects.rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            entry = json.loads(line)
            message = entry.get("message")
            if isinstance(message, dict):
                _collect(message.pop("content", None), "text", samples)
            entry.pop("toolUseResult", None)  # tool output again, in another shape
            skeleton.append(json.dumps(entry, ensure_ascii=False))
    # Leave out anything that also occurs outside message content (ids, paths, names).
    rest = "\n".join(skeleton)
    return {kind: {s for s in found if s not in rest} for kind, found in samples.items()}


def _collect(content: object, kind: str, samples: dict[str, set[str]]) -> None:
    if isinstance(content, str):
        match = SAFE_TEXT.search(content, len(content) // 3)
        if match:
            samples[kind].add(match.group())
    elif isinstance(content, list):
        for item in content:
            _collect(item, kind, samples)
    elif isinstance(content, dict):
        _collect_block(content, kind, samples)


def _collect_block(block: dict[str, Any], kind: str, samples: dict[str, set[str]]) -> None:
    block_type = block.get("type")
    if block_type == "tool_use":
        _collect(list(_leaves(block.get("input"))), "tool_use", samples)
    elif block_type == "tool_result":
        _collect(block.get("content"), "tool_result", samples)
    elif block_type == "thinking":
        _collect(block.get("thinking"), "thinking", samples)
    else:
        _collect(block.get("text"), kind, samples)


def _leaves(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


def test_no_prompt_response_or_tool_text_in_ledger_or_index(corpus: Corpus,
                                                            tmp_path: Path) -> None:
    samples = content_samples(corpus)
    assert {kind: len(found) > 3 for kind, found in samples.items()} == dict.fromkeys(
        samples, True)
    sessions = replay.all_sessions(corpus, tmp_path, config_dir())
    for session in sessions:
        replay.replay_in_chunks(session, chunks=3)
    assert all_totals(sessions) == expected_for(corpus, sessions)
    for repo in {s.repo for s in sessions}:
        ledger_bytes = ledger_file(repo).read_bytes()
        index_bytes = (tokentag_dir(repo) / "index.sqlite").read_bytes()
        assert b'"kind":"request"' in ledger_bytes and b"claude-" in index_bytes
        for kind, found in samples.items():
            for sample in found:
                encoded = sample.encode()
                assert encoded not in ledger_bytes, (kind, sample)
                assert encoded not in index_bytes, (kind, sample)


# --- every record the hook and the git hooks write matches tokentag/schema.py ---------------


def test_every_record_written_validates_against_the_models(corpus: Corpus,
                                                           tmp_path: Path) -> None:
    sessions = replay.all_sessions(corpus, tmp_path, config_dir())
    for session in sessions:
        replay.replay_in_chunks(session, chunks=5)
    repo = sessions[0].repo
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    tokentag("git-hook", "post-commit", cwd=repo)
    old = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--amend", "--allow-empty", "-m", "amended")
    tokentag("git-hook", "post-rewrite", "amend", cwd=repo,
             stdin=f"{old} {git(repo, 'rev-parse', 'HEAD')}\n")
    kinds: Counter[str] = Counter()
    for repo in {s.repo for s in sessions}:
        valid, problems = schema.validate_ledger(ledger_file(repo))
        assert problems == []
        assert valid == len(ledger_lines(repo))
        kinds.update(schema.validate_record(r).kind for r in parsed_records(repo))
    assert set(kinds) == {"request", "correction", "session", "attribution", "rewrite"}
    assert kinds["request"] == len(keys_in(corpus, *sessions))


def _a_request_record() -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, "kind": "request", "key": "msg_1/req_1",
            "message_id": "msg_1", "request_id": "req_1", "session_id": "s", "agent_id": None,
            "model": "claude-opus-4-6", "ts": "2026-02-10T21:11:56.906Z", "cwd": "/r",
            "worktree": "/r", "branch": "main", "version": "2.1.38", "transcript": "/t.jsonl",
            "captured_at": "2026-02-10T21:12:00.000Z", "via": "hook", "input": 3,
            "output": 13, "cache_creation": 10, "cache_creation_5m": 10,
            "cache_creation_1h": 0, "cache_read": 5}


@pytest.mark.parametrize("change", [
    {"output": -1}, {"output": "13"}, {"output": 13.0}, {"output": True},
    {"text": "a prompt"}, {"v": SCHEMA_VERSION + 1}, {"kind": "note"}, {"key": 7},
    {"key": "msg_1/req_2"}, {"agent_id": 5}, {"cwd": None},
])
def test_models_reject_what_no_writer_may_write(change: dict[str, Any]) -> None:
    assert schema.validate_record(_a_request_record()).kind == "request"
    with pytest.raises(ValidationError):
        schema.validate_record({**_a_request_record(), **change})


def test_models_count_every_usage_field_the_capture_writes() -> None:
    counts = set(USAGE_FIELDS)
    assert counts <= set(schema.RequestRecord.model_fields)
    assert counts <= set(schema.CorrectionRecord.model_fields)


def test_validate_ledger_reports_each_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "jsonl.jsonl"
    good = json.dumps(_a_request_record()).encode()
    path.write_bytes(b"\n".join([good, b"{not json", b"[1]",
                                 json.dumps({**_a_request_record(), "input": -5}).encode(),
                                 good, good[:40]]))
    valid, problems = schema.validate_ledger(path)
    assert valid == 2
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6"]
    assert "torn" in problems[-1] and "input" in problems[2]


# --- bad input inside the hook ---------------------------------------------------------------


@pytest.fixture
def captured(corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> replay.Session:
    """A repository whose ledger holds half a session; the transcript has grown since."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "outside").mkdir()
    repo = replay.make_repo(tmp_path / "repo")
    session = replay.prepare(corpus, corpus.main, corpus.small, repo, config_dir())
    grow(session, 1, 2)
    replay.fire(session, "Stop")
    grow(session, 2, 2)
    return session


def _bad_payloads(session: replay.Session, tmp: Path) -> dict[str, tuple[bytes, Path, str]]:
    """name -> (stdin, the hook's working dir, where its one log line must go)."""
    outside = tmp / "outside"
    body = json.loads(replay.payload(session, "Stop"))
    return {
        "malformed JSON": (b'{"session_id": "x", "cwd": ', outside, "state"),
        "empty stdin": (b"", outside, "state"),
        "not UTF-8": (b"\xff\xfe{}", outside, "state"),
        "a list": (b"[1, 2, 3]", outside, "state"),
        "a string": (b'"Stop"', outside, "state"),
        "no cwd": (json.dumps({**body, "cwd": None}).encode(), outside, "state"),
        "cwd outside git": (json.dumps({**body, "cwd": str(outside)}).encode(), outside,
                            "state"),
        "no transcript_path": (json.dumps({k: v for k, v in body.items()
                                           if k != "transcript_path"}).encode(),
                               session.repo, "repo"),
        "transcript is a directory": (json.dumps({**body, "transcript_path": str(
            session.main.parent)}).encode(), session.repo, "repo"),
    }


BAD_PAYLOADS = ["malformed JSON", "empty stdin", "not UTF-8", "a list", "a string", "no cwd",
                "cwd outside git", "no transcript_path", "transcript is a directory"]
# A missing transcript is not among them: Claude Code fires hooks before it writes the
# file (test_hook_hardening.py).


@pytest.mark.parametrize("case", BAD_PAYLOADS)
def test_bad_payload_exits_0_silently_and_logs_one_line(captured: replay.Session,
                                                        tmp_path: Path, case: str) -> None:
    stdin, cwd, where = _bad_payloads(captured, tmp_path)[case]
    before = ledger_file(captured.repo).read_bytes()
    result = hook_once(cwd, stdin)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    logs = {"repo": tokentag_dir(captured.repo) / "tokentag.log",
            "state": tmp_path / "state" / "tokentag" / "tokentag.log"}
    lines = logs[where].read_text().splitlines()
    assert len(lines) == 1 and LOG_LINE.match(lines[0]), lines
    assert not logs["state" if where == "repo" else "repo"].exists()
    assert ledger_file(captured.repo).read_bytes() == before
    if where == "repo":
        assert status(captured.repo)["logged_failures"] == 1


def test_unwritable_ledger_logs_one_line_and_loses_nothing(corpus: Corpus,
                                                           captured: replay.Session) -> None:
    """The ledger path is a directory (tests run as root: permissions would not stop us)."""
    path = ledger_file(captured.repo)
    kept = path.with_name("kept.jsonl")
    before = path.read_bytes()
    path.rename(kept)
    path.mkdir()
    for event in ("PostToolUse", "Stop"):
        result = hook_once(captured.repo, replay.payload(captured, event))
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    lines = (tokentag_dir(captured.repo) / "tokentag.log").read_text().splitlines()
    assert len(lines) == 2 and all(LOG_LINE.match(line) for line in lines), lines
    assert list(path.iterdir()) == []
    path.rmdir()
    kept.rename(path)
    assert path.read_bytes() == before
    replay.fire(captured, "Stop")  # writable again: the missed bytes are caught up
    assert path.read_bytes().startswith(before)
    assert replay.session_totals(captured.repo) == expected_for(corpus, [captured])
    assert set(request_keys(captured.repo).values()) == {1}


# --- the ledger reader and the index ----------------------------------------------------------


def _record(key: str, output: int) -> dict[str, Any]:
    return {**_a_request_record(), "key": key, "output": output}


def test_reader_does_not_yield_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / jsonl.LEDGER_NAME
    jsonl.append(path, [_record("a/1", 1), _record("b/2", 2)])
    complete = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(jsonl.encode([_record("c/3", 3)])[:-20])
    read = list(jsonl.read_records(path))
    assert [r["key"] for r, _ in read if r] == ["a/1", "b/2"]
    assert read[-1][1] == complete
    jsonl.append(path, [_record("d/4", 4)])  # the next writer ends the torn line first
    read = list(jsonl.read_records(path))
    assert [r["key"] if r else None for r, _ in read] == ["a/1", "b/2", None, "d/4"]
    assert path.read_bytes().count(b"\n") == 4


def test_index_skips_and_counts_invalid_lines_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / jsonl.LEDGER_NAME
    bad = [b"{torn", b"[1, 2]", b'{"kind": 5}', b'{"v": 99, "kind": "request"}',
           b'{"v": 1, "kind": "unheard-of"}', b'{"v": 1, "kind": "request"}',
           # Well-formed JSON with a list or an object where text goes: SQLite refuses to
           # bind those, which used to stop every fold (and so all capture) at this line.
           b'{"v": 1, "kind": "request", "key": "x/1", "model": ["m"]}',
           b'{"v": 1, "kind": "correction", "key": ["a/1"], "output": 99}',
           b'{"v": 1, "kind": "session", "session_id": "s", "transcript": {"p": 1}}',
           b'{"v": 1, "kind": "attribution", "commit": "c", "keys": ["a/1"], "at": [1]}',
           b'{"v": 1, "kind": "rewrite", "pairs": [[["c"], "d"]]}',
           b'{"v": 1, "kind": "request", "key": "big/1", "output": 18446744073709551616}']
    path.write_bytes(jsonl.encode([_record("a/1", 10)]) + b"\n".join(bad) + b"\n"
                     + jsonl.encode([_record("b/2", 20), _record("a/1", 15)]))
    index = Index(tmp_path)
    try:
        index.catch_up()
        rows = {r["key"]: r["output"] for r in index.reads.requests_newest_first(Filters(), None)}
        assert rows == {"a/1": 15, "b/2": 20}  # the repeated key raises, never adds
        assert index.reads.summary().invalid_lines == len(bad)
    finally:
        index.close()


def _attribution(commit: str, *keys: str) -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, "kind": "attribution", "commit": commit,
            "worktree": "/r", "keys": list(keys), "how": "inferred", "at": "2026-02-11T00:00Z"}


@pytest.mark.parametrize("with_rewrite", [False, True])
def test_a_batch_folded_from_memory_equals_the_same_batch_read_back(
        tmp_path: Path, with_rewrite: bool) -> None:
    """fold_appended writes a request and its later attribution as one row: the rows must
    be what folding the records one by one from the ledger gives."""
    earlier = [_record("old/free", 1), _record("old/taken", 2), _attribution("c0", "old/taken")]
    batch = [_attribution("c1", "new/late"),  # before its request: takes nothing
             _record("new/late", 3), _record("new/one", 4), _record("old/free", 5),
             _attribution("c2", "new/one", "old/free", "old/taken", "new/twice"),
             _record("new/twice", 6), _attribution("c3", "new/twice", "new/one"),
             _attribution("c4", "new/twice"),
             # Attributions the fold skips as invalid: a premerge must skip them too.
             {**_attribution("c5", "new/late"), "v": SCHEMA_VERSION + 1},
             {**_attribution("c6", "new/late"), "at": [1]}]
    if with_rewrite:
        batch.insert(4, {"v": SCHEMA_VERSION, "kind": "rewrite", "type": "amend",
                         "pairs": [["c0", "c9"]], "at": "2026-02-11T00:00Z"})
    rows = {}
    for name, from_memory in (("memory", True), ("ledger", False)):
        directory = tmp_path / name
        directory.mkdir()
        jsonl.append(directory / jsonl.LEDGER_NAME, earlier)
        index = Index(directory)
        try:
            index.catch_up()
            jsonl.append(directory / jsonl.LEDGER_NAME, batch)
            if from_memory:
                index.fold_appended(batch, (directory / jsonl.LEDGER_NAME).stat().st_size)
            else:
                index.catch_up()
        finally:
            index.close()
        db = sqlite3.connect(directory / INDEX_NAME)
        try:
            rows[name] = db.execute("SELECT key, commit_id, attribution, output, seq "
                                    "FROM requests ORDER BY key").fetchall()
            rows[name + " commits"] = db.execute(
                "SELECT * FROM commits ORDER BY commit_id").fetchall()
        finally:
            db.close()
    assert rows["memory"] == rows["ledger"]
    assert rows["memory commits"] == rows["ledger commits"]
    assert dict((key, commit) for key, commit, *_ in rows["memory"]) == {
        "new/late": None, "new/one": "c2", "new/twice": "c3", "old/free": "c2",
        "old/taken": "c9" if with_rewrite else "c0"}


def test_a_count_too_large_for_sqlite_counts_as_zero() -> None:
    line = (b'{"type":"assistant","requestId":"req_1","message":{"id":"msg_1","model":"m",'
            b'"usage":{"input_tokens":3,"output_tokens":18446744073709551616}}}')
    request = transcript.parse_request(line)
    assert request is not None and (request.usage.input, request.usage.output) == (3, 0)


def test_rebuilt_index_and_reread_transcripts_give_identical_numbers(corpus: Corpus,
                                                                     tmp_path: Path) -> None:
    sessions = replay.all_sessions(corpus, tmp_path, config_dir())[:4]  # two repositories
    for session in sessions:
        replay.replay_in_chunks(session, chunks=3)
    repos = sorted({s.repo for s in sessions})
    with ledger_file(repos[0]).open("ab") as handle:
        handle.write(b"garbage from elsewhere\n")
    before = {repo: (ledger_file(repo).read_bytes(), status(repo),
                     cli_json(repo, "report", "--by", "model")) for repo in repos}
    for repo in repos:
        delete_index(repo)  # cursors go with it: the next hook re-reads every transcript
    for session in sessions:
        replay.fire(session, "Stop")
    for repo in repos:
        ledger_bytes, old_status, old_report = before[repo]
        assert ledger_file(repo).read_bytes() == ledger_bytes
        new_status = status(repo)
        assert {k: v for k, v in new_status.items() if k != "last_capture"} == {
            k: v for k, v in old_status.items() if k != "last_capture"}
        assert cli_json(repo, "report", "--by", "model") == old_report
    assert status(repos[0])["invalid_lines"] == 1
    assert all_totals(sessions) == expected_for(corpus, sessions)


def test_corrupt_index_is_rebuilt_and_capture_goes_on(corpus: Corpus,
                                                       captured: replay.Session) -> None:
    """The index is a cache: garbage in its place must not stop every hook and command."""
    before = ledger_file(captured.repo).read_bytes()
    delete_index(captured.repo)
    (tokentag_dir(captured.repo) / "index.sqlite").write_bytes(b"not a database" * 100)
    result = hook_once(captured.repo, replay.payload(captured, "Stop"))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert not (tokentag_dir(captured.repo) / "tokentag.log").exists()
    assert ledger_file(captured.repo).read_bytes().startswith(before)
    assert replay.session_totals(captured.repo) == expected_for(corpus, [captured])
    assert set(request_keys(captured.repo).values()) == {1}


def test_out_of_range_date_is_one_line_not_a_crash(tmp_path: Path) -> None:
    repo = replay.make_repo(tmp_path / "repo")
    for option in ("--until", "--since"):
        result = tokentag("report", option, "9999-12-31T23:00:00-05:00", cwd=repo, check=False)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.startswith("tokentag: date out of range") and "unexpected" \
            not in result.stderr
    result = tokentag("log", "--until", "9999-12-31", cwd=repo, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1


def test_truncated_or_replaced_transcript_is_reread_without_double_counting(
        corpus: Corpus, tmp_path: Path) -> None:
    repo = replay.make_repo(tmp_path / "repo")
    session = replay.prepare(corpus, corpus.main, corpus.routed, repo, config_dir())
    content = session.files[session.main]
    replay.write_whole(session)
    replay.fire(session, "Stop")
    full = ledger_file(repo).read_bytes()
    session.main.write_bytes(content[:replay.cut_mid_line(content, 1, 3)])  # truncated in place
    replay.fire(session, "Stop")
    grow(session, 3, 3)
    replay.fire(session, "Stop")
    replacement = session.main.with_name("replacement.tmp")
    replacement.write_bytes(content[:replay.cut_mid_line(content, 2, 3)])
    os.replace(replacement, session.main)  # a new file, shorter than the cursor
    replay.fire(session, "Stop")
    replacement.write_bytes(content)
    os.replace(replacement, session.main)
    replay.fire(session, "Stop")
    assert ledger_file(repo).read_bytes() == full  # nothing new: every request was known
    assert replay.session_totals(repo) == expected_for(corpus, [session])
    # Replaced by a shorter file with other requests: read from its start, all of them.
    other = replay.prepare(corpus, corpus.main, corpus.small, repo, config_dir())
    assert len(other.files[other.main]) < len(content)
    session.main.write_bytes(other.files[other.main])
    replay.fire(session, "Stop")
    assert replay.session_totals(repo) == expected_for(corpus, [session, other])
    assert set(request_keys(repo).values()) == {1}


# --- routing by each line's own cwd --------------------------------------------------------


def test_requests_go_to_the_repository_of_their_own_cwd(corpus: Corpus, tmp_path: Path) -> None:
    repo_a = replay.make_repo(tmp_path / "a")
    repo_b = replay.make_repo(tmp_path / "b" / "nested")
    outside = tmp_path / "outside" / "work"
    outside.mkdir(parents=True)
    assert find_worktree(outside) is None
    routed = corpus.routed
    session = replay.prepare(corpus, corpus.main, routed, repo_a, config_dir())
    usage = requests_in(session.files[session.main])
    order = list(usage)
    to_b, dropped = set(order[1::3]), set(order[2::3])  # interleaved with A's requests
    copies = replay.progress_only(corpus, corpus.main, routed)  # their progress lines stay in A
    to_a = set(order) - to_b - dropped | set(copies)
    usage.update(copies)
    session.files[session.main] = _moved(session.files[session.main], repo_a,
                                         {**dict.fromkeys(to_b, repo_b / "sub"),
                                          **dict.fromkeys(dropped, outside)})
    replay.replay_in_chunks(session, chunks=3)
    assert request_keys(repo_a) == Counter(to_a)
    assert request_keys(repo_b) == Counter(to_b)
    assert replay.session_totals(repo_a) == {routed: totals(usage, to_a)}
    assert replay.session_totals(repo_b) == {routed: totals(usage, to_b)}
    assert totals(usage, set(usage)) == replay.expected_sessions(corpus)[routed]
    sessions_b = [r for r in parsed_records(repo_b) if r["kind"] == "session"]
    assert [r["session_id"] for r in sessions_b] == [routed]


def _moved(content: bytes, home: Path, where: dict[str, Path]) -> bytes:
    """Point the cwd of every line of the chosen requests somewhere else."""
    out = []
    for line in content.splitlines(keepends=True):
        keys = list(requests_in(line))
        if keys and keys[0] in where:
            line = line.replace(f'"cwd":"{home}"'.encode(), f'"cwd":"{where[keys[0]]}"'.encode())
            assert str(where[keys[0]]).encode() in line
        out.append(line)
    return b"".join(out)


# --- status, log and report agree ------------------------------------------------------------


def mixed_repo(corpus: Corpus, tmp: Path) -> tuple[Path, list[replay.Session], set[str]]:
    """Every session of the corpus in one repository; some committed, the rest pending."""
    repo = replay.make_repo(tmp / "repo")
    sessions = [replay.prepare(corpus, project, main.stem, repo, config_dir())
                for project in corpus.cwds for main in replay.session_mains(corpus, project)]
    pending = {s.session_id for s in sessions[::2]}
    for session in sorted(sessions, key=lambda s: s.session_id in pending):
        replay.write_whole(session)
        replay.fire(session, "Stop")
        if session.session_id not in pending:  # one commit per committed session
            git(repo, "commit", "-q", "--allow-empty", "-m", session.session_id)
            tokentag("git-hook", "post-commit", cwd=repo)
    return repo, sessions, pending


def _sum_tokens(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {f: sum(row["tokens"][f] for row in rows) for f in TOKEN_FIELDS}


def _log(repo: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli_json(repo, "log", "--all", *args)["requests"]
    return rows


def test_status_log_and_report_agree(corpus: Corpus, tmp_path: Path) -> None:
    repo, sessions, pending = mixed_repo(corpus, tmp_path)
    expected = replay.expected_sessions(corpus)
    grand = {f: sum(expected[s.session_id][f] for s in sessions) for f in TOKEN_FIELDS}
    state = status(repo)
    every = _log(repo)
    assert len(every) == state["requests"] == len(keys_in(corpus, *sessions))
    assert _sum_tokens(every) == grand
    assert (state["sessions"], state["commits"]) == (len(sessions), len(sessions) - len(pending))
    pending_rows = _log(repo, "--pending")
    assert len(pending_rows) == state["pending"] > 0
    assert {r["session"] for r in pending_rows} == pending
    for session in sessions:
        rows = _log(repo, "--session", session.session_id)
        assert _sum_tokens(rows) == expected[session.session_id]
    for model, count in Counter(row["model"] for row in every).items():
        assert len(_log(repo, "--model", model)) == count
    _check_time_filters(repo, every)
    for by, key_of in ROW_KEYS.items():
        report = cli_json(repo, "report", "--by", by)
        _check_report(report, grand, len(every))
        requests = {r["key"]: r["requests"] for r in report["rows"]}
        assert requests == dict(Counter(key_of(row) for row in every)), by


def _monday(timestamp: str) -> str:
    day = date.fromisoformat(timestamp[:10])
    return (day - timedelta(days=day.weekday())).isoformat()


# Each report row's key, worked out from a `log --json` row.
ROW_KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "model": lambda row: str(row["model"]),
    "day": lambda row: str(row["timestamp"][:10]),
    "week": lambda row: _monday(row["timestamp"]),
    "month": lambda row: str(row["timestamp"][:7]),
    "branch": lambda row: str(row["branch"] or "(none)"),
    "session": lambda row: str(row["session"]),
    "commit": lambda row: str(row["commit"] or "(pending)"),
}


def _check_time_filters(repo: Path, every: list[dict[str, Any]]) -> None:
    """--since and --until split at the same moment partition the requests."""
    stamps = sorted(row["timestamp"] for row in every)
    middle = stamps[len(stamps) // 2]
    early, late = _log(repo, "--until", middle), _log(repo, "--since", middle)
    assert len(early) + len(late) == len(every)
    assert all(r["timestamp"] < middle for r in early)
    assert all(r["timestamp"] >= middle for r in late)
    before = _log(repo, "--until", "2025-12-31")  # a bare date: the whole day included
    after = _log(repo, "--since", "2026-01-01")
    assert len(before) + len(after) == len(every) and before and after
    split = [cli_json(repo, "report", "--by", "day", "--until", "2025-12-31"),
             cli_json(repo, "report", "--by", "day", "--since", "2026-01-01")]
    assert [r["totals"]["requests"] for r in split] == [len(before), len(after)]
    assert [r["totals"]["tokens"] for r in split] == [_sum_tokens(before), _sum_tokens(after)]


def _check_report(report: dict[str, Any], grand: dict[str, int], requests: int) -> None:
    """Rows are distinct and add up to the totals, which are the sessions' exact sums."""
    rows, total = report["rows"], report["totals"]
    assert total["tokens"] == grand and total["requests"] == requests
    assert _sum_tokens(rows) == grand
    assert sum(r["requests"] for r in rows) == requests
    assert len({r["key"] for r in rows}) == len(rows)
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    assert sum(costs) == pytest.approx(total["cost_usd"], abs=1e-5)


def test_a_flat_agent_file_is_opened_until_its_first_line_is_whole_then_never(
        tmp_path: Path, mocker: Any) -> None:
    mine, theirs, growing = (tmp_path / f"agent-{n}.jsonl" for n in ("a1", "b2", "c3"))
    mine.write_bytes(b'{"type":"user","sessionId":"s-1"}\n')
    theirs.write_bytes(b'{"type":"user","sessionId":"s-2"}\n')
    growing.write_bytes(b'{"type":"user","sessio')
    opened = mocker.spy(transcript, "_first_line")

    own, learned, whole = transcript.flat_agent_files(
        transcript.agent_files_in(str(tmp_path)), "s-1", {})
    assert own == [str(mine)]
    assert learned == {str(mine): "s-1", str(theirs): "s-2"}  # not the partial one
    assert not whole
    assert opened.call_count == 3

    growing.write_bytes(b'{"type":"user","sessionId":"s-1"}\n')
    opened.reset_mock()
    own, learned, whole = transcript.flat_agent_files(
        transcript.agent_files_in(str(tmp_path)), "s-1", learned)
    assert own == [str(mine), str(growing)]
    assert learned == {str(growing): "s-1"}
    assert whole
    assert opened.call_count == 1


def test_a_flat_agent_file_is_known_by_its_session_id_however_long_its_first_line(
        tmp_path: Path) -> None:
    prompt = b"x" * (transcript.FIRST_LINE_READ + 5_000)
    long_prompt, one_line, no_id = (tmp_path / f"agent-{n}.jsonl" for n in ("a1", "b2", "c3"))
    long_prompt.write_bytes(b'{"sessionId":"s-1","message":"' + prompt + b'"}\n')
    one_line.write_bytes(b'{"type":"assistant","sessionId":"s-1"}')  # no newline yet
    no_id.write_bytes(b'{"message":"' + prompt + b'","sessionId":"s-1"}\n')  # id read past
    own, learned, whole = transcript.flat_agent_files(
        transcript.agent_files_in(str(tmp_path)), "s-1", {})
    assert own == [str(long_prompt), str(one_line)]
    assert learned == {str(long_prompt): "s-1", str(one_line): "s-1", str(no_id): ""}
    assert whole


def test_a_failed_listing_forgets_nothing_and_stamps_nothing(tmp_path: Path,
                                                             mocker: Any) -> None:
    project = tmp_path / "project"
    project.mkdir()
    mine = project / "agent-a1.jsonl"
    mine.write_bytes(b'{"sessionId":"s-1"}\n')
    old = time.time_ns() - 60 * 10**9
    with Store(tmp_path / "tokentag").reading(create=True) as index:
        index.remember_agent_files({str(mine): "s-1"}, [], str(project), None)
        (project / "agent-b2.jsonl").write_bytes(b'{"sessionId":"s-1"}\n')
        os.utime(project, ns=(old, old))
        mocker.patch.object(os, "scandir", side_effect=OSError(errno.EMFILE, "Too many files"))
        flat = catch_up.FlatAgents.look(index, str(project), "s-1")
        assert flat.own == [str(mine)]  # what was known, and no more
        assert not flat.news
        mocker.stopall()
        flat = catch_up.FlatAgents.look(index, str(project), "s-1")
        assert flat.own == [str(mine), str(project / "agent-b2.jsonl")]
        assert flat.listed_ns == old


def test_a_dir_knows_only_the_agent_files_directly_in_it(tmp_path: Path) -> None:
    outer, inner = str(tmp_path / "p"), str(tmp_path / "p" / "sub")
    with Store(tmp_path / "tokentag").reading(create=True) as index:
        index.remember_agent_files({f"{outer}/agent-a.jsonl": "s-1",
                                    f"{inner}/agent-b.jsonl": "s-1"}, [], outer, None)
        assert index.agent_file_sessions(outer) == {f"{outer}/agent-a.jsonl": "s-1"}
        assert index.agent_files_of(outer, "s-1") == [f"{outer}/agent-a.jsonl"]
        assert index.agent_files_of(inner, "s-1") == [f"{inner}/agent-b.jsonl"]


def test_paths_resolve_as_realpath_does_with_one_lookup_per_dir(tmp_path: Path) -> None:
    real_dir = tmp_path / "real" / "project"
    (real_dir / "s1" / "subagents").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (real_dir / "s1.jsonl").write_bytes(b"")
    (real_dir / "s1" / "subagents" / "agent-a.jsonl").write_bytes(b"")
    (real_dir / "s1" / "subagents" / "agent-b.jsonl").symlink_to(real_dir / "s1.jsonl")
    via_link = tmp_path / "linked" / "project"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "y").symlink_to(real_dir)  # `..` after it is real/, not x/
    given = [via_link / "s1.jsonl", via_link / "s1" / "subagents" / "agent-a.jsonl",
             via_link / "s1" / "subagents" / "agent-b.jsonl", via_link / "gone.jsonl",
             Path(f"{tmp_path}/x/y/../project/s1.jsonl"), Path(f"{tmp_path}/x/y/s1/..")]
    expected = list(dict.fromkeys(os.path.realpath(p) for p in given))
    assert catch_up._real_paths(given) == expected
    assert len(expected) == 4  # the linked agent file and the `..` path are the session file
