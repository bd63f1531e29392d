"""Shared fixtures: every test runs with a temporary HOME and Claude config dir."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests import corpora


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point HOME, CLAUDE_CONFIG_DIR and the XDG dirs at temp dirs (Codex's dir follows
    HOME), fix the time zone, and give git a fixed identity."""
    home = tmp_path_factory.mktemp("home")
    isolate(monkeypatch, home)
    yield home


@pytest.fixture(autouse=True)
def subprocess_coverage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ./test.sh coverage starts in every Python subprocess, importing modules of its
    own: a test marked `without_coverage` counts what its subprocesses import."""
    if request.node.get_closest_marker("without_coverage"):
        monkeypatch.delenv("COVERAGE_PROCESS_CONFIG", raising=False)


@pytest.fixture(scope="session", params=["generated", "real"])
def corpus(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> corpora.Corpus:
    """Each corpus of transcripts the replaying tests run over: the generated one, and the
    real sessions in ../shared/transcripts where they are."""
    if request.param == "real":
        if not corpora.TRANSCRIPTS.is_dir():
            pytest.skip(corpora.REAL_MISSING)
        return corpora.REAL
    from tests import generated_corpus  # it builds on modules that import this one

    return generated_corpus.write(tmp_path_factory.mktemp("generated-corpus"))


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point HOME and CLAUDE_CONFIG_DIR into `home` and give git a fixed identity."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("TZ", "UTC")  # reports show local days: the same ones on every machine
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in (("GIT_AUTHOR_NAME", "Test Author"), ("GIT_COMMITTER_NAME", "Test Author"),
                        ("GIT_AUTHOR_EMAIL", "test@example.com"),
                        ("GIT_COMMITTER_EMAIL", "test@example.com")):
        monkeypatch.setenv(name, value)
    # No dates either: a commit made "now" must be made now, whatever ran before.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
                 "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE", "CODEX_HOME", "CODEX_THREAD_ID"):
        monkeypatch.delenv(name, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")


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


class RepoTemplate:
    """Repositories made once, in a HOME of their own, then copied into each test that
    needs them: a `tokentag install` costs a process start, a copy a few milliseconds.

    A copy behaves as if it had been made in the test itself: the git hooks name the
    interpreter and the project by absolute paths, which hold for every test; what install
    writes in HOME (the Claude settings, the list of repositories) is copied into the
    test's HOME, the tree's paths in it made the copy's; and the time the install started
    discovery from is moved to the moment of the copy."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.tree = root / "tree"
        self.installed: list[Path] = []  # relative to the tree
        self.per_home: list[Path] = []  # what making the tree wrote in HOME

    @contextmanager
    def making(self) -> Iterator[Path]:
        """The tree to make the repositories in, with the environment a test has."""
        self.home.mkdir(parents=True)
        self.tree.mkdir()
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolate(monkeypatch, self.home)
            home_before = set(self.home.iterdir())
            yield self.tree
            self.per_home = sorted(set(self.home.iterdir()) - home_before)

    def install(self, repo: Path) -> None:
        tokentag("install", cwd=repo)
        self.installed.append(repo.relative_to(self.tree))

    def copy_to(self, dest: Path, home: Path) -> None:
        """Copy the tree's repositories into `dest` and install's files into `home`."""
        shutil.copytree(self.tree, dest, symlinks=True, dirs_exist_ok=True)
        for path in self.per_home:
            assert not (home / path.name).exists(), f"{path.name} is in HOME before install"
            if path.is_dir():
                shutil.copytree(path, home / path.name, symlinks=True)
            else:
                shutil.copy2(path, home / path.name)
        for path in self.per_home:
            self._point_at(home / path.name, dest)
        for repo in self.installed:
            start_discovery_now(dest / repo)


    def _point_at(self, copied: Path, dest: Path) -> None:
        """The tree's paths in the files under `copied`, made `dest`'s."""
        for path in [copied, *copied.rglob("*")] if copied.is_dir() else [copied]:
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if bytes(self.tree) in data:
                    path.write_bytes(data.replace(bytes(self.tree), bytes(dest)))


def start_discovery_now(repo: Path) -> None:
    """Commits look for new transcripts changed since the time install recorded: make
    that the time of the copy."""
    state = sqlite3.connect(repo / ".git" / "tokentag" / "state.sqlite")
    state.execute("PRAGMA journal_mode=TRUNCATE")  # as tokentag keeps it: an empty file
    with state:
        changed = state.execute("UPDATE stamps SET value=? WHERE name IN ('last_flush_ns', "
                                "'installed_ns')", (str(time.time_ns()),)).rowcount
    state.close()
    assert changed == 2, f"no discovery start in {repo}'s state"


@pytest.fixture(scope="session")
def installed_template(tmp_path_factory: pytest.TempPathFactory) -> RepoTemplate:
    template = RepoTemplate(tmp_path_factory.mktemp("installed-template"))
    with template.making() as tree:
        path = tree / "repo"
        path.mkdir()
        git(path, "init", "-q")
        template.install(path)
    return template


@pytest.fixture
def installed_repo(installed_template: RepoTemplate, tmp_path: Path,
                   isolated_home: Path) -> Path:
    """A fresh git repository with no commits, after `tokentag install` in it."""
    installed_template.copy_to(tmp_path, isolated_home)
    return tmp_path / "repo"


def tokentag(*args: str, cwd: Path, stdin: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed `tokentag` command as a real subprocess."""
    exe = Path(sys.executable).with_name("tokentag")
    result = subprocess.run([str(exe), *args], cwd=cwd, input=stdin, text=True,
                            errors="surrogateescape", capture_output=True, check=False,
                            env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"tokentag {' '.join(args)} exited {result.returncode}: "
                             f"{result.stderr}")
    return result


def cli_json(repo: Path, *args: str) -> Any:
    """What `tokentag ARGS --json` prints, parsed; it must say nothing on stderr."""
    result = tokentag(*args, "--json", cwd=repo)
    assert result.stderr == ""
    return json.loads(result.stdout)
