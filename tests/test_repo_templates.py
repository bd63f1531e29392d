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


STAMPED = ("last_flush_ns", "installed_ns", "applied_at")  # times, set at install or copy


def database_rows(repo: Path) -> tuple[list[str], int]:
    """The index's and the state's content without the times they hold, and apart from
    them the time discovery starts from."""
    rows: list[str] = []
    for name in ("index.sqlite", "state.sqlite"):
        database = sqlite3.connect(repo / ".git" / "tokentag" / name)
        rows += [line for line in database.iterdump()
                 if not any(stamp in line for stamp in STAMPED)
                 and not line.startswith('INSERT INTO "migrations"')]
        if name == "state.sqlite":
            start = int(database.execute("SELECT value FROM stamps WHERE "
                                         "name='last_flush_ns'").fetchone()[0])
        database.close()
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

    def without_databases(repo: Path) -> dict[str, tuple[int, bytes]]:
        return {name: data for name, data in files_under(repo).items()
                if name not in (".git/tokentag/index.sqlite", ".git/tokentag/state.sqlite")}

    assert without_databases(copied) == without_databases(fresh)
    copied_rows, copied_start = database_rows(copied)
    fresh_rows, _ = database_rows(fresh)
    assert copied_rows == fresh_rows
    assert before_copy <= copied_start <= after_copy
    def naming_no_repository(home: Path, repo: Path) -> dict[str, tuple[int, bytes]]:
        return {name: (mode, data.replace(bytes(repo), b"REPO"))
                for name, (mode, data) in files_under(home).items()}

    assert naming_no_repository(isolated_home, copied) == naming_no_repository(fresh_home, fresh)
    assert bytes(copied) in (isolated_home / ".local/state/tokentag/repositories").read_bytes()
