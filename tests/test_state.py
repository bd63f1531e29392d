"""The index is a cache, the state is kept: what a rebuilt, damaged or upgraded index does
to capture and attribution, through real hooks and real commits."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.claude_lines import Session
from tests.conftest import cli_json, git, tokentag
from tests.corpora import Corpus
from tests.session_writer import SessionWriter, requests_in, totals
from tests.test_attribution import Expected, by_commit, commit, install
from tokentag.ledger.index import INDEX_NAME, INDEX_VERSION, MIGRATIONS, STATE_NAME, Cursor
from tokentag.ledger.store import Store

OTHER_SESSION = "7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b"
PROC_IO = Path("/proc/self/io")


def tokentag_dir(repo: Path) -> Path:
    return repo / ".git" / "tokentag"


def remove(repo: Path, name: str) -> None:
    for path in tokentag_dir(repo).glob(f"{name}*"):
        path.unlink()


def bytes_read(action: Callable[[], object]) -> int:
    """What `action`'s child processes read, all of them (git, its hooks, tokentag): Linux
    adds a child's I/O counters to its parent's when the parent reaps it."""
    def rchar() -> int:
        line = next(ln for ln in PROC_IO.read_text().splitlines() if ln.startswith("rchar:"))
        return int(line.split()[1])

    before = rchar()
    action()
    return rchar() - before


def filler_line(size: int) -> bytes:
    """A transcript line with no usage, as a long tool result makes: read, never counted."""
    return json.dumps({"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "content": "x" * size}]}}).encode() + b"\n"


def long_session(corpus: Corpus, repo: Path, expected: Expected) -> SessionWriter:
    """Several hook calls and commits, one tool result of 8 MB among them."""
    writer = SessionWriter(repo, corpus)
    for step in range(6):
        writer.write(120)
        if step == 1:
            with writer.path.open("ab") as handle:
                handle.write(filler_line(8 << 20))
        writer.hook()
        if step % 2:
            expected.commit(commit(repo, f"step {step}"), writer)
    return writer


def set_index_version(repo: Path, version: int) -> None:
    db = sqlite3.connect(tokentag_dir(repo) / INDEX_NAME)
    try:
        db.execute(f"PRAGMA user_version={version}")
    finally:
        db.close()


def damage_after_header(path: Path) -> None:
    """Keep the 100-byte header, so the file still opens and tells its version, and
    overwrite everything after it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xa5" * (size - 100))


SPOILS: dict[str, Callable[[Path], None]] = {
    "deleted": lambda repo: remove(repo, INDEX_NAME),
    "of another version": lambda repo: set_index_version(repo, INDEX_VERSION + 1),
    "damaged, its header intact": lambda repo: damage_after_header(
        tokentag_dir(repo) / INDEX_NAME),
}


@pytest.mark.skipif(not PROC_IO.exists(), reason="counts bytes read through /proc/self/io")
@pytest.mark.parametrize("spoil", SPOILS)
def test_a_rebuilt_index_costs_the_next_commit_only_the_new_transcript_bytes(
        corpus: Corpus, repo: Path, spoil: str) -> None:
    install(repo)
    expected = Expected()
    writer = long_session(corpus, repo, expected)
    already_read = writer.path.stat().st_size
    SPOILS[spoil](repo)
    writer.write(200)  # no hook: the agent commits mid-turn
    unseen = SessionWriter(repo, corpus, session_id=OTHER_SESSION)  # its hooks never ran
    unseen.write(300)
    read = bytes_read(lambda: commit(repo, "after the index was spoilt"))
    sha = git(repo, "rev-parse", "HEAD")
    expected.commit(sha, writer, unseen)
    assert requests_in(unseen.path.read_bytes()).keys() <= expected.by_commit[sha]
    assert by_commit(repo)[sha] == expected.totals(sha)
    # The new bytes, the ledger (to fold it again), python's and git's own files: far less
    # than the 8 MB already read before.
    new_bytes = writer.path.stat().st_size - already_read + unseen.path.stat().st_size
    assert new_bytes < read < already_read / 2
    assert not (tokentag_dir(repo) / "tokentag.log").exists()
    # The state is what made the difference: without it, the next commit reads it all.
    remove(repo, INDEX_NAME)
    remove(repo, STATE_NAME)
    writer.write(10)
    assert bytes_read(lambda: commit(repo, "after the state was deleted too")) > already_read


def hook_log(repo: Path) -> list[str]:
    log = tokentag_dir(repo) / "tokentag.log"
    return [ln for ln in log.read_text().splitlines() if not ln.startswith(" ")] \
        if log.exists() else []


def session_totals(repo: Path) -> dict[str, dict[str, int]]:
    data = cli_json(repo, "report", "--by", "session")
    return {row["key"]: row["tokens"] for row in data["rows"]}


def totals_of(*writers: SessionWriter) -> dict[str, dict[str, int]]:
    return {w.session_id: totals(requests_in(w.path.read_bytes()),
                                 set(requests_in(w.path.read_bytes()))) for w in writers}


def request_records(repo: Path) -> list[str]:
    ledger = (tokentag_dir(repo) / "ledger.jsonl").read_bytes().splitlines()
    return [r["key"] for r in map(json.loads, ledger) if r["kind"] == "request"]


def test_a_transcript_replaced_by_a_longer_file_is_read_from_its_start(corpus: Corpus,
                                                                       repo: Path) -> None:
    """The cursor knows the file it read: another one at the same path, even one longer
    than the cursor, is read whole."""
    install(repo)
    writer = SessionWriter(repo, corpus)
    writer.write(150)
    writer.hook()
    other = SessionWriter(repo, corpus, session_id=OTHER_SESSION)
    other.write(600)
    assert other.path.stat().st_size > writer.path.stat().st_size
    os.replace(other.path, writer.path)  # a new file at the same path
    writer.hook()
    replacement = requests_in(writer.path.read_bytes())
    assert session_totals(repo)[OTHER_SESSION] == totals(replacement, set(replacement))
    assert set(replacement) <= set(request_records(repo))
    assert len(request_records(repo)) == len(set(request_records(repo)))


def pages_of(path: Path, names: set[str]) -> set[int]:
    """The root pages of these tables and indexes (each fits one page in these tests)."""
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT rootpage FROM sqlite_master WHERE name IN "
                                            f"({','.join('?' * len(names))})", sorted(names))}
    finally:
        db.close()


def damage_pages(path: Path, keep: set[int]) -> None:
    """Overwrite every page but the first and `keep`."""
    db = sqlite3.connect(path)
    try:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    pages = path.stat().st_size // page_size
    with path.open("r+b") as handle:
        for page in set(range(2, pages + 1)) - keep:
            handle.seek((page - 1) * page_size)
            handle.write(b"\xa5" * page_size)


def test_damage_found_in_use_fails_that_call_once_and_the_next_rebuilds(corpus: Corpus,
                                                                        repo: Path) -> None:
    """The header and the index's bookkeeping read fine, its requests do not: the hook
    that meets them logs one line and removes the index; nothing is lost."""
    install(repo)
    writer = SessionWriter(repo, corpus)
    writer.write(300)
    writer.hook()
    index = tokentag_dir(repo) / INDEX_NAME
    damage_pages(index, pages_of(index, {"meta", "sqlite_autoindex_meta_1"}))
    writer.write(300)
    writer.hook()
    assert len(hook_log(repo)) == 1 and "removed the damaged file" in hook_log(repo)[0]
    writer.hook()
    assert session_totals(repo) == totals_of(writer)
    assert len(hook_log(repo)) == 1


def test_a_state_file_that_is_not_a_database_is_reset_and_read_again(corpus: Corpus,
                                                                     repo: Path) -> None:
    install(repo)
    writer = SessionWriter(repo, corpus)
    writer.write(300)
    writer.hook()
    before = request_records(repo)
    (tokentag_dir(repo) / STATE_NAME).write_bytes(b"not a database" * 300)
    writer.write(100)
    writer.hook()
    assert hook_log(repo) == []
    assert session_totals(repo) == totals_of(writer)
    assert request_records(repo)[:len(before)] == before
    assert len(request_records(repo)) == len(set(request_records(repo)))
    with Store(tokentag_dir(repo)).reading() as index:
        cursor = index.cursors_of([str(writer.path)]).get(str(writer.path))
    assert cursor is not None and cursor.carry is not None  # the reader's state is kept
    assert cursor._replace(carry=None) == Cursor.at(writer.path.stat().st_size,
                                                    writer.path.stat())


def test_a_damaged_state_file_keeps_the_stamps_it_can_still_read(corpus: Corpus,
                                                                 repo: Path) -> None:
    install(repo)
    writer = SessionWriter(repo, corpus)
    writer.write(300)
    writer.hook()
    commit(repo, "first")  # sets when commits last looked for transcripts
    with Store(tokentag_dir(repo)).reading() as index:
        flushed = index.last_flush_ns()
    state = tokentag_dir(repo) / STATE_NAME
    damage_pages(state, pages_of(state, {"migrations", "sqlite_autoindex_migrations_1",
                                         "stamps", "sqlite_autoindex_stamps_1"}))
    writer.write(100)
    writer.hook()  # meets the damaged cursors: logs, resets the state
    assert len(hook_log(repo)) == 1 and STATE_NAME in hook_log(repo)[0]
    writer.hook()
    assert session_totals(repo) == totals_of(writer)
    with Store(tokentag_dir(repo)).reading() as index:
        assert flushed is not None and index.last_flush_ns() == flushed
        assert index.cursors_of([str(writer.path)]).get(str(writer.path)) is not None


def test_a_repeated_import_that_meets_damaged_state_says_so_as_the_command_line_does(
        repo: Path) -> None:
    """Answered without click or not: the damage is told in one line (exit 1), the state
    is made again, and the next import reads the transcript again and adds nothing."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")  # takes what is imported
    Session(repo).add()
    tokentag("import", cwd=repo)
    tokentag("import", cwd=repo)
    state = tokentag_dir(repo) / STATE_NAME
    damage_pages(state, pages_of(state, {"migrations", "sqlite_autoindex_migrations_1",
                                         "stamps", "sqlite_autoindex_stamps_1"}))
    told = tokentag("import", cwd=repo, check=False)
    assert (told.returncode, told.stdout, len(told.stderr.splitlines())) == (1, "", 1)
    assert told.stderr.startswith("tokentag: ") and "removed the damaged file" in told.stderr
    again = cli_json(repo, "import")
    assert (again["files_read"], again["new"], again["known"]) == (1, 0, 1)


def test_an_index_of_version_3_hands_its_cursors_and_stamps_to_the_state_file(
        tmp_path: Path) -> None:
    """Before the state file, index.sqlite (version 3) held them: upgrading must not make
    the next commit read every transcript again, nor forget when commits last looked."""
    old = sqlite3.connect(tmp_path / INDEX_NAME)
    old.executescript(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE cursors (path TEXT PRIMARY KEY, offset INTEGER, session_id TEXT, "
        "size INTEGER, mtime_ns INTEGER);"
        "INSERT INTO cursors VALUES ('/p/a.jsonl', 1200, 's', 1500, 77);"
        "INSERT INTO meta VALUES ('last_flush_ns', '1700000000000000000'), "
        "('import_inferred_at', 'main=abc'), ('import_refs_seen', 'refs'), "
        "('ledger_offset', '999'); PRAGMA user_version=3;")
    old.close()
    with Store(tmp_path).reading() as index:
        assert index.cursors() == {"/p/a.jsonl": Cursor(1200, 1500, 77, None, None)}
        assert index.last_flush_ns() == 1700000000000000000
        assert index.import_stamps() == ("main=abc", "refs")
        assert index.reads.summary().requests == 0
    rebuilt = sqlite3.connect(tmp_path / INDEX_NAME)
    try:
        assert rebuilt.execute("PRAGMA user_version").fetchone()[0] == INDEX_VERSION
        assert rebuilt.execute("SELECT name FROM sqlite_master WHERE name='cursors'"
                               ).fetchall() == []
    finally:
        rebuilt.close()


def applied_migrations(directory: Path) -> list[str]:
    db = sqlite3.connect(directory / STATE_NAME)
    try:
        return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]
    finally:
        db.close()


def test_a_state_file_gets_the_migrations_it_lacks_in_order_and_once(tmp_path: Path) -> None:
    state = sqlite3.connect(tmp_path / STATE_NAME)
    state.executescript(  # as the first migration left it
        "CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT);"
        "CREATE TABLE cursors (path TEXT PRIMARY KEY, offset INTEGER NOT NULL, size INTEGER, "
        "mtime_ns INTEGER, dev INTEGER, ino INTEGER);"
        "INSERT INTO migrations VALUES ('m001_cursors', '2026-01-01T00:00:00.000Z');"
        "INSERT INTO cursors VALUES ('/p/a.jsonl', 5, 5, 1, 2, 3);")
    state.close()
    for _ in range(2):
        with Store(tmp_path).reading() as index:
            assert index.cursors() == {"/p/a.jsonl": Cursor(5, 5, 1, 2, 3)}
            assert index.last_flush_ns() is None
    assert applied_migrations(tmp_path) == [m.__name__ for m in MIGRATIONS]
    assert len(MIGRATIONS) == len({m.__name__ for m in MIGRATIONS})
    index = sqlite3.connect(tmp_path / INDEX_NAME)  # made after the state was attached
    try:
        assert index.execute("PRAGMA page_size").fetchone()[0] == 16384
    finally:
        index.close()
