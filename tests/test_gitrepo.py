"""The GitPython door: the repository it opens, its errors in one line of git's words, and
the environment its git subprocesses get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.conftest import git, tokentag
from tokentag.core.errors import TokentagError
from tokentag.git import gitrepo

ROOT = Path(__file__).resolve().parents[1]


def test_opens_the_repository_from_a_subdirectory_and_runs_its_commands(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    (repo / "sub").mkdir()
    opened = gitrepo.open_repo(repo / "sub")
    assert Path(opened.working_dir) == repo
    assert gitrepo.run(opened.git, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert gitrepo.run(opened.git, "rev-parse", "--verify", "--quiet", "nope",
                       check=False) == ""
    with pytest.raises(TokentagError) as failure:
        gitrepo.run(opened.git, "rev-parse", "--verify", "nope")
    assert str(failure.value) == "git rev-parse failed: fatal: Needed a single revision"


def test_a_path_is_taken_as_it_is(tmp_path: Path) -> None:
    """A `$NAME` or `~` in a directory name is part of the name, not a variable."""
    odd = tmp_path / "cost$HOME ~ %PATH%"
    git(tmp_path, "init", "-q", str(odd))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Path(gitrepo.open_repo(odd).working_dir) == odd


def test_a_git_file_pointing_nowhere_is_git_s_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").write_text("gitdir: /nonexistent/gitdir\n")
    for where in (tmp_path, tmp_path / "sub"):
        with pytest.raises(TokentagError) as failure:
            gitrepo.open_repo(where)
        assert str(failure.value) == "not a git repository: /nonexistent/gitdir"


def test_outside_any_repository_and_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TokentagError, match=r"^not a git repository \(or any"):
        gitrepo.open_repo(tmp_path)
    with pytest.raises(TokentagError, match=r"^no such directory: "):
        gitrepo.open_repo(tmp_path / "gone")


def test_hook_variables_leave_the_environment_before_git_runs(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As inside a git hook of another repository: the door still acts on `repo`."""
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "bogus-index"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Kept")
    opened = gitrepo.open_repo(repo)
    assert "GIT_DIR" not in os.environ and "GIT_INDEX_FILE" not in os.environ
    assert os.environ["GIT_AUTHOR_NAME"] == "Kept"
    assert gitrepo.run(opened.git, "rev-parse", "--git-path", "index") == ".git/index"
    assert Path(gitrepo.run(opened.git, "rev-parse", "--absolute-git-dir")) == repo / ".git"


def test_input_output_and_blobs_read_in_one_batch(repo: Path) -> None:
    opened = gitrepo.open_repo(repo)
    texts = [b"first\n", "zweite \u00e9\n".encode(), b"no newline \x00 at end"]
    blobs = [gitrepo.run(opened.git, "hash-object", "-w", "--stdin", stdin=text)
             for text in texts]
    assert blobs == [git(repo, "hash-object", "--stdin", stdin=t.decode()) for t in texts]
    missing = "0" * 40
    assert gitrepo.read_blobs(opened.git, [*blobs, missing]) == dict(zip(blobs, texts,
                                                                        strict=True))
    assert gitrepo.read_blobs(opened.git, []) == {}


@pytest.mark.parametrize(("claimed", "date"), [
    ("99999999999999999", "9999-01-01T00:00:00Z"),
    ("18446744073709551616", "9999-01-01T00:00:00Z"),
    ("-99999999999999999", "1970-01-01T00:00:00Z"),
])
def test_a_commit_time_no_date_can_hold_is_the_nearest_one(repo: Path, tmp_path: Path,
                                                           claimed: str, date: str) -> None:
    """A cloned history may hold any time git's parser lets through: every command that
    dates commits still answers."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    tree, parent = git(repo, "rev-parse", "HEAD^{tree}"), git(repo, "rev-parse", "HEAD")
    raw = (f"tree {tree}\nparent {parent}\nauthor t <t@e> {claimed} +0000\n"
           f"committer t <t@e> {claimed} +0000\n\nfrom far away\n")
    odd = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", stdin=raw)
    git(repo, "update-ref", "refs/heads/main", odd)
    git(repo, "update-ref", "refs/tags/v1", odd)  # `git tag` itself refuses some times
    tokentag("record", "--tokens-in", "10", "--tokens-out", "10", "--commit", "HEAD", cwd=repo)
    assert json.loads(tokentag("show", "HEAD", "--json", cwd=repo).stdout)["date"] == date
    [row] = json.loads(tokentag("report", "--by", "commit", "--json", cwd=repo).stdout)["rows"]
    assert (row["key"], row["date"]) == (odd, date)
    for zone in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):  # +14:00, -11:00
        assert "from far away" in tokentag("report", "--by", "commit", "--tz", zone,
                                           cwd=repo).stdout
    tokentag("dashboard", "-o", str(tmp_path / "page.html"), "--tz", "Pacific/Kiritimati",
             cwd=repo)
    assert (tmp_path / "page.html").stat().st_size > 0


def test_without_git_on_path_the_error_says_so(repo: Path) -> None:
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from tokentag.git import gitrepo\n"
            "from tokentag.core.errors import TokentagError\n"
            "try:\n"
            f"    gitrepo.open_repo({str(repo)!r})\n"
            "except TokentagError as error:\n"
            "    print(error)\n")
    env = {**os.environ, "PATH": "/nonexistent"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out == "git is not installed or not on PATH\n"


def test_gitpython_is_not_imported_with_the_module() -> None:
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tokentag.git.gitrepo; "
            "print('git' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "False\n"
