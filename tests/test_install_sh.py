"""`install.sh` on a fresh machine: its own venv, hooks registered in the user's Claude
settings beside other hooks, the registered commands driven as Claude Code drives them,
commits through git, then `--uninstall` restores the settings file byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git
from tests.corpora import Corpus
from tests.replay import payload_for
from tests.session_writer import SessionWriter, requests_in, totals

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"]},
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "echo stop >> /dev/null"}]}],
        "PostToolUse": [{"matcher": "Bash",
                         "hooks": [{"type": "command", "command": "true", "timeout": 5}]}],
    },
}


def run(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, input=stdin, text=True,
                            capture_output=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def registered_commands(settings: Path) -> dict[str, str]:
    data = json.loads(settings.read_text())
    found = {}
    for event, groups in data["hooks"].items():
        for group in groups:
            for hook in group["hooks"]:
                if "tokentag" in hook["command"]:
                    found[event] = hook["command"]
    return found


@pytest.mark.slow
def test_install_sh_end_to_end(corpus: Corpus,
                               repo: Path, tmp_path: Path, isolated_home: Path) -> None:
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps(ORIGINAL_SETTINGS, indent=2) + "\n")
    original = settings.read_bytes()
    env = {**os.environ, "TOKENTAG_HOME": str(tmp_path / "tt-home"),
           "TOKENTAG_BIN": str(tmp_path / "bin"), "PATH": "/usr/bin:/bin"}
    env["PATH"] = f"{Path(os.__file__).parents[2] / 'bin'}:{env['PATH']}"  # a python3.11+
    run(["sh", str(ROOT / "install.sh")], repo, env)
    commands = registered_commands(settings)
    assert set(commands) >= {"SessionStart", "PostToolUse", "Stop", "SubagentStop",
                             "SessionEnd", "PreCompact", "UserPromptSubmit"}
    assert str(tmp_path / "tt-home") in commands["Stop"]  # an absolute path into the venv
    run(["sh", str(ROOT / "install.sh")], repo, env)  # idempotent
    assert registered_commands(settings) == commands

    writer = SessionWriter(repo, corpus)
    hook_env = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}

    def fire(event: str) -> None:
        body = payload_for(writer.session_id, writer.path, repo, event)
        result = run(["sh", "-c", commands[event]], repo, hook_env, stdin=body)
        assert result.stdout == ""

    writer.write(60)
    fire("SessionStart")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    first = git(repo, "rev-parse", "HEAD")
    first_keys = set(requests_in(writer.path.read_bytes()))
    writer.write(100)
    fire("PostToolUse")
    fire("Stop")
    all_requests = requests_in(writer.path.read_bytes())
    tokentag = str(tmp_path / "bin" / "tokentag")
    report = json.loads(run([tokentag, "report", "--by", "commit", "--json"], repo, env).stdout)
    rows = {row["key"]: row["tokens"] for row in report["rows"]}
    assert rows[first] == totals(all_requests, first_keys)
    assert rows["(pending)"] == totals(all_requests, set(all_requests) - first_keys)

    run(["sh", str(ROOT / "install.sh"), "--uninstall"], repo, env)
    assert settings.read_bytes() == original
    assert not (tmp_path / "bin" / "tokentag").exists()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


@pytest.mark.slow
def test_uninstall_from_outside_a_repository_leaves_no_hook_that_fails(
        repo: Path, tmp_path: Path, isolated_home: Path) -> None:
    """The user-scope hooks are removed wherever --uninstall runs; the git hooks left in the
    repository find no tokentag any more and do nothing, quietly."""
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps(ORIGINAL_SETTINGS, indent=2) + "\n")
    original = settings.read_bytes()
    env = {**os.environ, "TOKENTAG_HOME": str(tmp_path / "tt-home"),
           "TOKENTAG_BIN": str(tmp_path / "bin"), "PATH": "/usr/bin:/bin"}
    env["PATH"] = f"{Path(os.__file__).parents[2] / 'bin'}:{env['PATH']}"
    run(["sh", str(ROOT / "install.sh")], repo, env)
    commands = registered_commands(settings)
    outside = tmp_path / "outside"
    outside.mkdir()
    run(["sh", str(ROOT / "install.sh"), "--uninstall"], outside, env)
    assert settings.read_bytes() == original
    assert (repo / ".git" / "hooks" / "post-commit").exists()  # another repository's
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    committed = subprocess.run(["git", "commit", "-q", "-m", "after"], cwd=repo, env=env,
                               capture_output=True, text=True, check=False)
    assert (committed.returncode, committed.stdout, committed.stderr) == (0, "", "")
    for command in set(commands.values()):  # a session started before: its old commands
        fired = subprocess.run(["bash", "-c", command], cwd=repo, env=env, input="{}",
                               capture_output=True, text=True, check=False)
        assert (fired.returncode, fired.stdout, fired.stderr) == (0, "", "")
