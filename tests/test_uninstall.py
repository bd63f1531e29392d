"""`tokentag uninstall` removes what serves this repository and nothing that serves others."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import git, tokentag
from tokentag.setup.claude_settings import registered_in, settings_path


def installed_repo(path: Path, *scopes: str) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    git(path, "commit", "-q", "--allow-empty", "-m", "root")
    for scope in scopes:
        tokentag("install", "--scope", scope, cwd=path)
    return path


def test_uninstall_in_one_repository_leaves_the_hooks_that_serve_every_repository(
        tmp_path: Path) -> None:
    first = installed_repo(tmp_path / "first", "user")
    out = tokentag("uninstall", cwd=first).stdout
    assert not (first / ".git" / "hooks" / "post-commit").exists()
    assert registered_in(None) == [settings_path("user", None)]
    assert "stay: they capture in every repository" in out
    assert "tokentag uninstall --scope user" in out


def test_uninstall_of_one_settings_scope_keeps_the_git_hooks(tmp_path: Path) -> None:
    repo = installed_repo(tmp_path / "repo", "user", "project")
    tokentag("uninstall", "--scope", "project", cwd=repo)
    assert (repo / ".git" / "hooks" / "post-commit").exists()
    assert git(repo, "config", "--get-all", "notes.rewriteRef") == "refs/notes/tokentag"
    assert registered_in(repo) == [settings_path("user", None)]


def test_uninstall_of_the_user_scope_works_outside_any_repository(tmp_path: Path) -> None:
    repo = installed_repo(tmp_path / "repo", "user")
    outside = tmp_path / "outside"
    outside.mkdir()
    tokentag("uninstall", "--scope", "user", cwd=outside)
    assert registered_in(repo) == []
    assert (repo / ".git" / "hooks" / "post-commit").exists()
    refused = tokentag("uninstall", cwd=outside, check=False)
    assert refused.returncode == 1 and "--scope user" in refused.stderr


def test_uninstall_all_removes_everything_install_added(tmp_path: Path) -> None:
    repo = installed_repo(tmp_path / "repo", "user", "local")
    user_settings = settings_path("user", None)
    tokentag("uninstall", "--all", cwd=repo)
    assert registered_in(repo) == []
    assert not user_settings.exists()  # install made it; nothing else was in it
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    left = subprocess.run(["git", "-C", str(repo), "config", "--get-all", "notes.rewriteRef"],
                          capture_output=True, text=True, check=False)
    assert (left.returncode, left.stdout) == (1, "")
    assert json.loads(tokentag("status", "--json", cwd=repo).stdout)["requests"] == 0
    assert os.path.isdir(repo / ".git" / "tokentag")  # the ledger stays


def _rebase_all(repo: Path) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    result = subprocess.run(["git", "-C", str(repo), "rebase", "-q", "-f", "HEAD~1"],
                            capture_output=True, text=True, check=True)
    return result.stdout + result.stderr


def test_a_rebase_before_the_first_note_says_nothing_and_uninstall_takes_the_ref_back(
        tmp_path: Path) -> None:
    repo = installed_repo(tmp_path / "repo", "local")
    assert _rebase_all(repo) == ""  # git warned "notes ref refs/notes/tokentag is invalid"
    tokentag("uninstall", cwd=repo)
    assert git(repo, "for-each-ref", "refs/notes") == ""


def test_uninstall_keeps_a_notes_ref_that_holds_notes(tmp_path: Path) -> None:
    repo = installed_repo(tmp_path / "repo", "local")
    git(repo, "notes", "--ref", "tokentag", "add", "-m", "{}", "HEAD")
    tokentag("uninstall", cwd=repo)
    assert git(repo, "notes", "--ref", "tokentag", "list") != ""
