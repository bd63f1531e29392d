"""`tokentag doctor` against real repositories, real settings files and the real hooks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import tokentag
from tokentag.core.claude_paths import encode_project
from tokentag.setup import doctor
from tokentag.setup.demo import SAMPLE_SESSION, parse_sample
from tokentag.setup.doctor import Check


def checks_of(repo: Path) -> dict[str, Check]:
    return {check.name: check for check in doctor.run_checks(str(repo))}


def config_dir() -> Path:
    return Path(os.environ["CLAUDE_CONFIG_DIR"])


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def activate_plugin() -> None:
    """Enable and install the tokentag plugin in the user's (temporary) Claude config."""
    settings = config_dir() / "settings.json"
    data = json.loads(settings.read_text()) if settings.exists() else {}
    data["enabledPlugins"] = {"tokentag@acme": True}
    write_json(settings, data)
    write_json(config_dir() / "plugins" / "installed_plugins.json",
               {"version": 2, "plugins": {"tokentag@acme": [{"scope": "user"}]}})


def test_fresh_repository_reports_each_problem_with_its_fix(repo: Path) -> None:
    result = tokentag("doctor", cwd=repo, check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("✓ git repository") for line in lines)
    assert any(line.startswith("✗ git hooks") and "post-commit not installed" in line
               for line in lines)
    assert any(line.startswith("✗ Claude Code hooks") for line in lines)
    assert sum("fix: tokentag install" in line for line in lines) >= 2
    assert "--scope project" in result.stdout
    assert not (repo / ".git" / "tokentag").exists()  # doctor only reads


def test_json_lists_every_failed_check_with_a_fix(repo: Path) -> None:
    result = tokentag("doctor", "--json", cwd=repo, check=False)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    failed = [check for check in data["checks"] if not check["ok"]]
    assert {"git hooks", "Claude Code hooks"} <= {check["name"] for check in failed}
    assert all(check["fix"] for check in failed)
    assert set(data["checks"][0]) == {"name", "ok", "detail", "fix", "warning"}


def test_after_install_everything_is_ok(repo: Path) -> None:
    tokentag("install", cwd=repo)
    result = tokentag("doctor", cwd=repo, check=False)
    assert result.returncode == 0, result.stdout
    assert "✗" not in result.stdout and "fix:" not in result.stdout
    assert result.stdout.splitlines()[-1] == "all checks passed"
    found = checks_of(repo)
    assert str(config_dir() / "settings.json") in found["Claude Code hooks"].detail
    assert found["hook command"].detail.startswith(f"{sys.executable} with tokentag from ")
    assert json.loads(tokentag("doctor", "--json", cwd=repo).stdout)["ok"] is True


def test_outside_a_repository(tmp_path: Path) -> None:
    result = tokentag("doctor", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "✗ git repository" in result.stdout
    assert "git init" in result.stdout


def test_a_worktree_whose_git_dir_is_gone(tmp_path: Path) -> None:
    """A `.git` file pointing nowhere is no repository, as git sees it."""
    (tmp_path / ".git").write_text("gitdir: /nonexistent/worktree-gitdir\n")
    found = checks_of(tmp_path)
    assert not found["git repository"].ok
    assert found["git repository"].detail == \
        f"{tmp_path}: not a git repository: /nonexistent/worktree-gitdir"
    assert "notes on rewrite" not in found  # nothing of the repository to check
    result = tokentag("doctor", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "✗ git repository" in result.stdout


def test_settings_hooks_and_plugin_together_warn(repo: Path) -> None:
    tokentag("install", cwd=repo)
    activate_plugin()
    found = checks_of(repo)
    hooks = found["Claude Code hooks"]
    assert not hooks.ok and hooks.warning
    assert "runs twice" in hooks.detail
    assert hooks.fix == "tokentag uninstall --scope user && tokentag install"
    result = tokentag("doctor", cwd=repo, check=False)
    assert result.returncode == 1
    assert "! Claude Code hooks" in result.stdout
    # The printed fix works: afterwards only the plugin registers the hooks.
    for command in hooks.fix.split(" && "):
        tokentag(*command.split()[1:], cwd=repo)
    assert tokentag("doctor", cwd=repo, check=False).returncode == 0


def test_foreign_git_hook_is_a_problem_that_install_fixes(repo: Path) -> None:
    tokentag("install", cwd=repo)
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\necho another tool\n")
    check = checks_of(repo)["git hooks"]
    assert not check.ok and not check.warning
    assert "post-commit replaced by another tool's hook" in check.detail
    assert check.fix == "tokentag install"
    assert "✗ git hooks" in tokentag("doctor", cwd=repo, check=False).stdout
    tokentag("install", cwd=repo)
    assert checks_of(repo)["git hooks"].ok
    assert (hook.parent / "post-commit.tokentag-chained").read_text().endswith("another tool\n")


def test_foreign_hook_over_a_chained_one_needs_a_merge(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-commit").write_text("#!/bin/sh\necho first\n")
    tokentag("install", cwd=repo)  # chains "first"
    (hooks / "post-commit").write_text("#!/bin/sh\necho second\n")
    check = checks_of(repo)["git hooks"]
    assert check.fix is not None and check.fix.startswith("merge ")
    assert "post-commit.tokentag-chained" in check.fix


def test_stale_interpreter_in_git_hook(repo: Path) -> None:
    tokentag("install", cwd=repo)
    hook = repo / ".git" / "hooks" / "post-merge"
    text = hook.read_text().splitlines()
    hook.write_text("\n".join("tokentag_python=/gone/bin/python"
                              if line.startswith("tokentag_python=") else line
                              for line in text) + "\n")
    check = checks_of(repo)["git hooks"]
    assert not check.ok and "post-merge points at an interpreter" in check.detail
    assert check.fix == "tokentag install"


def test_missing_hook_program_names_the_scope(repo: Path) -> None:
    write_json(repo / ".claude" / "settings.json", {"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": "/gone/venv/bin/tokentag hook"}]}]}})
    found = checks_of(repo)
    assert found["Claude Code hooks"].ok
    command = found["hook command"]
    assert not command.ok and "the program is gone" in command.detail
    assert command.fix == "tokentag install --scope project"


def test_a_command_an_older_tokentag_registered_is_a_warning_install_fixes(
        repo: Path) -> None:
    tokentag("install", cwd=repo)
    settings = config_dir() / "settings.json"
    current = settings.read_text()
    older = current.replace(" -E -S -P -c ", " -S -c ")
    assert older != current
    settings.write_text(older)
    command = checks_of(repo)["hook command"]
    assert (command.ok, command.warning, command.fix) == (False, True, "tokentag install")
    assert "written by an older tokentag" in command.detail
    tokentag("install", cwd=repo)
    assert settings.read_text() == current
    assert checks_of(repo)["hook command"].ok


def test_malformed_settings_file(repo: Path) -> None:
    (config_dir()).mkdir(parents=True, exist_ok=True)
    (config_dir() / "settings.json").write_text("{not json")
    check = checks_of(repo)["Claude settings"]
    assert not check.ok and check.fix is not None and "by hand" in check.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_ledger_dir(repo: Path) -> None:
    tokentag("install", cwd=repo)
    directory = repo / ".git" / "tokentag"
    (directory / "lock").chmod(0o400)
    try:
        check = checks_of(repo)["ledger"]
    finally:
        (directory / "lock").chmod(0o644)
    assert not check.ok
    assert check.fix == f"chmod -R u+rwX {directory}"


def write_sample_transcript(repo: Path) -> Path:
    path = config_dir() / "projects" / encode_project(repo) / f"{SAMPLE_SESSION}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line.raw for line in parse_sample(repo) if line.agent is None))
    return path


def test_session_without_hooks_is_noticed_then_captured(repo: Path) -> None:
    tokentag("install", cwd=repo)
    transcript = write_sample_transcript(repo)
    found = checks_of(repo)
    assert found["transcripts"].detail.startswith("1 session, last written")
    assert found["capture"].warning and "never ran a tokentag hook" in found["capture"].detail
    payload = json.dumps({"session_id": SAMPLE_SESSION, "transcript_path": str(transcript),
                          "cwd": str(repo), "hook_event_name": "Stop"})
    tokentag("hook", cwd=repo, stdin=payload)
    capture = checks_of(repo)["capture"]
    # 8 requests, and the subagent's request its progress line echoes: its file is not here.
    assert capture.ok and "9 requests, 9 pending" in capture.detail


def test_fresh_failure_in_the_log_is_reported(repo: Path) -> None:
    tokentag("install", cwd=repo)
    unreadable = repo / "a-dir.jsonl"  # named like a transcript, but a directory
    unreadable.mkdir()
    payload = json.dumps({"session_id": "s", "transcript_path": str(unreadable),
                          "cwd": str(repo), "hook_event_name": "Stop"})
    tokentag("hook", cwd=repo, stdin=payload)  # exits 0 and logs the failure
    failures = checks_of(repo)["failures"]
    assert not failures.ok
    assert "a-dir.jsonl: not a regular file" in failures.detail
    assert failures.fix == f"tail -n 20 {repo / '.git' / 'tokentag' / 'tokentag.log'}"


def test_render_without_unicode() -> None:
    checks = [Check("a", True, "fine"), Check("b", False, "broken", "do this"),
              Check("c", False, "meh", "maybe", warning=True)]
    lines = doctor.render(checks, unicode=False)
    assert lines[0].startswith("ok a")
    assert lines[1].startswith("XX b") and lines[2].strip() == "fix: do this"
    assert lines[3].startswith("!! c")
    assert lines[-1] == "2 problem(s) found"


def test_ledger_file_that_cannot_be_opened(repo: Path) -> None:
    tokentag("install", cwd=repo)
    lock = repo / ".git" / "tokentag" / "lock"
    lock.unlink()
    lock.mkdir()  # opening it for writing fails for every user, root included
    check = checks_of(repo)["ledger"]
    assert not check.ok and "Is a directory" in check.detail
    assert check.fix is not None and str(lock.parent) in check.fix


def test_hooks_in_a_settings_file_reached_through_a_link_are_seen(repo: Path,
                                                                   tmp_path: Path) -> None:
    """Claude Code reads a linked settings file (a worktree's link to the main checkout's
    copy, say); doctor reads it too, though install refuses to write through it."""
    from tokentag.setup.claude_settings import hook_command, register_hooks

    shared = tmp_path / "shared" / "settings.local.json"
    shared.parent.mkdir()
    register_hooks(shared, hook_command("local"))
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.local.json").symlink_to(shared)
    found = checks_of(repo)
    assert found["Claude Code hooks"].ok, found["Claude Code hooks"].detail
    assert found["hook command"].ok
    refused = tokentag("install", "--scope", "local", cwd=repo, check=False)
    assert refused.returncode == 1 and "outside the worktree" in refused.stderr
