"""Shared fixtures: every test runs with a temporary HOME and Claude config dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRANSCRIPTS = SHARED / "transcripts"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point HOME and CLAUDE_CONFIG_DIR at temp dirs (Codex's dir follows HOME) and give git
    a fixed identity."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in (("GIT_AUTHOR_NAME", "Test Author"), ("GIT_COMMITTER_NAME", "Test Author"),
                        ("GIT_AUTHOR_EMAIL", "test@example.com"),
                        ("GIT_COMMITTER_EMAIL", "test@example.com")):
        monkeypatch.setenv(name, value)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
                 "CODEX_HOME", "CODEX_THREAD_ID"):
        monkeypatch.delenv(name, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    yield home


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """Run git in `repo`, failing the test on a non-zero exit."""
    result = subprocess.run(["git", "-C", str(repo), *args], input=stdin, text=True,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository with no commits."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    return path


def tokentag(*args: str, cwd: Path, stdin: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed `tokentag` command as a real subprocess."""
    exe = Path(sys.executable).with_name("tokentag")
    result = subprocess.run([str(exe), *args], cwd=cwd, input=stdin, text=True,
                            capture_output=True, check=False, env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"tokentag {' '.join(args)} exited {result.returncode}: "
                             f"{result.stderr}")
    return result
