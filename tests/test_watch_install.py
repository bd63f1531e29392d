"""`tokentag install --mcp --statusline --budget-warnings`: the project's `.mcp.json` and the
settings file's `statusLine` and Stop hook, merged and unmerged exactly, run as Claude
Code runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.claude_lines import Session
from tests.conftest import git, tokentag
from tests.test_attribution import commit
from tests.test_statusline import status_input
from tokentag.setup.watch_settings import original_of, statusline_command

EXTRAS = ("--mcp", "--statusline", "--budget-warnings")
VENV_BIN = str(Path(sys.executable).parent)


def user_settings(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def write(path: Path, text: str) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path.read_bytes()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def run_shell(command: str, cwd: Path, stdin: str, path: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    """The command as Claude Code runs a status line or a hook: through a shell."""
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run(["sh", "-c", command], cwd=cwd, input=stdin, text=True,
                          capture_output=True, check=False, env=env)


# -- .mcp.json --------------------------------------------------------------------------


# As an editor or `claude mcp add` writes it (JSON.stringify's layout, any indent).
MCP_OTHERS = json.dumps({"mcpServers": {"github": {"command": "gh-mcp", "args": ["--ro"],
                                                   "env": {"TOKEN": "${GH_TOKEN}"}}},
                         "note": "équipe"}, indent=4, ensure_ascii=False) + "\n"


def test_mcp_json_is_merged_and_unmerged_exactly(repo: Path) -> None:
    mcp = repo / ".mcp.json"
    original = write(mcp, MCP_OTHERS)
    out = tokentag("install", "--mcp", cwd=repo).stdout
    assert f"Claude Code: MCP server registered in {mcp}\n" in out
    data = load(mcp)
    assert list(data["mcpServers"]) == ["github", "tokentag"]
    assert data["mcpServers"]["github"] == json.loads(MCP_OTHERS)["mcpServers"]["github"]
    assert data["mcpServers"]["tokentag"] == {"type": "stdio", "command": "tokentag",
                                              "args": ["mcp"]}
    assert data["note"] == "équipe" and '\n    "mcpServers"' in mcp.read_text()
    installed = mcp.read_bytes()
    assert "MCP server already in" in tokentag("install", "--mcp", cwd=repo).stdout
    assert mcp.read_bytes() == installed
    assert f"Claude Code: MCP server removed from {mcp}" in tokentag("uninstall", cwd=repo).stdout
    assert mcp.read_bytes() == original


def test_a_mcp_json_tokentag_made_goes_with_uninstall(repo: Path) -> None:
    tokentag("install", "--mcp", cwd=repo)
    assert load(repo / ".mcp.json") == {"mcpServers": {"tokentag": {
        "type": "stdio", "command": "tokentag", "args": ["mcp"]}}}
    tokentag("uninstall", cwd=repo)
    assert not (repo / ".mcp.json").exists()


def test_the_registered_server_answers(repo: Path) -> None:
    """The entry exactly as written, started as Claude Code starts it, from PATH."""
    tokentag("install", "--mcp", cwd=repo)
    entry = load(repo / ".mcp.json")["mcpServers"]["tokentag"]
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}

    async def main() -> list[str]:
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env,
                                       cwd=repo)
        async with stdio_client(params) as (read, write_), \
                ClientSession(read, write_) as client:
            await client.initialize()
            return sorted(tool.name for tool in (await client.list_tools()).tools)

    assert anyio.run(main) == ["get_token_summary", "list_token_events", "record_token_event"]


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "the top level is not a JSON object"),
    ('{"mcpServers": []}', '"mcpServers" is not an object'),
    ('{"mcpServers": {"tokentag": {"command": "npx", "args": ["other-tokentag"]}}}',
     "a server named 'tokentag' is there already and is not tokentag's"),
])
def test_a_mcp_json_tokentag_cannot_edit_is_left_alone(repo: Path, text: str, why: str) -> None:
    original = write(repo / ".mcp.json", text)
    result = tokentag("install", "--mcp", cwd=repo, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"tokentag: {repo / '.mcp.json'}: ") and why in result.stderr
    assert (repo / ".mcp.json").read_bytes() == original
    out = tokentag("uninstall", cwd=repo).stdout  # nothing of ours there: the rest goes on
    assert "post-commit: removed" in out
    unreadable = "is there already" not in why  # an entry not ours is simply not removed
    assert (f"Claude Code: {repo / '.mcp.json'}: " in out) is unreadable
    assert (repo / ".mcp.json").read_bytes() == original


# -- the status line ------------------------------------------------------------------------


def priced_repo(repo: Path) -> Session:
    """A commit on main and a request pending, captured by the installed hooks."""
    session = Session(repo)
    session.add(output=10_000)
    session.hook()
    commit(repo, "one")
    session.add(output=1_000)
    session.hook()
    return session


def test_install_sets_the_status_line_and_uninstall_removes_it(repo: Path,
                                                               isolated_home: Path) -> None:
    settings = user_settings(isolated_home)
    original = write(settings, '{\n  "model": "opus"\n}\n')
    out = tokentag("install", *EXTRAS, cwd=repo).stdout
    assert f"Claude Code: status line set in {settings}\n" in out
    assert f"Claude Code: budget warnings registered in {settings}\n" in out
    line = load(settings)["statusLine"]
    assert line == {"type": "command", "command": statusline_command("user")}
    session = priced_repo(repo)
    shown = run_shell(line["command"], repo, status_input(repo, session))
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout == tokentag("statusline", cwd=repo, stdin=status_input(repo)).stdout
    assert shown.stdout.startswith("pending $")
    installed = settings.read_bytes()
    assert "status line already in" in tokentag("install", *EXTRAS, cwd=repo).stdout
    assert settings.read_bytes() == installed
    out = tokentag("uninstall", cwd=repo).stdout  # the user's file serves every repository
    assert settings.read_bytes() == installed and "hooks in" in out
    out = tokentag("uninstall", "--scope", "user", cwd=repo).stdout
    assert f"Claude Code: status line removed from {settings}" in out
    assert f"Claude Code: budget warnings removed from {settings}" in out
    assert settings.read_bytes() == original


THEIRS = "printf '%s' \"$(cat | head -c 0)Opus 4 in ~/it's \\\"here\\\"\"; echo"


def test_an_existing_status_line_runs_beside_ours_and_comes_back_exactly(
        repo: Path, isolated_home: Path) -> None:
    settings = user_settings(isolated_home)
    mine = {"statusLine": {"type": "command", "command": THEIRS, "padding": 2,
                           "refreshInterval": 5}, "theme": "dark"}
    original = write(settings, json.dumps(mine, indent="\t") + "\n")
    out = tokentag("install", "--statusline", cwd=repo).stdout
    assert f"(beside the one there: {THEIRS})" in out
    line = load(settings)["statusLine"]
    assert (line["type"], line["padding"], line["refreshInterval"]) == ("command", 2, 5)
    assert original_of(line["command"]) == THEIRS
    session = priced_repo(repo)
    payload = status_input(repo, session)
    ours = tokentag("statusline", cwd=repo, stdin=payload).stdout
    shown = run_shell(line["command"], repo, payload)
    assert shown.stdout == f"Opus 4 in ~/it's \"here\" | {ours}"
    # tokentag gone (another interpreter, none on PATH): the original runs alone.
    gone = line["command"].replace(sys.executable, "/nonexistent/python")
    alone = run_shell(gone, repo, payload, path="/usr/bin:/bin")
    assert (alone.returncode, alone.stdout) == (0, "Opus 4 in ~/it's \"here\"\n")
    installed = settings.read_bytes()
    tokentag("install", "--statusline", cwd=repo)  # again: not composed with itself
    assert settings.read_bytes() == installed
    tokentag("uninstall", "--scope", "user", cwd=repo)
    assert settings.read_bytes() == original


def test_the_project_scope_names_no_path_of_this_machine(repo: Path) -> None:
    tokentag("install", "--scope", "project", "--statusline", "--budget-warnings", cwd=repo)
    text = (repo / ".claude" / "settings.json").read_text()
    assert sys.executable not in text and "tokentag_python" not in text
    data = load(repo / ".claude" / "settings.json")
    assert data["statusLine"]["command"] == statusline_command("project")
    tokentag("uninstall", cwd=repo)
    assert not (repo / ".claude" / "settings.json").exists()


@pytest.mark.parametrize("line", ['"just text"', '{"type": "static", "text": "x"}',
                                  '{"type": "command"}'])
def test_a_status_line_tokentag_cannot_run_is_left_alone(repo: Path, isolated_home: Path,
                                                         line: str) -> None:
    settings = user_settings(isolated_home)
    original = write(settings, f'{{"statusLine": {line}}}\n')
    result = tokentag("install", "--statusline", cwd=repo, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert '"statusLine" is not a status line command tokentag can run' in result.stderr
    hooks_only = load(settings)
    assert json.loads(original)["statusLine"] == hooks_only["statusLine"]


# -- the budget warning ------------------------------------------------------------------------


def test_the_registered_budget_warning_runs_at_stop(repo: Path, isolated_home: Path) -> None:
    tokentag("install", "--budget-warnings", cwd=repo)
    settings = load(user_settings(isolated_home))
    [ours] = [hook for group in settings["hooks"]["Stop"] for hook in group["hooks"]
              if "check --stop-hook" in hook["command"]]
    assert ours["timeout"] == 60
    capture = [hook for group in settings["hooks"]["Stop"] for hook in group["hooks"]
               if hook is not ours]
    assert len(capture) == 1  # the capture hook, still on its own
    session = Session(repo)
    session.add(output=30_000)
    tokentag("config", "set", "budgets.commit.tokens", "1000", cwd=repo)
    first = run_shell(ours["command"], repo, session.payload("Stop"))
    assert first.returncode == 0 and first.stderr == ""
    assert json.loads(first.stdout)["systemMessage"].startswith(
        "tokentag: budget exceeded: commit (pending): ")
    again = run_shell(ours["command"], repo, session.payload("Stop"))
    assert (again.returncode, again.stdout) == (0, "")
    git(repo, "status")
