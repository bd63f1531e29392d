"""Registering tokentag's Claude Code hooks in settings files, and the plugin's own files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tokentag.core.errors import TokentagError
from tokentag.setup.claude_settings import (
    HOOK_EVENTS,
    baked_paths,
    hook_command,
    is_our_hook,
    plugin_active,
    register_hooks,
    registered_in,
    settings_path,
    unregister_hooks,
)

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "/opt/venvs/tokentag/bin/tokentag hook"

OTHER_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"], "deny": []},
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
        "PostToolUse": [{"matcher": "Bash",
                         "hooks": [{"type": "command", "command": "audit-bash", "timeout": 5}]}],
        "PreToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "lint"}]}],
    },
    "env": {"FOO": "bär"},
}


def write_json(path: Path, data: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path.read_bytes()


def ours_in(data: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [hook for group in data["hooks"].get(event, []) for hook in group["hooks"]
            if hook.get("command") == COMMAND]


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


def test_register_preserves_other_settings_and_hooks(settings: Path) -> None:
    write_json(settings, OTHER_SETTINGS)
    assert register_hooks(settings, COMMAND) is True
    data = json.loads(settings.read_text())
    assert [key for key in data] == ["model", "permissions", "hooks", "env"]
    assert data["permissions"] == OTHER_SETTINGS["permissions"]
    assert data["env"] == {"FOO": "bär"}
    for event, groups in OTHER_SETTINGS["hooks"].items():
        assert data["hooks"][event][: len(groups)] == groups  # untouched, first, in order
    for event in HOOK_EVENTS:
        assert ours_in(data, event) == [{"type": "command", "command": COMMAND, "timeout": 10}]
    post = data["hooks"]["PostToolUse"]
    assert post[0]["matcher"] == "Bash" and post[1]["matcher"] == "*"
    assert "matcher" not in data["hooks"]["Stop"][-1]
    assert settings.read_text().endswith("}\n") and '\n  "model"' in settings.read_text()


def test_register_twice_writes_nothing(settings: Path) -> None:
    write_json(settings, OTHER_SETTINGS)
    register_hooks(settings, COMMAND)
    before = settings.read_bytes()
    mtime = settings.stat().st_mtime_ns
    assert register_hooks(settings, COMMAND) is False
    assert settings.read_bytes() == before
    assert settings.stat().st_mtime_ns == mtime


def test_other_spelling_of_our_command_counts_as_installed(settings: Path) -> None:
    write_json(settings, {"hooks": {event: [{"hooks": [
        {"type": "command", "command": "tokentag hook", "timeout": 10}]}]
        for event in HOOK_EVENTS}})
    before = settings.read_bytes()
    # Not byte-identical (the path changes), but no second entry appears anywhere.
    register_hooks(settings, COMMAND)
    data = json.loads(settings.read_text())
    assert all(len(data["hooks"][event]) == 1 for event in HOOK_EVENTS)
    assert settings.read_bytes() != before


def test_older_path_is_replaced_in_place(settings: Path) -> None:
    old = "'/old venv/bin/tokentag' hook"
    original = {"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": "before"},
        {"type": "command", "command": old, "timeout": 30},
        {"type": "command", "command": "after"}]}]}}
    write_json(settings, original)
    assert register_hooks(settings, COMMAND) is True
    stop = json.loads(settings.read_text())["hooks"]["Stop"]
    assert stop == [{"hooks": [{"type": "command", "command": "before"},
                               {"type": "command", "command": COMMAND, "timeout": 10},
                               {"type": "command", "command": "after"}]}]


@pytest.mark.parametrize("ensure_ascii", [True, False])  # json.dumps vs JSON.stringify style
def test_unregister_restores_original_bytes(settings: Path, ensure_ascii: bool) -> None:
    settings.write_text(json.dumps(OTHER_SETTINGS, indent=2, ensure_ascii=ensure_ascii) + "\n",
                        encoding="utf-8")
    original = settings.read_bytes()
    register_hooks(settings, COMMAND)
    assert unregister_hooks(settings) is True
    assert settings.read_bytes() == original
    assert unregister_hooks(settings) is False
    assert settings.read_bytes() == original


def test_unregister_keeps_groups_shared_with_other_hooks(settings: Path) -> None:
    write_json(settings, {"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": "keep-me"},
        {"type": "command", "command": COMMAND, "timeout": 10}]}]}})
    assert unregister_hooks(settings) is True
    assert json.loads(settings.read_text()) == {
        "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "keep-me"}]}]}}


def test_install_into_missing_file_then_uninstall_deletes_it(tmp_path: Path) -> None:
    path = tmp_path / "deep" / ".claude" / "settings.local.json"
    assert register_hooks(path, COMMAND) is True
    assert set(json.loads(path.read_text())["hooks"]) == set(HOOK_EVENTS)
    assert unregister_hooks(path) is True
    assert not path.exists()
    assert unregister_hooks(path) is False


def test_indentation_and_permissions_are_kept(settings: Path) -> None:
    settings.write_text(json.dumps({"model": "opus"}, indent=4) + "\n")
    settings.chmod(0o600)
    register_hooks(settings, COMMAND)
    assert '\n    "model": "opus"' in settings.read_text()
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert not [p for p in settings.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("text, why", [
    ('{"model": "opus",', "not valid JSON"),
    ('["not", "an", "object"]', "top level"),
    ('{"hooks": []}', '"hooks" is not an object'),
    ('{"hooks": {"Stop": {"hooks": []}}}', "not a list of objects"),
    ('{"hooks": {"Stop": [{"hooks": "x"}]}}', "not a list"),
])
def test_malformed_settings_raise_and_stay_untouched(settings: Path, text: str,
                                                     why: str) -> None:
    settings.write_text(text)
    actions: list[Callable[[], bool]] = [lambda: register_hooks(settings, COMMAND),
                                         lambda: unregister_hooks(settings)]
    for action in actions:
        with pytest.raises(TokentagError) as caught:
            action()
        message = str(caught.value)
        assert str(settings) in message and why in message and "\n" not in message
        assert settings.read_text() == text


def test_user_settings_honour_claude_config_dir(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert settings_path("user", None) == tmp_path / "cfg" / "settings.json"


def test_user_settings_default_to_home(isolated_home: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert settings_path("user", None) == isolated_home / ".claude" / "settings.json"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "")
    assert settings_path("user", None) == isolated_home / ".claude" / "settings.json"


def test_project_and_local_scopes(repo: Path) -> None:
    assert settings_path("project", repo) == repo / ".claude" / "settings.json"
    assert settings_path("local", repo) == repo / ".claude" / "settings.local.json"
    with pytest.raises(TokentagError):
        settings_path("project", None)
    with pytest.raises(TokentagError):
        settings_path("global", repo)


def test_registered_in_lists_files_holding_our_hooks(repo: Path) -> None:
    assert registered_in(repo) == []
    register_hooks(settings_path("user", None), COMMAND)
    register_hooks(settings_path("local", repo), COMMAND)
    write_json(settings_path("project", repo), OTHER_SETTINGS)
    assert registered_in(repo) == [settings_path("user", None), settings_path("local", repo)]
    assert registered_in(None) == [settings_path("user", None)]
    settings_path("user", None).write_text("{broken")
    assert registered_in(repo) == [settings_path("local", repo)]


def run_registered(command: str, cwd: Path, payload: bytes, path: str) -> \
        subprocess.CompletedProcess[bytes]:
    """As Claude Code runs a hook command: through a shell, the payload on stdin."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, input=payload, capture_output=True,
                          env={**os.environ, "PATH": path}, timeout=30, check=False)


def test_the_registered_command_runs_this_tokentag_without_its_wrapper(
        tmp_path: Path, repo: Path) -> None:
    python = tmp_path / "my venv" / "bin" / "python"
    command = hook_command("user", str(python), "/opt/a root")
    assert is_our_hook({"command": command}) and is_our_hook({"command": hook_command()})
    assert baked_paths(command) == (str(python), "/opt/a root")
    assert "'" + str(python) + "'" in command  # quoted for the shell
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    session = Session(repo)
    session.add()
    result = run_registered(hook_command(), repo, session.payload("Stop").encode(),
                            path="/usr/bin:/bin")  # no tokentag on PATH: the baked one runs
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    report = json.loads(tokentag("report", "--json", cwd=repo).stdout)
    assert report["totals"]["tokens"] == session.totals()


def test_a_registered_command_whose_tokentag_is_gone_reads_its_payload_and_exits_0(
        tmp_path: Path, repo: Path) -> None:
    """After the venv was deleted, with no tokentag on PATH: Claude Code must see nothing."""
    gone = hook_command("user", str(tmp_path / "deleted" / "python"), str(tmp_path / "deleted"))
    payload = b'{"cwd": "' + str(repo).encode() + b'", "x": "' + b"a" * (4 << 20) + b'"}\n'
    for command in (gone, hook_command("project")):
        result = run_registered(command, repo, payload, path="/usr/bin:/bin")
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert not (repo / ".git" / "tokentag").exists()


def test_the_project_scope_command_names_no_path_of_this_machine(repo: Path) -> None:
    command = hook_command("project")
    assert "/" not in command.replace(">/dev/null", "") and sys.executable not in command
    assert is_our_hook({"command": command})
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", "--scope", "project", cwd=repo)
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    assert {hook["command"] for groups in settings["hooks"].values() for group in groups
            for hook in group["hooks"]} == {command}
    session = Session(repo)
    session.add()
    on_path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # a teammate's tokentag
    result = run_registered(command, repo, session.payload("Stop").encode(), path=on_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    report = json.loads(tokentag("report", "--json", cwd=repo).stdout)
    assert report["totals"]["tokens"] == session.totals()


def test_unrelated_commands_are_not_ours() -> None:
    assert not is_our_hook({"command": "git hook"})
    assert not is_our_hook({"command": "tokentag report"})
    assert not is_our_hook("tokentag hook")
    assert is_our_hook({"command": "python3 -m tokentag hook"})


def test_plugin_active_needs_install_record_and_enablement(tmp_path: Path, repo: Path) -> None:
    config = tmp_path / "cfg"
    assert plugin_active(config, repo) is False
    write_json(config / "settings.json", {"enabledPlugins": {"tokentag@acme": True}})
    assert plugin_active(config, repo) is False  # enabled but not installed
    write_json(config / "plugins" / "installed_plugins.json", {"version": 2, "plugins": {
        "tokentag@acme": [{"scope": "user", "installPath": str(tmp_path / "cache")}]}})
    assert plugin_active(config, repo) is True
    assert plugin_active(config, None) is True
    write_json(repo / ".claude" / "settings.local.json",
               {"enabledPlugins": {"tokentag@acme": False}})
    assert plugin_active(config, repo) is False  # the local file wins
    assert plugin_active(config, None) is True


def test_plugin_enabled_in_project_and_found_in_cache(tmp_path: Path, repo: Path) -> None:
    config = tmp_path / "cfg"
    write_json(repo / ".claude" / "settings.json",
               {"enabledPlugins": {"other@acme": True, "tokentag@team": True}})
    assert plugin_active(config, repo) is False
    (config / "plugins" / "cache" / "team" / "tokentag").mkdir(parents=True)
    assert plugin_active(config, repo) is True
    assert plugin_active(config, None) is False


def test_plugin_hooks_json_covers_every_event() -> None:
    data = json.loads((ROOT / "hooks" / "hooks.json").read_text())
    assert set(data["hooks"]) == set(HOOK_EVENTS)
    for event in HOOK_EVENTS:
        [group] = data["hooks"][event]
        [hook] = group["hooks"]
        assert hook["type"] == "command" and hook["timeout"] == 10
        assert "${CLAUDE_PLUGIN_ROOT}/hooks/tokentag-hook" in hook["command"]
        assert group.get("matcher") == ("*" if event == "PostToolUse" else None)


def test_plugin_manifest_names_tokentag() -> None:
    manifest = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "tokentag"
    assert "hooks" not in manifest  # hooks/hooks.json loads by convention; naming it twice errors


HOOK_SCRIPT = ROOT / "hooks" / "tokentag-hook"


def run_hook_script(path_env: str, tmp_path: Path, payload: str = '{"hook_event_name": "Stop"}\n',
                    cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path_env, "CLAUDE_PLUGIN_ROOT": str(ROOT),
           "OUT": str(tmp_path / "out")}
    return subprocess.run(["/bin/sh", str(HOOK_SCRIPT)], input=payload, text=True, cwd=cwd,
                          capture_output=True, env=env, check=False, timeout=30)


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(0o755)


def test_hook_script_is_executable() -> None:
    assert os.access(HOOK_SCRIPT, os.X_OK)
    assert HOOK_SCRIPT.read_text().startswith("#!/bin/sh\n")


def test_hook_script_exits_zero_when_nothing_can_run(tmp_path: Path) -> None:
    result = run_hook_script("/nonexistent", tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""


def test_hook_script_prefers_tokentag_on_path(tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "tokentag", 'printf "%s\\n" "$*" > "$OUT"\n'
              'while IFS= read -r l; do echo "$l" >> "$OUT"; done\nexit 3')
    fake_tool(tmp_path / "bin", "python3", 'echo python > "$OUT"')
    result = run_hook_script(str(tmp_path / "bin"), tmp_path)
    assert result.returncode == 0  # a failing tokentag still never fails the hook
    assert (tmp_path / "out").read_text() == 'hook\n{"hook_event_name": "Stop"}\n'


def test_hook_script_falls_back_to_the_plugin_copy_and_nothing_in_the_project(
        tmp_path: Path, repo: Path) -> None:
    """With no tokentag on PATH, the plugin's own copy runs on python3; the project dir,
    the hook's cwd, may hold a `tokentag` package or a `contextlib.py` of anyone's."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    ran = tmp_path / "ran"
    (repo / "tokentag").mkdir()
    for planted in ("tokentag/__init__.py", "tokentag/__main__.py", "contextlib.py"):
        (repo / planted).write_text(f"open({str(ran)!r}, 'a').write({planted!r})\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(sys.executable)
    session = Session(repo)
    session.add()
    result = run_hook_script(f"{tmp_path / 'bin'}:/usr/bin:/bin", tmp_path,
                             session.payload("Stop"), cwd=repo)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not ran.exists()
    report = json.loads(tokentag("report", "--json", cwd=repo).stdout)
    assert report["totals"]["tokens"] == session.totals()


def test_hook_script_on_a_python_too_old_reads_the_payload_and_does_nothing(
        tmp_path: Path, repo: Path) -> None:
    """This interpreter posing as 3.10: the script's own code, its flags dropped."""
    fake_tool(tmp_path / "bin", "python3", 'while [ "$1" != -c ]; do shift; done; shift\n'
              f'{sys.executable} -c "import sys; sys.version_info = (3, 10); '
              'exec(sys.argv.pop(1))" "$@"\necho "$?" > "$OUT"')
    session = Session(repo)
    session.add()
    result = run_hook_script(str(tmp_path / "bin"), tmp_path, session.payload("Stop"), cwd=repo)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "out").read_text() == "0\n"
    assert not (repo / ".git" / "tokentag").exists()


def test_links_in_a_cloned_repository_lead_no_write_out_of_it(
        tmp_path: Path, repo: Path, isolated_home: Path) -> None:
    """Settings, `.mcp.json` and `.tokentag.toml` are the repository's files; committed
    links may point them at the user's own settings or anywhere else."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", "--scope", "user", cwd=repo)
    user = isolated_home / ".claude" / "settings.json"
    users_own = user.read_bytes()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other.toml").write_text("kept = 1\n")
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.local.json").symlink_to(user)
    (repo / ".claude" / "settings.json").symlink_to(outside / "made.json")
    (repo / ".mcp.json").symlink_to(outside / "mcp.json")
    (repo / ".tokentag.toml").symlink_to(outside / "other.toml")
    for args in (("install", "--scope", "local"), ("install", "--scope", "project"),
                 ("install", "--scope", "project", "--mcp"), ("uninstall", "--scope", "local"),
                 ("config", "set", "compact_notes", "true")):
        result = tokentag(*args, cwd=repo, check=False)
        assert result.returncode != 0 and "outside the worktree" in result.stderr, args
        assert len(result.stderr.strip().splitlines()) == 1, args
    out = tokentag("uninstall", cwd=repo).stdout  # this repository's own: the user's stays
    assert out.count("left alone") == 2 and "post-commit: removed from" in out
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    assert user.read_bytes() == users_own
    assert sorted(p.name for p in outside.iterdir()) == ["other.toml"]
    assert (outside / "other.toml").read_text() == "kept = 1\n"


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_settings_and_config_that_never_end_are_refused_in_one_line(
        tmp_path: Path, repo: Path, target: str) -> None:
    """A cloned repository's `.tokentag.toml` and `.claude/settings*.json` may link to a
    device or a FIFO: read as files, they would never end, or never start."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = str(tmp_path / "fifo")
    (repo / ".claude").mkdir()
    for name in (".tokentag.toml", ".claude/settings.json", ".claude/settings.local.json"):
        (repo / name).symlink_to(target)
    report = tokentag("report", cwd=repo, check=False)  # reads the config
    assert (report.returncode, report.stderr) == (
        1, f"tokentag: cannot read config {repo / '.tokentag.toml'}: not a regular file\n")
    (repo / ".tokentag.toml").unlink()
    # Whether the plugin is enabled is read from the project's files: those are skipped.
    assert "hooks registered in" in tokentag("install", "--scope", "user", cwd=repo).stdout
    doctor = tokentag("doctor", cwd=repo, check=False)  # reads every settings file, and ends
    assert doctor.returncode == 1 and "not a regular file" in doctor.stdout
