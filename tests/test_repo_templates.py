"""The copied repositories the fixtures hand out are what `tokentag install` makes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import RepoTemplate, git, isolate, tokentag


def files_under(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file below `root`, by relative path: its mode and its content."""
    return {str(path.relative_to(root)): (path.stat().st_mode, path.read_bytes())
            for path in sorted(root.rglob("*")) if path.is_file()}


def index_rows(repo: Path) -> tuple[list[str], int]:
    """The index's content, and apart from it the time discovery starts from."""
    index = sqlite3.connect(repo / ".git" / "tokentag" / "index.sqlite")
    start = int(index.execute("SELECT value FROM meta WHERE name='last_flush_ns'").fetchone()[0])
    rows = [line for line in index.iterdump() if "last_flush_ns" not in line]
    index.close()
    return rows, start


def test_a_copied_install_is_a_fresh_install(installed_template: RepoTemplate, tmp_path: Path,
                                             isolated_home: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             request: pytest.FixtureRequest) -> None:
    before_copy = time.time_ns()  # the template was made earlier
    copied: Path = request.getfixturevalue("installed_repo")
    after_copy = time.time_ns()
    fresh_home = tmp_path / "fresh-home"
    fresh_home.mkdir()
    isolate(monkeypatch, fresh_home)
    fresh = tmp_path / "fresh" / "repo"
    fresh.mkdir(parents=True)
    git(fresh, "init", "-q")
    tokentag("install", cwd=fresh)

    def without_index(repo: Path) -> dict[str, tuple[int, bytes]]:
        return {name: data for name, data in files_under(repo).items()
                if name != ".git/tokentag/index.sqlite"}

    assert without_index(copied) == without_index(fresh)
    copied_rows, copied_start = index_rows(copied)
    fresh_rows, _ = index_rows(fresh)
    assert copied_rows == fresh_rows
    assert before_copy <= copied_start <= after_copy
    assert files_under(isolated_home) == files_under(fresh_home)
