"""Evidence kinds end to end: a real repository whose ledger holds requests of all four
kinds, each made the way it is made in use: observed by the hooks, inferred by
`tokentag import`'s time rule, reconciled with the builder capture uses, estimated with
`tokentag record`. Every figure is stated by hand below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit, install
from tests.test_release import clone_with_notes, release_json
from tokentag.core.usage import Usage
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger import records
from tokentag.ledger.store import Store

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-6"
KINDS = ("observed", "inferred", "reconciled", "estimated")
REPORT_GROUPS = ("session", "model", "branch", "day", "week", "month", "commit", "agent",
                 "tag", "task", "author", "pr")

# Tokens of each request, by hand (input + output + cache writes + cache reads):
A = 3_000  # observed, commit one: 1,000 in + 2,000 out, its output corrected once
R = 1_000  # reconciled, commit one: 100 in + 400 out + 500 cache writes
E = 2_000  # estimated, commit one: 300 in + 200 out + 1,500 cache reads
B = 20_000  # observed, commit two: 10,000 in + 5,000 out + 5,000 cache reads
I = 40_000  # noqa: E741 - inferred, commit two (by import's time rule): 40,000 in
C = 10  # observed, pending: 7 in + 3 out
T = 100  # estimated, work item OPS-1: 60 in + 40 out
LEDGER = {"observed": A + B + C, "inferred": I, "reconciled": R, "estimated": E + T}
RELEASE = {"observed": A + B, "inferred": I, "reconciled": R, "estimated": E}


def at(repo: Path, monkeypatch: pytest.MonkeyPatch, when: str, message: str) -> str:
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(name, when)
    return commit(repo, message, name=f"{message}.txt")


def reconcile(repo: Path, output: int) -> None:
    """What capture writes for usage only Claude Code's running totals show."""
    worktree = find_worktree(repo)
    assert worktree is not None
    totals = Usage(input=900, output=4000, cache_creation=7000, cache_read=90000)
    record = records.reconciled(
        "5e551000-0000-4000-8000-00000000000a", HAIKU, totals,
        "2026-03-14T11:30:00.000Z", str(repo), worktree.top, "main", "2.1.328",
        "/t/session.jsonl", "2026-03-14T11:31:00.000Z", "hook",
        Usage(input=100, output=output, cache_creation=500, cache_creation_5m=500))
    with Store.of(worktree).writing() as writer:
        writer.write([record])


@pytest.fixture
def four_kinds(repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    install(repo)
    live = Session(repo, model=SONNET)
    first, last = live.request_lines(input=1_000, output=2_000, cache_write=0, cache_read=0,
                                     blocks=2, timestamp="2026-03-14T11:00:00.000Z"
                                     ).splitlines(keepends=True)
    live.append(first)  # output 1, a streaming placeholder...
    live.hook()
    live.append(last)  # ...then 2,000: a correction of the same request
    live.hook()
    reconcile(repo, output=300)
    reconcile(repo, output=400)  # the same difference seen again, larger: supersedes
    tokentag("record", "--tokens-in", "300", "--tokens-out", "200", "--cache-read", "1500",
             "--model", OPUS, "--id", "e-1", cwd=repo)
    shas = {"one": at(repo, monkeypatch, "2026-03-14T12:00:00+00:00", "one")}
    live.add(input=10_000, output=5_000, cache_write=0, cache_read=5_000,
             timestamp="2026-03-14T13:00:00.000Z")
    live.hook()
    shas["two"] = at(repo, monkeypatch, "2026-03-14T14:00:00+00:00", "two")
    git(repo, "tag", "v1.0")
    unseen = Session(repo, session_id="0b0b0b0b-0000-4000-8000-000000000002", model=SONNET)
    unseen.add(input=40_000, output=0, cache_write=0, cache_read=0, blocks=1,
               timestamp="2026-03-14T13:30:00.000Z")  # no hook saw it
    assert json.loads(tokentag("import", "--json", cwd=repo).stdout)["inferred"] == 1
    live.add(input=7, output=3, cache_write=0, cache_read=0,
             timestamp="2026-03-14T15:00:00.000Z")
    live.hook()
    tokentag("record", "--tokens-in", "60", "--tokens-out", "40", "--task", "OPS-1", cwd=repo)
    return repo, shas


def report(repo: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tokentag("report", *args, "--json", cwd=repo).stdout)
    return data


def split(evidence: dict[str, int]) -> dict[str, int]:
    assert tuple(evidence) == KINDS  # all four, always
    return {kind: tokens for kind, tokens in evidence.items() if tokens}


def test_every_report_splits_its_totals_and_rows_by_evidence(
        four_kinds: tuple[Path, dict[str, str]]) -> None:
    repo, _ = four_kinds
    for by in REPORT_GROUPS:
        data = report(repo, "--by", by)
        assert split(data["totals"]["evidence"]) == LEDGER, by
        assert data["totals"]["tokens"]["total"] == sum(LEDGER.values()), by
        for row in data["rows"]:
            assert sum(row["evidence"].values()) == row["tokens"]["total"], (by, row["key"])
    models = {row["key"]: split(row["evidence"]) for row in report(repo, "--by", "model")["rows"]}
    assert models == {SONNET: {"observed": A + B + C, "inferred": I},
                      HAIKU: {"reconciled": R}, OPUS: {"estimated": E},
                      "(unknown model)": {"estimated": T}}
    text = tokentag("report", "--by", "model", cwd=repo).stdout
    assert "evidence (tokens): observed 23,010, inferred 40,000, reconciled 1,000, " \
           "estimated 2,100\n" in text


def test_release_json_and_notes_show_the_split(four_kinds: tuple[Path, dict[str, str]],
                                               tmp_path: Path) -> None:
    repo, shas = four_kinds
    data = release_json(repo, "v1.0")
    assert split(data["evidence"]) == RELEASE and data["tokens"]["total"] == sum(RELEASE.values())
    by_commit = {row["commit"]: split(row["evidence"]) for row in data["by_commit"]}
    assert by_commit == {shas["one"]: {"observed": A, "reconciled": R, "estimated": E},
                         shas["two"]: {"observed": B, "inferred": I}}
    by_model = {row["model"]: split(row["evidence"]) for row in data["by_model"]}
    assert by_model == {SONNET: {"observed": A + B, "inferred": I}, HAIKU: {"reconciled": R},
                        OPUS: {"estimated": E}}
    notes = tokentag("release", "v1.0", "--stdout", cwd=repo).stdout
    assert "\nEvidence (tokens): observed 23,000, inferred 40,000, reconciled 1,000, " \
           "estimated 2,000.\n" in notes
    # A teammate without the ledger reads the same split from the git notes.
    clone = clone_with_notes(repo, tmp_path / "teammate")
    theirs = release_json(clone, "v1.0")
    assert theirs["commits_from_notes"] == 2
    assert theirs["evidence"] == data["evidence"]
    assert [row["evidence"] for row in theirs["by_model"]] == \
        [row["evidence"] for row in data["by_model"]]


def test_show_and_log_carry_the_kind(four_kinds: tuple[Path, dict[str, str]]) -> None:
    repo, shas = four_kinds
    shown = json.loads(tokentag("show", shas["one"], "--json", cwd=repo).stdout)
    assert split(shown["evidence"]) == {"observed": A, "reconciled": R, "estimated": E}
    assert "evidence (tokens): observed 3,000, reconciled 1,000, estimated 2,000" \
        in tokentag("show", shas["one"], cwd=repo).stdout
    rows = json.loads(tokentag("log", "--all", "--json", cwd=repo).stdout)["requests"]
    kinds = sorted((row["evidence"], row["tokens"]["total"]) for row in rows)
    assert kinds == sorted([("observed", A), ("observed", B), ("observed", C),
                            ("inferred", I), ("reconciled", R), ("estimated", E),
                            ("estimated", T)])
    lines = tokentag("log", "--all", cwd=repo).stdout.splitlines()[2:-1]  # the table's rows
    assert sorted(line.split()[-1] for line in lines) == sorted(kind for kind, _ in kinds)


def test_evidence_filters_every_command(four_kinds: tuple[Path, dict[str, str]]) -> None:
    repo, shas = four_kinds
    measured = report(repo, "--by", "commit", "--evidence", "observed,inferred")
    assert split(measured["totals"]["evidence"]) == {"observed": A + B + C, "inferred": I}
    assert {row["key"]: row["tokens"]["total"] for row in measured["rows"]} == {
        shas["one"]: A, shas["two"]: B + I, "(pending)": C}
    estimated = json.loads(tokentag("log", "--evidence", "estimated", "--json",
                                    cwd=repo).stdout)["requests"]
    assert sorted(row["tokens"]["total"] for row in estimated) == [T, E]
    assert [row["task"] for row in estimated if row["tokens"]["total"] == T] == ["OPS-1"]
    shown = json.loads(tokentag("show", shas["one"], "--evidence", "reconciled", "--json",
                                cwd=repo).stdout)
    assert shown["tokens"]["total"] == R and shown["by_model"][0]["model"] == HAIKU
    data = release_json(repo, "v1.0", "--evidence", "estimated,reconciled")
    assert split(data["evidence"]) == {"reconciled": R, "estimated": E}
    assert [row["commit"] for row in data["by_commit"]] == [shas["one"]]
    wrong = tokentag("report", "--evidence", "measured", cwd=repo, check=False)
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == "tokentag: unknown evidence kind measured: use observed, " \
                           "inferred, reconciled, estimated (comma-separated)\n"


def test_corrections_and_superseded_records_are_counted_never_summed(
        four_kinds: tuple[Path, dict[str, str]]) -> None:
    repo, _ = four_kinds
    status = json.loads(tokentag("status", "--json", cwd=repo).stdout)
    assert status["corrections"] == 1  # A's output, raised from its placeholder
    assert status["superseded_records"] == 1  # the reconciled difference seen twice
    assert status["requests"] == 7
    assert split(status["evidence"]) == LEDGER  # R once, at its larger figure
    assert "folded in:     1 correction, 1 superseded record (each request counted once)" in \
        tokentag("status", cwd=repo).stdout
