"""The command line's one handler: every outcome has its exit code, and a crash is one
line on stderr with its traceback in the log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import git, tokentag
from tokentag.cli import COMMANDS, main
from tokentag.cli.common import ExitCode


def test_every_command_is_listed_and_loads(repo: Path) -> None:
    listed = tokentag("--help", cwd=repo).stdout
    for name in COMMANDS:
        if name not in ("git-hook", "codex-notify"):  # hidden: only git or Codex calls it
            assert f"  {name} " in listed
        assert tokentag(name, "-h", cwd=repo).returncode == 0


def test_exit_codes_of_success_error_and_usage(repo: Path, tmp_path: Path) -> None:
    assert tokentag("status", cwd=repo).returncode == ExitCode.OK
    outside = tmp_path / "outside"
    outside.mkdir()
    failed = tokentag("status", cwd=outside, check=False)
    assert failed.returncode == ExitCode.ERROR
    assert failed.stderr == "tokentag: not inside a git repository (run tokentag from your " \
                            "project)\n"
    wrong = tokentag("report", "--by", "nothing", cwd=repo, check=False)
    assert wrong.returncode == ExitCode.USAGE
    assert "Invalid value for '--by'" in wrong.stderr
    unknown = tokentag("no-such-command", cwd=repo, check=False)
    assert unknown.returncode == ExitCode.USAGE


def test_a_crash_is_one_line_and_a_logged_traceback(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The seam: the library call behind `status` raising what no code expects."""
    from tokentag.report import queries

    def broken(*_: object) -> None:
        raise RuntimeError("a bug\nover two lines")

    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    tokentag("install", cwd=repo)  # the repository has a tokentag dir: the log goes there
    monkeypatch.setattr(queries, "status", broken)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["tokentag", "status"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == ExitCode.CRASH
    log = repo / ".git" / "tokentag" / "tokentag.log"
    assert capsys.readouterr().err == (f"tokentag: unexpected RuntimeError: a bug over two "
                                       f"lines (traceback in {log})\n")
    text = log.read_text()
    assert "crash RuntimeError: a bug over two lines" in text
    assert 'raise RuntimeError("a bug\\nover two lines")' in text


def test_a_crash_in_a_repository_tokentag_never_ran_in_creates_nothing_there(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tokentag.report import queries

    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(queries, "status", broken)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["tokentag", "status"])
    with pytest.raises(SystemExit):
        main()
    assert not (repo / ".git" / "tokentag").exists()
    assert (tmp_path / "state" / "tokentag" / "tokentag.log").is_file()
    assert "traceback in" in capsys.readouterr().err
