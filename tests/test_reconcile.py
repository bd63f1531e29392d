"""Usage only a Claude Code session's running totals show (`cost-state` lines), recorded once.

The transcripts are written here in Claude Code 2.1.3xx's shape (tests/claude_lines.py), line
by line in the order the client writes them, across the main file and a subagent's file.
The figures are those of a real 2.1.328 session: its request lines summed to 120 / 2,440 /
41,096 / 249,414 (input / output / cache write / cache read), its last `cost-state` said
157 / 3,129 / 53,027 / 275,015, and the difference was a compaction no line shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session, compact
from tests.conftest import git, tokentag
from tests.replay import session_totals

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-6"
FIELDS = ("input", "output", "cache_creation", "cache_read")
SESSION_ID = "5e55a0e1-2c0d-4c5e-9b1a-000000000328"
LINES_TOTAL = dict(zip(FIELDS, (120, 2440, 41096, 249414), strict=True))
COST_STATE_TOTAL = dict(zip(FIELDS, (157, 3129, 53027, 275015), strict=True))
COMPACTION = dict(zip(FIELDS, (37, 689, 11931, 25601), strict=True))


def ts(minute: int) -> str:
    return f"2026-11-20T09:{minute:02d}:00.000Z"


def counts(*values: int) -> dict[str, int]:
    return dict(zip(FIELDS, values, strict=True))


def plus(*parts: dict[str, int]) -> dict[str, int]:
    return {f: sum(p[f] for p in parts) for f in FIELDS}


def with_total(tokens: dict[str, int]) -> dict[str, int]:
    return {**tokens, "total": sum(tokens[f] for f in FIELDS)}


@dataclass
class Written:
    """A session's lines in the order Claude Code writes them, each with its file."""

    main: Session
    events: list[tuple[Path, bytes]] = field(default_factory=list)

    def add(self, session: Session, lines: bytes) -> None:
        self.events.append((session.path, lines))

    def request(self, session: Session, *values: int, minute: int) -> dict[str, int]:
        tokens = counts(*values)
        entries = session.request_entries(
            input=tokens["input"], output=tokens["output"],
            cache_write=tokens["cache_creation"], cache_read=tokens["cache_read"],
            timestamp=ts(minute))
        self.add(session, b"".join(map(compact, entries)))
        if session is not self.main:  # the main file echoes a subagent's requests
            self.add(self.main, self.main.progress_lines(session, entries))
        return tokens

    def cost_state(self, totals: dict[str, dict[str, int]]) -> None:
        self.add(self.main, self.main.cost_state_line(totals))

    @property
    def files(self) -> list[Path]:
        return list(dict.fromkeys(path for path, _ in self.events))

    def stream(self) -> bytes:
        return b"".join(lines for _, lines in self.events)


def issue_session(repo: Path, empty_on_resume: bool = False) -> Written:
    """The real session's figures: two turns with a subagent, a compaction, an exit and a
    `--resume`; `cost-state` lines after each step, some repeated as the client repeats
    them (the restored totals on resume among them, after an empty reading if asked)."""
    main = Session(repo, SESSION_ID, model=SONNET, version="2.1.328")
    agent = main.subagent("a5e3c1f9", HAIKU)
    w = Written(main)
    w.add(main, main.user_line("Find where the parser drops lines", ts(0)))
    r1 = w.request(main, 10, 400, 9000, 20000, minute=1)
    a1 = w.request(agent, 12, 300, 5000, 30000, minute=2)
    a2 = w.request(agent, 8, 240, 3000, 19414, minute=3)
    r2 = w.request(main, 20, 600, 6000, 60000, minute=4)
    w.cost_state({SONNET: plus(r1, r2), HAIKU: plus(a1, a2)})
    w.cost_state({SONNET: plus(r1, r2), HAIKU: plus(a1, a2)})
    w.add(main, main.system_line("compact_boundary", ts(5)))  # the compaction's only trace
    w.cost_state({SONNET: plus(r1, r2, COMPACTION), HAIKU: plus(a1, a2)})
    w.add(main, main.user_line("Now fix it", ts(6)))
    r3 = w.request(main, 30, 500, 8000, 70000, minute=7)
    w.cost_state({SONNET: plus(r1, r2, r3, COMPACTION), HAIKU: plus(a1, a2)})
    # The process exits; `claude --resume` restores the totals into the same file.
    if empty_on_resume:
        w.cost_state({})
    w.cost_state({SONNET: plus(r1, r2, r3, COMPACTION), HAIKU: plus(a1, a2)})
    w.add(main, main.user_line("And add a test", ts(8)))
    r4 = w.request(main, 40, 400, 10096, 50000, minute=9)
    w.cost_state({SONNET: plus(r1, r2, r3, r4, COMPACTION), HAIKU: plus(a1, a2)})
    assert plus(r1, r2, r3, r4, a1, a2) == LINES_TOTAL
    return w


def restarted_session(repo: Path) -> Written:
    """Totals that start again lower (`/clear`): each epoch's last totals count. The
    totals name the model as the 1M-context variant (`[1m]`), its lines without it."""
    main = Session(repo, "c1ea0000-0000-4000-8000-000000000001", model=OPUS,
                   version="2.1.328")
    w = Written(main)
    hidden1, hidden2 = counts(1, 10, 100, 200), counts(2, 20, 30, 0)
    r1 = w.request(main, 5, 100, 1000, 2000, minute=1)
    w.cost_state({f"{OPUS}[1m]": plus(r1, hidden1)})
    w.add(main, main.user_line("/clear", ts(2)))
    r2 = w.request(main, 2, 30, 300, 700, minute=3)
    w.cost_state({f"{OPUS}[1m]": r2})  # lower than before: a new epoch
    r3 = w.request(main, 4, 60, 600, 1500, minute=4)
    w.cost_state({f"{OPUS}[1m]": plus(r2, r3, hidden2)})
    w.cost_state({f"{OPUS}[1m]": plus(r2, r3, hidden2)})
    return w


# -- writing the files as Claude Code does, with hooks in between -----------------------------


def write_all(written: Written) -> None:
    for path in written.files:
        path.write_bytes(b"")
    for path, lines in written.events:
        with path.open("ab") as handle:
            handle.write(lines)


def replay(written: Written, cuts: list[int]) -> None:
    """Write the lines in their order, a hook firing at each of `cuts` (positions in all the
    files' bytes in writing order, mid-line as often as not), then SubagentStop and Stop."""
    for path in written.files:
        path.write_bytes(b"")
    position = 0
    for cut in [*sorted(cuts), len(written.stream())]:
        _write_between(written, position, cut)
        position = cut
        written.main.hook("PostToolUse", tool_name="Bash", tool_use_id=f"toolu_{cut}")
    for path in written.files[1:]:
        written.main.hook("SubagentStop", agent_transcript_path=str(path),
                          agent_id=path.stem.removeprefix("agent-"))
    written.main.hook("Stop")


def _write_between(written: Written, start: int, end: int) -> None:
    offset = 0
    for path, lines in written.events:
        low, high = max(start, offset), min(end, offset + len(lines))
        if low < high:
            with path.open("ab") as handle:
                handle.write(lines[low - offset:high - offset])
        offset += len(lines)


def by_model(repo: Path) -> dict[str, dict[str, int]]:
    data = json.loads(tokentag("report", "--by", "model", "--json", cwd=repo).stdout)
    return {row["key"]: row["tokens"] for row in data["rows"]}


def requests(repo: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        tokentag("log", "--json", "--all", cwd=repo).stdout)["requests"]
    return rows


def reconciled(repo: Path) -> dict[str, int]:
    rows = [r for r in requests(repo) if r["via"].endswith(":reconciled")]
    return {f: sum(r["tokens"][f] for r in rows) for f in FIELDS}


# -- the session of the real figures --------------------------------------------------------


def test_one_read_gives_the_last_running_totals_exactly(repo: Path) -> None:
    written = issue_session(repo)
    write_all(written)
    written.main.hook("Stop")
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}
    assert reconciled(repo) == COMPACTION
    models = by_model(repo)
    assert models[HAIKU] == with_total(counts(20, 540, 8000, 49414))  # no difference there
    assert models[SONNET] == with_total(counts(137, 2589, 45027, 225601))
    rows = [r for r in requests(repo) if r["via"].endswith(":reconciled")]
    assert [(r["model"], r["session"], r["agent"], r["commit"]) for r in rows] == \
        [(SONNET, SESSION_ID, None, None)]  # pending, like any request
    assert rows[0]["cache_creation_5m"] == COMPACTION["cache_creation"]  # the totals' split
    # The progress copies of the subagent's requests are not counted: its file is there.
    assert not [r for r in requests(repo) if r["via"].endswith(":progress")]


@pytest.mark.parametrize("pieces", [2, 3, 5, 8, 13, 21])
def test_hooks_reading_in_pieces_give_what_one_read_gives(repo: Path, pieces: int) -> None:
    written = issue_session(repo)
    size = len(written.stream())
    replay(written, [size * step // pieces for step in range(1, pieces)])
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}
    assert reconciled(repo) == COMPACTION


def test_a_hook_after_each_line_and_right_before_each_running_total(repo: Path) -> None:
    written = issue_session(repo)
    ends, offset = [], 0
    for _, lines in written.events:
        for line in lines.splitlines(keepends=True):
            ends += [offset + 1, offset + len(line)]  # mid-line, then at its end
            offset += len(line)
    replay(written, ends[:-1])
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}
    assert reconciled(repo) == COMPACTION


def test_import_gives_the_same_and_adds_nothing_after_hooks(repo: Path, tmp_path: Path) -> None:
    written = issue_session(repo)
    write_all(written)
    summary = json.loads(tokentag("import", "--json", cwd=repo).stdout)
    assert summary["reconciled"] == 1 and summary["new"] == 6  # 4 main + 2 subagent requests
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}
    assert reconciled(repo) == COMPACTION
    written.main.hook("Stop")  # a hook reads everything again into the same ledger
    assert json.loads(tokentag("import", "--json", cwd=repo).stdout)["files_read"] == 0
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}

    other = tmp_path / "other"  # hooks first, then an import: nothing new either
    other.mkdir()
    git(other, "init", "-q")
    again = issue_session(other)
    replay(again, [len(again.stream()) // 2])
    summary = json.loads(tokentag("import", "--json", cwd=other).stdout)
    assert summary["new"] == summary["reconciled"] == summary["progress_copies"] == 0
    assert session_totals(other) == {SESSION_ID: with_total(COST_STATE_TOTAL)}


def test_an_import_that_sees_part_of_a_session_leaves_the_totals_for_later(repo: Path) -> None:
    """With --since, requests before it are not read: reconciled against the rest, the
    running totals would count them again."""
    written = issue_session(repo)
    write_all(written)
    partial = json.loads(tokentag("import", "--json", "--since", "2026-11-20T09:05:00Z",
                                  cwd=repo).stdout)
    assert partial["reconciled"] == 0 and partial["out_of_range"] > 0
    whole = json.loads(tokentag("import", "--json", cwd=repo).stdout)
    assert whole["reconciled"] == 1
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}


def test_the_reconciled_usage_goes_to_the_next_commit(repo: Path) -> None:
    tokentag("install", cwd=repo)
    written = issue_session(repo)
    write_all(written)
    written.main.hook("Stop")
    git(repo, "commit", "-q", "--allow-empty", "-m", "after the compaction")
    head = git(repo, "rev-parse", "HEAD")
    shown = json.loads(tokentag("show", "HEAD", "--json", cwd=repo).stdout)
    assert shown["commit"] == head
    assert shown["tokens"] == with_total(COST_STATE_TOTAL)
    assert {r["commit"] for r in requests(repo)} == {head}


# -- totals that start again, and totals that fall short ----------------------------------------


@pytest.mark.parametrize("pieces", [1, 4, 9])
def test_totals_that_start_again_are_a_new_epoch_never_a_negative(repo: Path,
                                                                  pieces: int) -> None:
    written = restarted_session(repo)
    size = len(written.stream())
    replay(written, [size * step // pieces for step in range(1, pieces)])
    lines = counts(5 + 2 + 4, 100 + 30 + 60, 1000 + 300 + 600, 2000 + 700 + 1500)
    hidden = plus(counts(1, 10, 100, 200), counts(2, 20, 30, 0))
    assert session_totals(repo) == {written.main.session_id: with_total(plus(lines, hidden))}
    rows = [r for r in requests(repo) if r["via"].endswith(":reconciled")]
    assert {r["model"] for r in rows} == {OPUS}  # the lines' name for it, not `[1m]`


@pytest.mark.parametrize("pieces", [1, 6])
def test_a_reading_that_holds_nothing_is_no_restart(repo: Path, pieces: int) -> None:
    """Taken for one, the totals restored after it would count the session twice."""
    written = issue_session(repo, empty_on_resume=True)
    size = len(written.stream())
    replay(written, [size * step // pieces for step in range(1, pieces)])
    assert session_totals(repo) == {SESSION_ID: with_total(COST_STATE_TOTAL)}


def test_totals_below_the_request_lines_add_nothing(repo: Path) -> None:
    main = Session(repo, "10f00000-0000-4000-8000-000000000001", model=SONNET,
                   version="2.1.328")
    written = Written(main)
    r1 = written.request(main, 10, 100, 1000, 5000, minute=1)
    written.cost_state({SONNET: counts(3, 100, 900, 9000), HAIKU: counts(0, 0, 0, 0)})
    write_all(written)
    main.hook("Stop")
    assert session_totals(repo) == {main.session_id: with_total(
        plus(r1, counts(0, 0, 0, 4000)))}  # only what the totals hold beyond the lines
