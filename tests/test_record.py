"""`tokentag record`: usage stated by hand or by another tool, through real subprocesses in
real repositories with the hooks installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, tokentag
from tests.test_attribution import commit, install
from tokentag.ledger import schema

SONNET = "claude-sonnet-4-5"


def ledger(repo: Path) -> Path:
    return repo / ".git" / "tokentag" / "ledger.jsonl"


def ledger_bytes(repo: Path) -> bytes:
    return ledger(repo).read_bytes() if ledger(repo).exists() else b""


def log(repo: Path, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        tokentag("log", "--all", "--json", *args, cwd=repo).stdout)["requests"]
    return rows


def by(repo: Path, group: str) -> dict[str, dict[str, Any]]:
    data = json.loads(tokentag("report", "--by", group, "--json", cwd=repo).stdout)
    return {row["key"]: row for row in data["rows"]}


@pytest.fixture
def project(repo: Path) -> Path:
    install(repo)
    commit(repo, "base")
    return repo


def test_the_same_id_twice_records_once(project: Path) -> None:
    args = ("record", "--tokens-in", "1000", "--tokens-out", "1000", "--model", SONNET,
            "--agent", "cursor", "--session", "s-1", "--note", "pairing", "--id", "cursor-42")
    assert tokentag(*args, cwd=project).stdout == "recorded 1 estimated request(s)\n"
    lines = ledger_bytes(project)
    again = tokentag(*args, cwd=project)
    assert again.stdout == "recorded 0 estimated request(s), 1 already recorded\n"
    assert ledger_bytes(project) == lines  # nothing written
    [row] = log(project)
    assert row["request"] == "estimate:cursor-42"  # never a transcript's msg/req key
    assert (row["evidence"], row["agent"], row["session"], row["note"], row["commit"]) == \
        ("estimated", "cursor", "s-1", "pairing", None)
    # Priced like the rest: claude-sonnet-4-5 at $3 in, $15 out per MTok:
    # 1,000 x 3 + 1,000 x 15 = 18,000 / 1e6 -> $0.018
    totals = json.loads(tokentag("report", "--json", cwd=project).stdout)["totals"]
    assert totals["cost_usd"] == pytest.approx(0.018)
    assert totals["tokens"]["total"] == 2_000 and totals["requests"] == 1
    valid, problems = schema.validate_ledger(ledger(project))
    assert (valid, problems) == (1, [])


@pytest.mark.parametrize(("args", "error"), [
    (("--tokens-in", "-5", "--tokens-out", "1"),
     "--tokens-in must be a count of tokens from 0 to 4,294,967,295, not -5"),
    (("--tokens-in", "12.5", "--tokens-out", "1"),
     "--tokens-in must be a whole number, not '12.5'"),
    (("--tokens-in", "3", "--tokens-out", "lots"),
     "--tokens-out must be a whole number, not 'lots'"),
    (("--tokens-in", "3"), "--tokens-out is required"),
    (("--tokens-in", "1", "--tokens-out", "1", "--commit", "no-such-rev"),
     "unknown revision: no-such-rev"),
    (("--tokens-in", "1", "--tokens-out", "1", "--commit", "HEAD", "--task", "T-1"),
     "give --commit or --task, not both"),
])
def test_bad_input_is_one_line_exit_1_and_writes_nothing(project: Path, args: tuple[str, ...],
                                                         error: str) -> None:
    before = ledger_bytes(project)
    result = tokentag("record", *args, cwd=project, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"tokentag: {error}\n")
    assert ledger_bytes(project) == before


def write_lines(path: Path, *events: dict[str, Any] | str) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n"
                            for e in events))
    return path


def test_from_file_records_every_event_once(project: Path, tmp_path: Path) -> None:
    head = git(project, "rev-parse", "HEAD")
    events = write_lines(
        tmp_path / "events.jsonl",
        {"tokens_in": 500, "tokens_out": 100, "model": SONNET, "agent": "codex", "id": "a"},
        "",  # blank lines are skipped
        {"tokens_in": 40, "tokens_out": 60, "commit": head, "note": "review", "id": "b"},
        {"tokens_in": 7, "tokens_out": 3, "task": "OPS-12", "session_id": "s-9", "id": "c"},
        {"tokens_in": 500, "tokens_out": 100, "id": "a"})  # the first line again
    out = tokentag("record", "--from-file", str(events), cwd=project).stdout
    assert out == "recorded 3 estimated request(s), 1 already recorded; notes of 1 commit(s) " \
                  "updated\n"
    rows = {row["request"]: row for row in log(project)}
    assert {key: (row["evidence"], row["commit"], row["task"], row["tokens"]["total"])
            for key, row in rows.items()} == {
        "estimate:a": ("estimated", None, None, 600),
        "estimate:b": ("estimated", head, None, 100),
        "estimate:c": ("estimated", None, "OPS-12", 10)}
    text = tokentag("log", cwd=project).stdout
    assert text.count(" estimated\n") == 3 and "task OPS-12" in text
    commits = by(project, "commit")
    assert commits[head]["tokens"]["total"] == 100
    assert commits[head]["cost_usd"] is None  # no model: unpriced, never $0
    assert commits["(pending)"]["tokens"]["total"] == 600
    assert commits["(no commit)"]["tokens"]["total"] == 10
    assert by(project, "task")["OPS-12"]["tokens"]["total"] == 10
    # The commit's note was rewritten with it, so it travels with git.
    note = json.loads(git(project, "notes", "--ref", "refs/notes/tokentag", "show", head))
    assert [(g["evidence"], g["input"], g["output"]) for g in note["groups"]] == \
        [("estimated", 40, 60)]
    assert tokentag("record", "--from-file", str(events), cwd=project).stdout == \
        "recorded 0 estimated request(s), 4 already recorded\n"


def test_the_next_commit_takes_a_pending_record_but_never_a_task_s(project: Path) -> None:
    tokentag("record", "--tokens-in", "11", "--tokens-out", "22", cwd=project)
    tokentag("record", "--tokens-in", "5", "--tokens-out", "5", "--task", "T-3", cwd=project)
    assert [row["tokens"]["total"] for row in log(project, "--pending")] == [33]
    sha = commit(project, "takes what is pending")
    commits = by(project, "commit")
    assert commits[sha]["tokens"]["total"] == 33
    assert commits[sha]["evidence"]["estimated"] == 33
    assert commits["(no commit)"]["tokens"]["total"] == 10  # the work item's, kept out
    assert "(pending)" not in commits
    assert json.loads(tokentag("status", "--json", cwd=project).stdout)["pending"] == 0


def test_a_pending_record_names_its_branch_even_where_a_tag_shares_the_name(
        project: Path) -> None:
    git(project, "checkout", "-q", "-b", "x")
    git(project, "tag", "x")  # git's short name for the branch is now `heads/x`
    tokentag("record", "--tokens-in", "1", "--tokens-out", "2", cwd=project)
    last = json.loads(ledger_bytes(project).splitlines()[-1])
    assert (last["kind"], last["branch"]) == ("estimate", "x")


@pytest.mark.parametrize(("line", "error"), [
    ('{"tokens_in": 1, "tokens_out": -2}', "tokens_out must be a count of tokens from 0 to "
                                           "4,294,967,295, not -2"),
    ('{"tokens_in": 1.0, "tokens_out": 2}', "tokens_in must be a whole number, not 1.0"),
    ('{"tokens_in": true, "tokens_out": 2}', "tokens_in must be a whole number, not True"),
    ('{"tokens_in": 1, "tokens_out": 2, "commit": "HEAD", "task": "X-1"}',
     "give commit or task, not both"),
    ('{"tokens_in": 1, "tokens_out": 2, "commit": "nowhere"}', "unknown revision: nowhere"),
    ('{"tokens_in": 1, "tokens_out": 2, "tokens": 3}', "unknown field 'tokens'"),
    ('[1, 2]', "not a JSON object"),
    ('{"tokens_in": 1,', "not JSON: Expecting property name enclosed in double quotes: "
                        "line 1 column 17 (char 16)"),
])
def test_a_bad_line_names_itself_and_nothing_is_written(project: Path, tmp_path: Path,
                                                        line: str, error: str) -> None:
    events = write_lines(tmp_path / "events.jsonl", {"tokens_in": 1, "tokens_out": 1}, line)
    before = ledger_bytes(project)
    result = tokentag("record", "--from-file", str(events), cwd=project, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"tokentag: {events}: line 2: {error}\n")
    assert ledger_bytes(project) == before  # not even the good first line


def test_from_file_reads_stdin_and_takes_no_other_options(project: Path) -> None:
    out = tokentag("record", "--from-file", "-", cwd=project,
                   stdin='{"tokens_in": 2, "tokens_out": 3}\n').stdout
    assert out == "recorded 1 estimated request(s)\n"
    mixed = tokentag("record", "--from-file", "-", "--model", SONNET, cwd=project, stdin="",
                     check=False)
    assert (mixed.returncode, mixed.stderr) == (
        1, "tokentag: --from-file takes its events from the file: no other options\n")


def test_a_note_holding_a_text_longer_than_notes_take_is_still_read(project: Path) -> None:
    """A model name or session id of any length in the ledger: the note written for the
    commit must be one every teammate's tokentag reads, not one it skips whole."""
    from tokentag.notes.content import parse_note

    long_model, long_session = "m" * 900, "s" * 900
    tokentag("record", "--tokens-in", "100", "--tokens-out", "50", "--model", SONNET,
             "--commit", "HEAD", cwd=project)
    tokentag("record", "--tokens-in", "100", "--tokens-out", "50", "--model", long_model,
             "--session", long_session, "--commit", "HEAD", cwd=project)
    note = parse_note(git(project, "notes", "--ref", "tokentag", "show", "HEAD"))
    assert note is not None
    assert note["requests"] == 2 and note["sessions"] == 1
    assert sorted(note["models"]) == sorted([SONNET, long_model[:500]])
    assert sum(model["input"] for model in note["models"].values()) == 200
