"""Releases end to end: real repositories, hooks, transcripts, commits, tags and notes.

Expected figures are computed independently: token totals with the attribution tests'
`Expected` (each request once, field-wise maximum, first commit after its first line),
dollar figures by hand from genai-prices 0.2.3's bundled per-MTok prices, stated where used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, tokentag
from tests.corpora import Corpus
from tests.replay import payload_for
from tests.session_writer import SessionWriter, encoded, requests_in, totals
from tests.test_attribution import Expected, commit, install
from tokentag.report.workitems import DEFAULT_TASK_PATTERN

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TOKENTAG_UPDATE_GOLDEN") == "1"
FIELDS = ("input", "output", "cache_creation", "cache_read", "total")


# -- helpers ----------------------------------------------------------------------------


class Transcript:
    """A session of hand-made requests in Claude Code's on-disk format (compact JSON,
    usage on top-level assistant lines), so every count is known exactly."""

    _ids = count(1)

    def __init__(self, repo: Path, session_id: str = "5e551000-0000-4000-8000-000000000001"):
        self.repo, self.session_id = repo, session_id
        config = Path(os.environ["CLAUDE_CONFIG_DIR"])
        self.path = config / "projects" / encoded(repo) / f"{session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def add(self, model: str, timestamp: str, *, input: int = 0, output: int = 0,
            cache_5m: int = 0, cache_1h: int = 0, cache_read: int = 0) -> None:
        number = next(self._ids)
        usage = {"input_tokens": input, "output_tokens": output,
                 "cache_creation_input_tokens": cache_5m + cache_1h,
                 "cache_read_input_tokens": cache_read,
                 "cache_creation": {"ephemeral_5m_input_tokens": cache_5m,
                                    "ephemeral_1h_input_tokens": cache_1h}}
        entry = {"type": "assistant", "sessionId": self.session_id,
                 "requestId": f"req_{number:04d}", "timestamp": timestamp, "cwd": str(self.repo),
                 "gitBranch": "main", "version": "2.1.0",
                 "message": {"id": f"msg_{number:04d}", "model": model, "role": "assistant",
                             "usage": usage}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def hook(self, event: str = "SessionStart") -> None:
        body = payload_for(self.session_id, self.path, self.repo, event)
        assert tokentag("hook", cwd=self.repo, stdin=body).stdout == ""


def release_json(repo: Path, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tokentag("release", *args, "--json", cwd=repo).stdout)
    return data


def fails(repo: Path, *args: str) -> str:
    """Run a command that must fail with one clear line; return that line."""
    result = tokentag(*args, cwd=repo, check=False)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokentag: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def summed(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {f: sum(row["tokens"][f] for row in rows) for f in FIELDS}


def check_golden(name: str, data: bytes) -> None:
    """Byte for byte; TOKENTAG_UPDATE_GOLDEN=1 rewrites the file (then review the diff)."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"differs from {path}"


def outside_markers(text: str, tag: str) -> str:
    start = text.index(f"<!-- tokentag:{tag} start -->")
    end = text.index(f"<!-- tokentag:{tag} end -->")
    return text[:start] + text[end:]


# -- three releases from a real session --------------------------------------------------


@pytest.fixture
def three_tags(corpus: Corpus,
               installed_repo: Path) -> tuple[Path, Expected, dict[str, str], dict[str, int]]:
    """v1.0 (root, two commits), v1.1 (a merged topic branch, annotated tag), v1.2 (a
    second session), then pending requests. Returns the expected attribution."""
    repo = installed_repo
    writer = SessionWriter(repo, corpus)
    other = SessionWriter(repo, corpus, session_id="22222222-3333-4444-5555-666666666666")
    expected, shas = Expected(), {}
    writer.write(60)
    writer.hook("SessionStart")
    for name in ("one", "two"):
        writer.write(60)
        shas[name] = commit(repo, name)
        expected.commit(shas[name], writer)
    git(repo, "tag", "v1.0")
    git(repo, "checkout", "-q", "-b", "topic")
    writer.write(80)
    shas["topic"] = commit(repo, "topic work", name="topic.txt")
    expected.commit(shas["topic"], writer)
    git(repo, "checkout", "-q", "main")
    writer.write(80)
    shas["three"] = commit(repo, "three")
    expected.commit(shas["three"], writer)
    writer.write(40)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    shas["merge"] = git(repo, "rev-parse", "HEAD")
    expected.commit(shas["merge"], writer)
    git(repo, "tag", "-a", "-m", "release 1.1", "v1.1")
    other.write(90)
    other.hook()
    writer.write(30)
    shas["four"] = commit(repo, "four")
    expected.commit(shas["four"], writer, other)
    git(repo, "tag", "v1.2")
    writer.write(100)
    writer.hook("Stop")
    expected.finish(writer, other)
    pending = {k for w in (writer, other) for k in requests_in(w.path.read_bytes())} \
        - expected.assigned
    assert pending
    return repo, expected, shas, totals(expected.requests, pending)


def test_each_tag_is_the_sum_of_its_commits_and_all_add_up(
        three_tags: tuple[Path, Expected, dict[str, str], dict[str, int]]) -> None:
    repo, expected, shas, pending = three_tags
    ranges = {"v1.0": ("v1.0", None), "v1.1": ("v1.0..v1.1", "v1.0"),
              "v1.2": ("v1.1..v1.2", "v1.1")}
    releases = {}
    for tag, (spec, previous) in ranges.items():
        data = releases[tag] = release_json(repo, tag)
        assert data["tag"] == tag and data["previous_tag"] == previous
        assert data["range"] == spec
        in_range = git(repo, "rev-list", tag, *([f"^{previous}"] if previous else [])).split()
        assert data["commits"] == len(in_range)
        assert {row["commit"] for row in data["by_commit"]} <= set(in_range)
        for row in data["by_commit"]:
            assert row["tokens"] == expected.totals(row["commit"])  # full ids, exact counts
        assert data["tokens"] == summed(data["by_commit"]) == summed(data["by_model"])
        assert data["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in data["by_commit"]),
                                                 abs=1e-5)
    assert releases["v1.0"]["commits"] == 2
    assert {r["commit"] for r in releases["v1.1"]["by_commit"]} \
        == {shas["topic"], shas["three"], shas["merge"]}  # the merged branch counts
    assert releases["v1.2"]["sessions"] == 2
    ledger = json.loads(tokentag("report", "--by", "session", "--json", cwd=repo).stdout)
    everything = summed([*releases.values(), {"tokens": pending}])
    assert everything == ledger["totals"]["tokens"]


def test_report_by_tag_and_all_agree_with_each_release(
        three_tags: tuple[Path, Expected, dict[str, str], dict[str, int]]) -> None:
    repo, _, _, pending = three_tags
    report = json.loads(tokentag("report", "--by", "tag", "--json", cwd=repo).stdout)
    rows = {row["key"]: row for row in report["rows"]}
    assert list(rows) == ["v1.0", "v1.1", "v1.2", "(pending)"]
    assert rows["(pending)"]["tokens"] == pending
    every = json.loads(tokentag("release", "--all", "--json", cwd=repo).stdout)
    assert [r["tag"] for r in every["releases"]] == ["v1.0", "v1.1", "v1.2"]
    assert every["unreleased"] is None
    for item in every["releases"]:
        alone = release_json(repo, item["tag"])
        assert item == alone
        assert rows[item["tag"]]["tokens"] == alone["tokens"]
        assert rows[item["tag"]]["cost_usd"] == pytest.approx(alone["cost_usd"])
    table = tokentag("release", "--all", cwd=repo).stdout.splitlines()
    assert [line.split()[0] for line in table if not line.startswith("-")] == [
        "tag", "v1.0", "v1.1", "v1.2"]


def note_tokens(repo: Path, sha: str) -> dict[str, int]:
    """A commit's tokens as its git note says (written at commit time: a later line that
    raises a request's output corrects the ledger, not the note)."""
    note = json.loads(git(repo, "notes", "--ref", "refs/notes/tokentag", "show", sha))
    tokens = {f: sum(m[f] for m in note["models"].values()) for f in FIELDS[:-1]}
    return {**tokens, "total": sum(tokens.values())}


def clone_with_notes(repo: Path, clone: Path) -> Path:
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/notes/tokentag:refs/notes/tokentag")
    return clone


def test_a_teammate_without_the_ledger_counts_from_notes(
        three_tags: tuple[Path, Expected, dict[str, str], dict[str, int]],
        tmp_path: Path) -> None:
    repo, _, _, _ = three_tags
    clone = clone_with_notes(repo, tmp_path / "teammate")
    for tag in ("v1.0", "v1.1", "v1.2"):
        ours, theirs = release_json(repo, tag), release_json(clone, tag)
        assert theirs["commits_from_notes"] == theirs["commits_with_usage"] > 0
        assert {r["source"] for r in theirs["by_commit"]} == {"git note"}
        assert [r["commit"] for r in theirs["by_commit"]] \
            == [r["commit"] for r in ours["by_commit"]]
        for row in theirs["by_commit"]:
            assert row["tokens"] == note_tokens(repo, row["commit"])
        assert theirs["tokens"] == summed(theirs["by_commit"])
        assert (theirs["commits"], theirs["previous_tag"]) \
            == (ours["commits"], ours["previous_tag"])
    assert not (clone / ".git" / "tokentag").exists()  # reading wrote nothing


def test_notes_give_a_teammate_the_same_costs(priced_repo: tuple[Path, dict[str, str]],
                                              tmp_path: Path) -> None:
    repo, _ = priced_repo
    clone = clone_with_notes(repo, tmp_path / "teammate")
    for tag in ("v1.1", "v1.2"):
        ours, theirs = release_json(repo, tag), release_json(clone, tag)
        for key in ("tokens", "cost_usd", "requests", "commits", "by_model",
                    "unpriced_requests"):
            assert theirs.get(key) == ours.get(key)
        assert [{k: r[k] for k in ("commit", "tokens", "cost_usd")} for r in theirs["by_commit"]] \
            == [{k: r[k] for k in ("commit", "tokens", "cost_usd")} for r in ours["by_commit"]]


def test_teammate_commits_from_notes_and_own_commits_from_the_ledger(
        three_tags: tuple[Path, Expected, dict[str, str], dict[str, int]],
        tmp_path: Path) -> None:
    repo, _, shas, _ = three_tags
    clone = clone_with_notes(repo, tmp_path / "teammate")
    install(clone)
    session = Transcript(clone)
    session.add("claude-haiku-4-5-20251001", "2025-11-01T10:00:00.000Z",
                input=1_000, cache_1h=1_000_000)
    session.hook()
    own = commit(clone, "teammate work")
    data = release_json(clone, "v1.3", "--from", "v1.1")
    assert not data["tagged"] and data["previous_tag"] == "v1.1"
    sources = {r["commit"]: r["source"] for r in data["by_commit"]}
    assert sources == {shas["four"]: "git note", own: "ledger"}
    by_commit = {r["commit"]: r for r in data["by_commit"]}
    assert by_commit[shas["four"]]["tokens"] == note_tokens(repo, shas["four"])
    # claude-haiku-4-5: input $1, 1h cache write $2 per MTok:
    # 1,000x1 + 1,000,000x2 = 2,001,000 -> $2.001
    assert by_commit[own]["cost_usd"] == pytest.approx(2.001)
    assert data["tokens"] == summed(data["by_commit"])


# -- hand-priced requests, golden notes ----------------------------------------------------

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-6"
PROXY = "my-proxy-model"


@pytest.fixture
def priced_repo(installed_repo: Path,
                monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """Four commits of hand-made requests with fixed dates, so commit ids are stable:
    v1.1 at the root, v1.2 three commits later."""
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(name, "2026-03-14T12:00:00+00:00")
    repo = installed_repo
    session = Transcript(repo)
    session.add(SONNET, "2025-11-01T09:00:00.000Z", input=1_000, output=2_000, cache_5m=2_000,
                cache_1h=1_000, cache_read=4_000)
    session.hook()
    shas = {"plain": commit(repo, "Add the parser", name="parser.txt")}
    git(repo, "tag", "v1.1")
    # The same model on the same day, once under and once over 200k prompt tokens.
    session.add(SONNET, "2025-11-02T09:00:00.000Z", input=1_000, output=2_000, cache_5m=2_000,
                cache_1h=1_000, cache_read=4_000)
    session.add(SONNET, "2025-11-02T09:05:00.000Z", input=1, output=1_000, cache_5m=50_000,
                cache_read=150_000)
    session.add(HAIKU, "2025-11-02T10:00:00.000Z", cache_1h=1_000_000)
    session.add(HAIKU, "2025-11-02T10:01:00.000Z", cache_5m=600_000, cache_1h=400_000)
    shas["long"] = commit(repo, "Refactor with | long context and *cache*", name="long.txt")
    session.add(OPUS, "2026-03-12T23:59:00.000Z", input=250_000, output=10_000)
    session.add(OPUS, "2026-03-13T00:00:30.000Z", input=250_000, output=10_000)
    shas["opus"] = commit(repo, "Opus across its price change", name="opus.txt")
    session.add(PROXY, "2026-03-14T08:00:00.000Z", input=1_000, output=1_000)
    shas["proxy"] = commit(repo, "Try a proxy model <!-- tokentag:v1.2 end -->", name="p.txt")
    git(repo, "tag", "v1.2")
    return repo, shas


# Hand-computed, per MTok from genai-prices 0.2.3 (as in tests/test_pricing.py):
# plain sonnet-4-5 (<=200k): in $3, out $15, 5m write $3.75, 1h write $6, read $0.30:
#   1,000x3 + 2,000x15 + 2,000x3.75 + 1,000x6 + 4,000x0.3 = 47,700 -> $0.0477
PLAIN_SONNET = 0.0477
# long sonnet-4-5: prompt 1 + 50,000 + 150,000 = 200,001 > 200k, so every token pays
# in $6, out $22.50, 5m write $7.50, read $0.60:
#   1x6 + 1,000x22.5 + 50,000x7.5 + 150,000x0.6 = 487,506 -> $0.487506
LONG_SONNET = 0.487506
# haiku-4-5: 1h write $2, 5m write $1.25 per MTok:
#   1,000,000 1h x 2 = $2;  600,000 5m x 1.25 + 400,000 1h x 2 = 750,000 + 800,000 -> $1.55
HAIKU_1H, HAIKU_MIXED = 2.0, 1.55
# opus-4-6 at 250,000 in + 10,000 out: tiered until 2026-03-13 (in $10, out $37.50 past
# 200k): 2,500,000 + 375,000 -> $2.875; flat from 2026-03-13 (in $5, out $25):
# 1,250,000 + 250,000 -> $1.5
OPUS_BEFORE, OPUS_AFTER = 2.875, 1.5


def test_costs_match_hand_computed_figures(priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, shas = priced_repo
    data = release_json(repo, "v1.2")
    assert data["previous_tag"] == "v1.1" and data["commits"] == 3
    by_commit = {r["commit"]: r for r in data["by_commit"]}
    assert by_commit[shas["long"]]["cost_usd"] == pytest.approx(
        PLAIN_SONNET + LONG_SONNET + HAIKU_1H + HAIKU_MIXED)
    assert by_commit[shas["opus"]]["cost_usd"] == pytest.approx(OPUS_BEFORE + OPUS_AFTER)
    assert by_commit[shas["proxy"]]["cost_usd"] is None  # unpriced, never $0
    by_model = {r["model"]: r for r in data["by_model"]}
    assert by_model[SONNET]["cost_usd"] == pytest.approx(PLAIN_SONNET + LONG_SONNET)
    assert by_model[HAIKU]["cost_usd"] == pytest.approx(HAIKU_1H + HAIKU_MIXED)
    assert by_model[OPUS]["cost_usd"] == pytest.approx(OPUS_BEFORE + OPUS_AFTER)
    assert by_model[PROXY]["cost_usd"] is None
    priced = PLAIN_SONNET + LONG_SONNET + HAIKU_1H + HAIKU_MIXED + OPUS_BEFORE + OPUS_AFTER
    assert data["cost_usd"] == pytest.approx(priced)
    assert data["unpriced_requests"] == 1 and data["unpriced_models"] == [PROXY]
    first = release_json(repo, "v1.1")
    assert first["previous_tag"] is None and first["commits"] == 1  # the root starts v1.1
    assert first["cost_usd"] == pytest.approx(PLAIN_SONNET)


def test_configured_price_reaches_release_report_and_show(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, shas = priced_repo
    tokentag("config", "set", f"prices.{PROXY}.input_mtok", "2", cwd=repo)
    tokentag("config", "set", f"prices.{PROXY}.output_mtok", "8.5", cwd=repo)
    # 1,000 x $2 + 1,000 x $8.50 per MTok = 10,500 -> $0.0105
    data = release_json(repo, "v1.2")
    proxy = {r["model"]: r for r in data["by_model"]}[PROXY]
    assert proxy["cost_usd"] == pytest.approx(0.0105)
    assert "unpriced_requests" not in data
    shown = json.loads(tokentag("show", shas["proxy"], "--json", cwd=repo).stdout)
    assert shown["cost_usd"] == pytest.approx(0.0105)
    report = json.loads(tokentag("report", "--by", "model", "--json", cwd=repo).stdout)
    assert {r["key"]: r["cost_usd"] for r in report["rows"]}[PROXY] == pytest.approx(0.0105)
    # An override also replaces a library price: Sonnet's plain request at $10 in, $20 out
    # (cache prices follow: 5m $12.50, 1h $20, read $1): 10,000 + 40,000 + 25,000 + 20,000
    # + 4,000 = 99,000 -> $0.099
    tokentag("config", "set", "prices.claude-sonnet-4-5.input_mtok", "10", cwd=repo)
    tokentag("config", "set", "prices.claude-sonnet-4-5.output_mtok", "20", cwd=repo)
    assert release_json(repo, "v1.1")["cost_usd"] == pytest.approx(0.099)


def test_release_notes_golden_and_second_run_unchanged(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    out = tokentag("release", "v1.2", cwd=repo)
    assert "RELEASE_NOTES.md" in out.stdout
    notes = repo / "RELEASE_NOTES.md"
    first = notes.read_bytes()
    check_golden("RELEASE_NOTES.v1.2.md", first)
    stamp = notes.stat().st_mtime_ns
    tokentag("release", "v1.2", cwd=repo)
    assert notes.read_bytes() == first and notes.stat().st_mtime_ns == stamp
    printed = tokentag("release", "v1.2", "--stdout", cwd=repo).stdout
    assert printed.rstrip("\n") in first.decode()
    tokentag("release", "v1.1", cwd=repo)  # the older release goes on top, after the title
    both = notes.read_text()
    assert both.index("tokentag:v1.1 start") < both.index("tokentag:v1.2 start")
    assert first.decode().removeprefix("# Release notes\n\n") in both


CHANGELOG = (
    "# Changelog\n\nAll notable changes are documented here.  \n\n"
    "## [Unreleased]\n\n- Nothing yet\n\n"
    "## [1.2.0] - 2026-03-14\n\n### Fixed\n\n- Parser handles `|` in names.\n\n"
    "## [1.1.0] - 2026-01-10\n\n- First release.\n\t\n"
    "<!-- trailing content, no final newline -->")


def test_changelog_section_goes_after_its_version_s_own_entries(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    tokentag("config", "set", "notes_file", "CHANGELOG.md", cwd=repo)
    changelog = repo / "CHANGELOG.md"
    changelog.write_bytes(CHANGELOG.encode())
    tokentag("release", "v1.2", cwd=repo)
    after = changelog.read_bytes()
    check_golden("CHANGELOG.v1.2.md", after)
    tokentag("release", "v1.2", cwd=repo)
    assert changelog.read_bytes() == after  # replaced, not added a second time
    # New prices change the section only: everything outside it stays byte for byte.
    tokentag("config", "set", f"prices.{PROXY}.input_mtok", "2", cwd=repo)
    tokentag("config", "set", f"prices.{PROXY}.output_mtok", "8", cwd=repo)
    tokentag("release", "v1.2", cwd=repo)
    again = changelog.read_text()
    assert again != after.decode() and again.count("tokentag:v1.2 start") == 1
    assert outside_markers(again, "v1.2") == outside_markers(after.decode(), "v1.2")
    tokentag("release", "v1.1", cwd=repo)  # `## [1.1.0]` is the last heading: at the end
    final = changelog.read_text()
    assert final.index("## [1.1.0]") < final.index("no final newline -->\n\n<!-- tokentag:v1.1")
    assert final.endswith("<!-- tokentag:v1.1 end -->\n")
    assert final.index("- Parser handles") < final.index("tokentag:v1.2 start") < \
        final.index("## [1.1.0]")


def test_stdout_and_json_write_nothing(priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    before = sorted(p.name for p in repo.iterdir())
    markdown = tokentag("release", "v1.2", "--stdout", cwd=repo).stdout
    assert markdown.startswith("<!-- tokentag:v1.2 start -->\n## v1.2: tokens and cost\n")
    release_json(repo, "v1.2")
    tokentag("release", "--all", "--json", cwd=repo)
    assert sorted(p.name for p in repo.iterdir()) == before


def test_untagged_release_means_head_and_empty_range_fails(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    message = fails(repo, "release", "v1.3")  # HEAD is v1.2: nothing since
    assert "no commits" in message and "v1.2..HEAD" in message
    session = Transcript(repo)
    session.add(OPUS, "2026-03-14T09:00:00.000Z", input=1_000, output=1_000)
    new = commit(repo, "after the tag", name="after.txt")
    data = release_json(repo, "v1.3")
    assert data["tagged"] is False and data["end"] == new and data["previous_tag"] == "v1.2"
    # opus-4-6, below 200k: in $5, out $25 per MTok: 5,000 + 25,000 -> $0.03
    assert data["cost_usd"] == pytest.approx(0.03)
    every = json.loads(tokentag("release", "--all", "--json", cwd=repo).stdout)
    assert every["unreleased"]["by_commit"] == data["by_commit"]
    from_root = release_json(repo, "v1.3", "--from", "v1.1")
    assert from_root["previous_tag"] == "v1.1" and from_root["commits"] == 4


# -- errors ---------------------------------------------------------------------------------


def test_unknown_refs_and_tags_fail_with_one_line(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    assert "unknown revision: nope" in fails(repo, "release", "v1.2", "--from", "nope")
    assert "unknown tag or ref: v1..2" in fails(repo, "release", "v1..2")
    tokentag("config", "set", "tag_pattern", "v*", cwd=repo)
    assert "unknown tag or ref: 1.3" in fails(repo, "release", "1.3")
    assert "unknown revision" in fails(repo, "show", "nope")


def test_first_release_in_an_empty_repository_fails(repo: Path) -> None:
    assert "no commits yet" in fails(repo, "release", "v0.1")


def test_a_git_file_pointing_nowhere_is_git_s_error_not_an_empty_release(
        tmp_path: Path) -> None:
    """A worktree whose git dir was deleted: what git says, not "no commits yet"."""
    (tmp_path / ".git").write_text("gitdir: /nonexistent/worktree-gitdir\n")
    assert fails(tmp_path, "release", "v1.0") == \
        "tokentag: not a git repository: /nonexistent/worktree-gitdir"


def test_a_git_dir_in_the_environment_does_not_redirect_release(
        priced_repo: tuple[Path, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As when run from a git hook or alias of another repository: the release is that
    of the working directory's repository."""
    repo, _ = priced_repo
    expected = release_json(repo, "v1.2")
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "tag", "v1.2")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert release_json(repo, "v1.2") == expected


def test_notes_file_that_cannot_be_written(priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    tokentag("config", "set", "notes_file", "no/such/dir/NOTES.md", cwd=repo)
    assert "cannot write" in fails(repo, "release", "v1.2")
    (repo / "adir").mkdir()
    tokentag("config", "set", "notes_file", "adir", cwd=repo)
    assert "adir" in fails(repo, "release", "v1.2")


def test_a_start_marker_without_its_end_is_an_error_not_a_guess(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, _ = priced_repo
    notes = repo / "RELEASE_NOTES.md"
    notes.write_text("# Notes\n\n<!-- tokentag:v1.2 start -->\nhalf\n")
    assert "no end marker" in fails(repo, "release", "v1.2")
    assert notes.read_text() == "# Notes\n\n<!-- tokentag:v1.2 start -->\nhalf\n"


@pytest.mark.parametrize(("name", "content", "key"), [
    (".tokentag.toml", 'notes_flie = "x.md"\n', "notes_flie"),
    (".tokentag.toml", '[prices.m]\ninput_mtok = -1\noutput_mtok = 1\n', "prices.m.input_mtok"),
    (".tokentag.toml", '[prices.m]\ninput_mtok = "x"\noutput_mtok = 1\n', "prices.m.input_mtok"),
    ("pyproject.toml", '[project]\nname = "x"\n[tool.tokentag]\ntag_pattern = 3\n',
     "tag_pattern"),
    (".tokentag.toml", 'notes_file = "unterminated\n', "line 1"),
])
def test_malformed_config_names_the_key(repo: Path, name: str, content: str, key: str) -> None:
    commit(repo, "base")
    (repo / name).write_text(content)
    for command in (["release", "v1"], ["report"], ["show"], ["config", "show"]):
        message = fails(repo, *command)
        assert "malformed config" in message and key in message and name in message


def test_config_set_show_unset_and_precedence(repo: Path) -> None:
    commit(repo, "base")
    (repo / "pyproject.toml").write_text(
        '# the user\'s own file\n[tool.tokentag]\nnotes_file = "HISTORY.md"\n'
        'tag_pattern = "rel-*"\n[tool.tokentag.prices.m]\ninput_mtok = 1\noutput_mtok = 2\n')
    pyproject = (repo / "pyproject.toml").read_bytes()
    shown = json.loads(tokentag("config", "show", "--json", cwd=repo).stdout)
    assert shown == {"notes_file": "HISTORY.md", "tag_pattern": "rel-*", "compact_notes": False,
                     "task_pattern": DEFAULT_TASK_PATTERN,
                     "prices": {"m": {"input_mtok": 1, "output_mtok": 2}},
                     "budgets": {}, "spikes": {"factor": 3.0, "window": 10}}
    tokentag("config", "set", "notes_file", "CHANGELOG.md", cwd=repo)
    tokentag("config", "set", "prices.claude-3.5-x.output_mtok", "1.5", cwd=repo)
    tokentag("config", "set", "prices.claude-3.5-x.input_mtok", "0.5", cwd=repo)
    shown = json.loads(tokentag("config", "show", "--json", cwd=repo).stdout)
    assert shown["notes_file"] == "CHANGELOG.md" and shown["tag_pattern"] == "rel-*"
    assert shown["prices"] == {"m": {"input_mtok": 1, "output_mtok": 2},
                               "claude-3.5-x": {"input_mtok": 0.5, "output_mtok": 1.5}}
    assert (repo / "pyproject.toml").read_bytes() == pyproject  # never rewritten
    assert "[prices.\"claude-3.5-x\"]" in (repo / ".tokentag.toml").read_text()
    assert "unknown config key" in fails(repo, "config", "set", "notes", "x")
    assert "must be a number" in fails(repo, "config", "set", "prices.m.input_mtok", "abc")
    assert "prices.m.input_mtok" in fails(repo, "config", "set", "--", "prices.m.input_mtok",
                                          "-3")
    tokentag("config", "unset", "prices.claude-3.5-x.input_mtok", cwd=repo)
    tokentag("config", "unset", "prices.claude-3.5-x.output_mtok", cwd=repo)
    tokentag("config", "unset", "notes_file", cwd=repo)
    assert (repo / ".tokentag.toml").read_text() == ""
    assert json.loads(tokentag("config", "show", "--json", cwd=repo).stdout)["notes_file"] \
        == "HISTORY.md"


def test_tag_pattern_limits_which_tags_are_releases(
        priced_repo: tuple[Path, dict[str, str]]) -> None:
    repo, shas = priced_repo
    git(repo, "tag", "nightly-1", shas["long"])
    assert release_json(repo, "v1.2")["previous_tag"] == "v1.1"  # versions only, by default
    tokentag("config", "set", "tag_pattern", "*", cwd=repo)
    assert release_json(repo, "v1.2")["previous_tag"] == "nightly-1"
    tokentag("config", "set", "tag_pattern", "v*", cwd=repo)
    assert release_json(repo, "v1.2")["previous_tag"] == "v1.1"
    every = json.loads(tokentag("release", "--all", "--json", cwd=repo).stdout)
    assert [r["tag"] for r in every["releases"]] == ["v1.1", "v1.2"]


# -- the notes file, in process ----------------------------------------------------------


def _empty_release(tag: str) -> Any:
    from tokentag.release.releases import Range, Release
    from tokentag.report.costs import Totals

    return Release(Range(tag, "0" * 40, True, None, ("0" * 40,), {}), Totals.empty(), {}, [],
                   0, True, 0, 0)


@pytest.mark.parametrize(("heading", "matches"), [
    ("## v1.2", True), ("## 1.2 - 2026-01-01", True), ("## [1.2.0] - 2026-01-01", True),
    ("### [v1.2](https://example.com) (2026)", True), ("## [1.2.1]", False),
    ("## 1.20", False), ("## v1.2-rc1", False),
])
def test_changelog_heading_match(heading: str, matches: bool) -> None:
    from tokentag.release.notes_file import place

    text = f"# Changelog\n\n{heading}\n\n- change\n"
    placed = place(text, _empty_release("v1.2"), Path("CHANGELOG.md"))
    under = placed.index(heading) < placed.index("<!-- tokentag:v1.2 start -->")
    assert under is matches
    section = placed[placed.index("<!--"):placed.index("end -->") + len("end -->\n")]
    rest = placed.replace(section, "")  # only the section and a blank line were added
    assert rest.replace("\n\n\n", "\n\n").rstrip("\n") + "\n" == text


def test_crlf_files_keep_their_line_endings() -> None:
    from tokentag.release.notes_file import place

    text = "# Notes\r\n\r\nOld entry\r\n"
    placed = place(text, _empty_release("v2"), Path("NOTES.md"))
    assert "\n" not in placed.replace("\r\n", "")
    assert placed.startswith("# Notes\r\n\r\n<!-- tokentag:v2 start -->\r\n")
    assert placed.endswith("<!-- tokentag:v2 end -->\r\n\r\nOld entry\r\n")


def test_a_crash_while_writing_leaves_the_old_file(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tokentag.core import fileio
    from tokentag.core.errors import TokentagError
    from tokentag.git.gitdirs import find_worktree
    from tokentag.release import notes_file

    worktree = find_worktree(repo)
    assert worktree is not None
    notes = repo / "RELEASE_NOTES.md"
    notes.write_bytes(b"old \xff bytes\n")
    notes.chmod(0o640)

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", crash)
    with pytest.raises(TokentagError, match="No space left"):
        notes_file.update(worktree, "RELEASE_NOTES.md", _empty_release("v1"))
    assert notes.read_bytes() == b"old \xff bytes\n"
    assert sorted(p.name for p in repo.iterdir()) == [".git", "RELEASE_NOTES.md"]
    assert list((repo / ".git" / "tokentag" / "tmp").iterdir()) == []
    monkeypatch.undo()
    notes_file.update(worktree, "RELEASE_NOTES.md", _empty_release("v1"))
    assert notes.read_bytes().endswith(b"<!-- tokentag:v1 end -->\n\nold \xff bytes\n")
    assert notes.stat().st_mode & 0o777 == 0o640


# -- the benchmark runs ---------------------------------------------------------------------


def test_benchmark_script_runs_small(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "bench" / "bench_release.py"
    result = subprocess.run([sys.executable, str(script), "--small", "2000", "--large", "6000",
                             "--commits", "10", "--max-ratio", "100"],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ratio" in result.stdout
