"""OpenAI Codex CLI sessions: import, live capture through `notify` and hooks, commits,
install, and the same totals as ccusage's `codex` report on the same files.

The rollouts are written by tests/codex_lines.py from Codex's documented format; their
`truth` is each model response once, which Codex's own repeats and replays must not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import codex_lines
from tests.claude_lines import Session
from tests.codex_lines import Rollout, Spent
from tests.conftest import git, tokentag

EXE = Path(sys.executable).with_name("tokentag")
# USD per million tokens (uncached input, cached input, output) where genai-prices and
# ccusage's LiteLLM table agree.
PRICES = {"gpt-5-codex": (1.25, 0.125, 10), "gpt-5": (1.25, 0.125, 10),
          "gpt-5.1-codex": (1.25, 0.125, 10), "gpt-5.1-codex-mini": (0.25, 0.025, 2),
          "gpt-5.2-codex": (1.75, 0.175, 14)}


@pytest.fixture
def codex_home(isolated_home: Path) -> Path:
    """Codex's default dir under the test's HOME."""
    return isolated_home / ".codex"


def report(repo: Path, by: str) -> dict[str, dict[str, Any]]:
    data = json.loads(tokentag("report", "--by", by, "--json", cwd=repo).stdout)
    return {row["key"]: row for row in data["rows"]}


def import_json(repo: Path, *args: str) -> dict[str, int]:
    summary: dict[str, int] = json.loads(tokentag("import", "--json", *args, cwd=repo).stdout)
    return summary


def expected_cost(spent: Spent) -> float:
    return sum((row[0] * PRICES[model][0] + row[1] * PRICES[model][1]
                + row[2] * PRICES[model][2]) / 1e6 for model, row in spent.by_model.items())


def ledger_requests(repo: Path) -> list[dict[str, Any]]:
    lines = (repo / ".git" / "tokentag" / "ledger.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "request"]


def notify(rollout: Rollout, *before: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "codex-notify", *before, rollout.payload()],
                          cwd=rollout.cwd, capture_output=True, text=True, check=False)


# -- import --------------------------------------------------------------------------------


def test_import_counts_each_response_once(repo: Path, codex_home: Path) -> None:
    rollouts = codex_lines.sessions(codex_home, repo, count=12)
    truth = codex_lines.truth(rollouts)
    summary = import_json(repo, "--agent", "codex")
    assert summary["files"] == summary["files_read"] == 12  # archived ones included
    assert summary["new"] == summary["requests"] == sum(s.requests for s in truth.values())
    found = report(repo, "session")
    assert {sid: row["tokens"] for sid, row in found.items()} == \
        {sid: spent.tokens for sid, spent in truth.items()}
    for sid, spent in truth.items():
        assert found[sid]["requests"] == spent.requests
        assert found[sid]["cost_usd"] == pytest.approx(expected_cost(spent), abs=1e-6)
    again = import_json(repo, "--agent", "codex")
    assert again["files_read"] == again["new"] == 0


def test_requests_say_whose_they_are_and_what_was_assumed(repo: Path, codex_home: Path) -> None:
    rollouts = codex_lines.sessions(codex_home, repo, count=6)
    import_json(repo, "--agent", "codex")
    records = ledger_requests(repo)
    assert {r["agent_id"] for r in records} == {"codex"}
    assert all(r["key"].startswith("codex:") for r in records)  # never a Claude key
    old_build = rollouts[2]  # no turn_context: ccusage's gpt-5, marked as assumed
    assumed = [r for r in records if r["session_id"] == old_build.session_id]
    assert assumed and {(r["model"], r["request_id"]) for r in assumed} == \
        {("gpt-5", "model-assumed")}
    others = [r for r in records if r["session_id"] != old_build.session_id]
    assert {r["request_id"] for r in others} == {""}
    assert {r["branch"] for r in records} == {"main", None}  # one session had no git info
    assert {r["version"] for r in records} == {"0.46.0"}
    assert {r["cwd"] for r in records} == {str(repo)}


def test_import_reads_claude_by_default_codex_or_both_when_asked(repo: Path,
                                                                 codex_home: Path) -> None:
    rollouts = codex_lines.sessions(codex_home, repo, count=2)
    claude = Session(repo)
    claude.add()
    assert import_json(repo)["new"] == 1
    assert set(report(repo, "session")) == {claude.session_id}
    both = import_json(repo, "--agent", "all")
    assert both["new"] == sum(r.spent.requests for r in rollouts)
    assert set(report(repo, "agent")) == {"(main)", "codex"}


def test_sessions_of_other_directories_are_left_alone(repo: Path, codex_home: Path,
                                                      tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rollouts = codex_lines.sessions(codex_home, elsewhere, count=3)
    summary = import_json(repo, "--agent", "codex")
    assert summary["new"] == 0
    assert summary["other_repository"] == sum(r.spent.requests for r in rollouts)
    assert report(repo, "session") == {}


def test_models_are_priced_by_the_names_codex_writes(repo: Path, codex_home: Path) -> None:
    """codex-mini-latest is in genai-prices' OpenAI table under another name; a model no
    table knows stays unpriced, never $0."""
    start = datetime(2025, 10, 20, 9, 0, tzinfo=UTC)
    for number, model in enumerate(("codex-mini-latest", "codex-auto-review"), 40):
        rollout = Rollout(codex_home, codex_lines.session_id(number), repo, start)
        rollout.meta()
        rollout.user("review this", model)
        rollout.response(1_000_000, 200_000, 100_000, 0)
        rollout.write()
    import_json(repo, "--agent", "codex")
    models = report(repo, "model")
    # $1.50 per million uncached, $0.375 cached, $6 output
    assert models["codex-mini-latest"]["cost_usd"] == pytest.approx(1.2 + 0.075 + 0.6)
    assert models["codex-auto-review"]["cost_usd"] is None
    assert models["codex-auto-review"]["unpriced_requests"] == 1


# -- live capture ----------------------------------------------------------------------------


def test_notify_after_each_piece_gives_what_one_import_gives(repo: Path, codex_home: Path,
                                                             tmp_path: Path) -> None:
    everything = codex_lines.sessions(codex_home, repo, count=7)
    rollouts = [r for r in everything if not r.archived]  # no notify runs for those
    for rollout in rollouts:  # regrown with a notify after each piece, cut mid-line
        data = b"".join(rollout.lines)
        rollout.path.write_bytes(b"")
        for cut in [*range(0, len(data), max(1, len(data) // 9) + 7), len(data)]:
            rollout.path.write_bytes(data[:cut])
            result = notify(rollout)
            assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    live = {sid: row["tokens"] for sid, row in report(repo, "session").items()}
    assert live == {sid: spent.tokens for sid, spent in codex_lines.truth(rollouts).items()}
    archived = sum(r.spent.requests for r in everything if r.archived)
    assert import_json(repo, "--agent", "codex")["new"] == archived  # the rest was known
    live.update({r.session_id: r.spent.tokens for r in everything if r.archived})

    other = tmp_path / "other"  # the same files, imported at once into another repository
    other.mkdir()
    git(other, "init", "-q")
    import_json(other, "--agent", "codex", "--path-map", f"{repo}={other}")
    assert {sid: row["tokens"] for sid, row in report(other, "session").items()} == live


def test_codex_s_stop_hook_is_taken_by_tokentag_hook(repo: Path, codex_home: Path) -> None:
    """Codex versions with hooks send Claude Code's payload, the rollout as transcript."""
    rollout = codex_lines.sessions(codex_home, repo, count=1)[0]
    payload = json.dumps({"session_id": rollout.session_id,
                          "transcript_path": str(rollout.path), "cwd": str(repo),
                          "hook_event_name": "Stop", "model": "gpt-5-codex",
                          "turn_id": "turn-1", "stop_hook_active": False})
    result = tokentag("hook", cwd=repo, stdin=payload)
    assert (result.stdout, result.stderr) == ("", "")
    assert report(repo, "session")[rollout.session_id]["tokens"] == rollout.spent.tokens


def test_an_agent_s_own_commit_takes_its_turn_so_far(repo: Path, codex_home: Path) -> None:
    """Codex runs `git commit` mid-turn, before any notify: the commit finds the session's
    rollout by the CODEX_THREAD_ID Codex gives the commands it runs."""
    tokentag("install", cwd=repo)
    rollout = Rollout(codex_home, codex_lines.session_id(1), repo,
                      datetime(2025, 10, 15, 9, 0, tzinfo=UTC))
    rollout.meta()
    rollout.user("commit the fix", "gpt-5-codex")
    rollout.response(20_000, 12_000, 800, 200)
    rollout.response(25_000, 20_000, 300, 0)
    rollout.write()
    env = {**os.environ, "CODEX_THREAD_ID": rollout.session_id}
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "fix"],
                   env=env, check=True, capture_output=True)
    head = git(repo, "rev-parse", "HEAD")
    before = rollout.spent.tokens
    rollout.response(30_000, 25_000, 100, 0)  # after the commit
    rollout.agent("Committed.")
    rollout.write()
    assert notify(rollout).returncode == 0
    commits = {key: row["tokens"] for key, row in report(repo, "commit").items()}
    later = {f: rollout.spent.tokens[f] - before[f] for f in before}
    assert commits == {head: before, "(pending)": later}


# -- never in the way --------------------------------------------------------------------------


def test_notify_prints_nothing_and_exits_0_whatever_it_gets(repo: Path, codex_home: Path,
                                                            tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = [[], ["not json"], ["[1, 2]"], [json.dumps({"type": "agent-turn-complete"})],
             [json.dumps({"type": "agent-turn-complete", "thread-id": "no-such-thread",
                          "cwd": str(repo)})],
             [json.dumps({"type": "agent-turn-complete", "thread-id": "x",
                          "cwd": str(outside)})],
             [json.dumps({"type": "something-new", "cwd": str(repo)})]]
    for args in cases:
        result = subprocess.run([str(EXE), "codex-notify", *args], cwd=outside,
                                capture_output=True, text=True, check=False)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), args
    log = (repo / ".git" / "tokentag" / "tokentag.log").read_text()
    assert "codex-notify PayloadError: no rollout of session no-such-thread" in log


def test_a_notify_program_kept_from_before_runs_after_the_capture(repo: Path,
                                                                  codex_home: Path,
                                                                  tmp_path: Path) -> None:
    rollout = codex_lines.sessions(codex_home, repo, count=1)[0]
    seen = tmp_path / "seen.txt"
    program = [sys.executable, "-c",
               f"import sys; open({str(seen)!r}, 'w').write(sys.argv[1] + '|' + sys.argv[2])",
               "first-arg"]
    result = notify(rollout, *program)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert seen.read_text() == f"first-arg|{rollout.payload()}"
    assert report(repo, "session")[rollout.session_id]["tokens"] == rollout.spent.tokens
    gone = notify(rollout, str(tmp_path / "no-such-program"))
    assert (gone.returncode, gone.stdout, gone.stderr) == (0, "", "")


# -- install -------------------------------------------------------------------------------


CONFIG = """# my Codex settings
model = "gpt-5-codex"  # the default model
approval_policy = "on-request"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-server"]
"""


def test_install_codex_registers_notify_and_uninstall_gives_the_file_back(
        repo: Path, codex_home: Path) -> None:
    config = codex_home / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG)
    first = tokentag("install", "--codex", cwd=repo).stdout
    assert f"Codex: notify registered in {config}" in first
    text = config.read_text()
    assert text.startswith("# my Codex settings\nmodel = ")  # every other line as it was
    assert text.replace(text.splitlines()[3] + "\n", "") == CONFIG
    notify_argv = tomllib.loads(text)["notify"]
    assert notify_argv[:2] == ["sh", "-c"] and notify_argv[3] == "tokentag-codex-notify"
    assert f"already in {config}" in tokentag("install", "--codex", cwd=repo).stdout
    assert config.read_text() == text

    rollout = codex_lines.sessions(codex_home, repo, count=1)[0]
    ran = subprocess.run([*notify_argv, rollout.payload()], cwd=repo, capture_output=True,
                         text=True, check=False)  # as Codex runs it
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
    assert report(repo, "session")[rollout.session_id]["tokens"] == rollout.spent.tokens

    assert "stays" in tokentag("uninstall", cwd=repo).stdout  # serves every repository
    assert config.read_text() == text
    assert f"given back in {config}" in tokentag("uninstall", "--codex", cwd=repo).stdout
    assert config.read_text() == CONFIG


def test_a_notify_already_there_is_chained_and_given_back(repo: Path, codex_home: Path,
                                                          tmp_path: Path) -> None:
    config = codex_home / "config.toml"
    config.parent.mkdir(parents=True)
    seen = tmp_path / "seen.txt"
    theirs = [sys.executable, "-c", f"import sys; open({str(seen)!r}, 'w').write(sys.argv[1])"]
    original = CONFIG.replace("approval_policy", f"notify = {json.dumps(theirs)}\n"
                              "approval_policy")
    config.write_text(original)
    tokentag("install", "--codex", cwd=repo)
    argv = tomllib.loads(config.read_text())["notify"]
    assert argv[4:] == theirs
    rollout = codex_lines.sessions(codex_home, repo, count=1)[0]
    subprocess.run([*argv, rollout.payload()], cwd=repo, check=True, capture_output=True)
    assert seen.read_text() == rollout.payload()
    assert rollout.session_id in report(repo, "session")
    tokentag("uninstall", "--all", cwd=repo)
    assert tomllib.loads(config.read_text())["notify"] == theirs
    assert config.read_text() == original


def test_install_makes_the_config_and_uninstall_removes_what_it_made(repo: Path,
                                                                   codex_home: Path) -> None:
    config = codex_home / "config.toml"
    tokentag("install", "--codex", cwd=repo)
    assert list(tomllib.loads(config.read_text())) == ["notify"]
    tokentag("uninstall", "--codex", cwd=repo)
    assert not config.exists()


def test_a_notify_over_several_lines_is_a_one_line_error(repo: Path, codex_home: Path) -> None:
    config = codex_home / "config.toml"
    config.parent.mkdir(parents=True)
    written = 'notify = [\n  "notify-send",\n  "Codex",\n]\n'
    config.write_text(written)
    result = tokentag("install", "--codex", cwd=repo, check=False)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "over several lines" in result.stderr
    assert config.read_text() == written


# -- against ccusage -----------------------------------------------------------------------------

CCUSAGE_VERSION = "20.0.24"  # the newest release with a linux-x64 build in the registry


def install_ccusage(prefix: Path) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    result = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-save",
                             "--no-audit", "--no-fund", f"ccusage@{CCUSAGE_VERSION}"],
                            capture_output=True, text=True, check=False)
    exe = prefix / "node_modules" / ".bin" / "ccusage"
    if result.returncode != 0 or not exe.exists():
        pytest.skip(f"npm could not install ccusage: {result.stderr.strip()[-300:]}")
    return exe


@pytest.mark.slow
def test_totals_equal_ccusage_s_codex_report(repo: Path, codex_home: Path,
                                             tmp_path: Path) -> None:
    rollouts = codex_lines.sessions(codex_home, repo, count=18, seed=20)
    ccusage = install_ccusage(tmp_path / "npm")
    env = {**os.environ, "CODEX_HOME": str(codex_home), "NO_COLOR": "1"}
    out = subprocess.run([str(ccusage), "codex", "session", "--json", "--offline"],
                         capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    theirs_by_id = {"-".join(row["sessionId"].split("-")[-5:]): row  # ends with the id
                    for row in json.loads(out.stdout)["sessions"]}
    import_json(repo, "--agent", "codex")
    ours = report(repo, "session")
    assert set(ours) == set(theirs_by_id) == {r.session_id for r in rollouts}
    for sid, row in ours.items():
        other = theirs_by_id[sid]
        assert row["tokens"] == {"input": other["inputTokens"], "output": other["outputTokens"],
                                 "cache_creation": other["cacheCreationTokens"],
                                 "cache_read": other["cacheReadTokens"],
                                 "total": other["totalTokens"]}, sid
        assert row["cost_usd"] == pytest.approx(other["costUSD"], abs=1e-6), sid
    totals = json.loads(out.stdout)["totals"]
    grand = json.loads(tokentag("report", "--by", "session", "--json", cwd=repo).stdout)
    assert grand["totals"]["tokens"]["total"] == totals["totalTokens"]
    assert grand["totals"]["cost_usd"] == pytest.approx(totals["costUSD"], abs=1e-5)
