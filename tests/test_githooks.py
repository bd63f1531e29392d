"""Git hook install/uninstall against real repositories and real git commands.

The hooks are installed with a fake interpreter (a sh script that logs its arguments and
stdin, then fails), so these tests prove dispatch and chaining without the `git-hook`
command, and that a tokentag failure never fails git.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tokentag.core.errors import TokentagError
from tokentag.git.gitcmd import REPO_LOCAL_ENV_VARS, git_env
from tokentag.notes import NOTES_REF
from tokentag.setup.git_hooks import (
    CHAINED_SUFFIX,
    MARKER,
    git_hook_status,
    hooks_dir,
    install_git_hooks,
    render_hook,
    uninstall_git_hooks,
)

ROOT = Path(__file__).resolve().parents[1]
# How an installed hook starts tokentag: without `site`, the cwd on `sys.path` or PYTHON*
# variables, from the package's own directory.
ENTRY = ("-E -S -P -c import sys; sys.path.insert(0, sys.argv.pop(1)); from tokentag._entry "
         f"import main; main() {ROOT} git-hook")

Snapshot = dict[str, tuple[bytes, int]]


def snapshot(directory: Path) -> Snapshot | None:
    """Every entry under `directory`: content (or link target) and full mode bits."""
    if not os.path.lexists(directory):
        return None
    result: Snapshot = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        data = os.fsencode(os.readlink(path)) if path.is_symlink() else (
            b"" if path.is_dir() else path.read_bytes())
        result[str(path.relative_to(directory))] = (data, info.st_mode)
    return result


def write_script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(mode)
    return path


def logging_script(path: Path, log: Path, exit_code: int, shebang: str = "#!/bin/sh") -> Path:
    """A hook or fake interpreter that appends its args and stdin to `log`."""
    return write_script(path, f"""{shebang}
{{ printf 'args:'; printf ' %s' "$@"; printf '\\n'; cat; }} >> '{log}'
exit {exit_code}
""")


@pytest.fixture
def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """(interpreter, log): stands in for `python -m tokentag` and always fails."""
    log = tmp_path / "tokentag.log"
    return logging_script(tmp_path / "bin dir's" / "python", log, exit_code=1), log


def commit(repo: Path, message: str = "change") -> subprocess.CompletedProcess[str]:
    (repo / "file.txt").write_text(message)
    git(repo, "add", "file.txt")
    return subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message],
                          capture_output=True, text=True, check=False)


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def run_hook(hook: Path, *args: str, stdin: str = "",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", str(hook), *args], input=stdin, capture_output=True,
                          text=True, check=False, env=env)


def test_fresh_install_runs_on_commit_and_failure_does_not_fail_commit(
        repo: Path, fake_python: tuple[Path, Path]) -> None:
    python, log = fake_python
    lines = install_git_hooks(repo, str(python))
    hook = repo / ".git" / "hooks" / "post-commit"
    assert MARKER.encode() in hook.read_bytes()
    assert hook.stat().st_mode & 0o777 == 0o755
    assert any("post-commit: installed" in line for line in lines)
    result = commit(repo)
    assert result.returncode == 0, result.stderr
    assert read(log) == f"args: {ENTRY} post-commit\n"


def test_install_is_idempotent_byte_for_byte(repo: Path, fake_python: tuple[Path, Path]) -> None:
    python, _ = fake_python
    install_git_hooks(repo, str(python))
    before = snapshot(repo / ".git" / "hooks")
    config_before = (repo / ".git" / "config").read_bytes()
    lines = install_git_hooks(repo, str(python))
    assert snapshot(repo / ".git" / "hooks") == before
    assert (repo / ".git" / "config").read_bytes() == config_before
    assert all("already" in line for line in lines), lines


def test_foreign_hook_is_chained_gets_args_and_its_exit_code_counts(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    python, log = fake_python
    foreign_log = tmp_path / "foreign.log"
    hooks = repo / ".git" / "hooks"
    logging_script(hooks / "post-commit", foreign_log, exit_code=3)
    lines = install_git_hooks(repo, str(python))
    assert (hooks / ("post-commit" + CHAINED_SUFFIX)).is_file()
    assert any("kept as post-commit.tokentag-chained" in line for line in lines)
    assert commit(repo).returncode == 0
    assert read(foreign_log) == "args: \n"  # no arguments for post-commit
    assert read(log) == f"args: {ENTRY} post-commit\n"
    direct = run_hook(hooks / "post-commit", "a b", "c", stdin="in\n")
    assert direct.returncode == 3
    assert read(foreign_log).endswith("args: a b c\nin\n")


def test_chained_non_sh_hook_is_executed_with_its_own_interpreter(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    python, log = fake_python
    foreign_log = tmp_path / "foreign.log"
    hooks = repo / ".git" / "hooks"
    write_script(hooks / "post-commit", f"""#!{sys.executable}
import sys
with open({str(foreign_log)!r}, "a") as f:
    f.write(repr(sys.argv[1:]) + repr(sys.stdin.read()) + "\\n")
sys.exit(4)
""")
    install_git_hooks(repo, str(python))
    result = run_hook(hooks / "post-commit", "x", stdin="line\n")
    assert result.returncode == 4
    assert read(foreign_log) == "['x']'line\\n'\n"
    # git gives post-commit no input, so the hook does not copy it (a fork per commit):
    # the chained hook consumed this one.
    assert read(log) == f"args: {ENTRY} post-commit x\n"


def test_post_rewrite_stdin_reaches_chained_hook_and_tokentag(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    python, log = fake_python
    foreign_log = tmp_path / "foreign.log"
    logging_script(repo / ".git" / "hooks" / "post-rewrite", foreign_log, exit_code=0)
    install_git_hooks(repo, str(python))
    assert commit(repo, "first").returncode == 0
    old = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    new = git(repo, "rev-parse", "HEAD")
    expected_stdin = f"{old} {new}\n"
    assert read(foreign_log) == f"args: amend\n{expected_stdin}"
    assert read(log).endswith(f"args: {ENTRY} post-rewrite amend\n{expected_stdin}")


def _push_setup(repo: Path, tmp_path: Path, foreign_exit: int,
                fake_python: tuple[Path, Path]) -> tuple[Path, subprocess.CompletedProcess[str]]:
    foreign_log = tmp_path / "foreign.log"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    logging_script(repo / ".git" / "hooks" / "pre-push", foreign_log, exit_code=foreign_exit)
    install_git_hooks(repo, str(fake_python[0]), hooks=("post-commit", "pre-push"))
    assert commit(repo).returncode == 0
    push = subprocess.run(["git", "-C", str(repo), "push", "-q", "origin", "main"],
                          capture_output=True, text=True, check=False)
    return foreign_log, push


def test_pre_push_foreign_hook_can_block_and_tokentag_is_skipped(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    foreign_log, push = _push_setup(repo, tmp_path, 1, fake_python)
    assert push.returncode != 0
    assert "args: origin" in read(foreign_log)
    assert "pre-push" not in read(fake_python[1])


def test_pre_push_stdin_reaches_both_when_foreign_hook_passes(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    foreign_log, push = _push_setup(repo, tmp_path, 0, fake_python)
    assert push.returncode == 0, push.stderr
    head = git(repo, "rev-parse", "HEAD")
    ref_line = f"refs/heads/main {head} refs/heads/main {'0' * 40}\n"
    assert read(foreign_log).endswith(ref_line)
    assert read(fake_python[1]).endswith(ref_line)
    assert f"git-hook pre-push origin {tmp_path / 'remote.git'}\n" in read(fake_python[1])


def test_falls_back_to_tokentag_on_path_then_to_nothing(repo: Path, tmp_path: Path) -> None:
    install_git_hooks(repo, str(tmp_path / "gone" / "python"))
    hook = repo / ".git" / "hooks" / "post-rewrite"
    bin_dir = tmp_path / "bin"
    log = tmp_path / "path.log"
    logging_script(bin_dir / "tokentag", log, exit_code=2)
    (bin_dir / "cat").symlink_to(subprocess.check_output(["sh", "-c", "command -v cat"],
                                                         text=True).strip())
    env = {"PATH": str(bin_dir)}
    result = run_hook(hook, "amend", stdin="a b\n", env=env)
    assert result.returncode == 0
    assert read(log) == "args: git-hook post-rewrite amend\na b\n"
    (bin_dir / "tokentag").unlink()
    result = run_hook(hook, "amend", stdin="a b\n", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_reinstall_with_other_python_updates_in_place_and_keeps_chain(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    python, _ = fake_python
    hooks = repo / ".git" / "hooks"
    logging_script(hooks / "post-commit", tmp_path / "foreign.log", exit_code=0)
    chained_before = (hooks / "post-commit").read_bytes()
    install_git_hooks(repo, "/old/python")
    assert git_hook_status(repo)["post-commit"] == "ours (stale python)"
    lines = install_git_hooks(repo, str(python))
    assert any("post-commit: updated" in line for line in lines)
    assert (hooks / "post-commit").read_bytes() == render_hook("post-commit", str(python))
    assert (hooks / ("post-commit" + CHAINED_SUFFIX)).read_bytes() == chained_before
    assert git_hook_status(repo) == {"post-commit": "ours", "post-merge": "ours",
                                     "post-rewrite": "ours", "prepare-commit-msg": "ours"}
    assert git_hook_status(repo, python="/other/python")["post-commit"] == "ours (stale python)"


def test_status_reports_missing_foreign_ours(repo: Path, fake_python: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    hooks = repo / ".git" / "hooks"
    logging_script(hooks / "post-rewrite", tmp_path / "x.log", exit_code=0)
    assert git_hook_status(repo) == {"post-commit": "missing", "post-merge": "missing",
                                      "post-rewrite": "foreign", "prepare-commit-msg": "missing"}
    install_git_hooks(repo, str(fake_python[0]), hooks=("post-commit",))
    assert git_hook_status(repo, hooks=("post-commit", "post-rewrite", "pre-push")) == {
        "post-commit": "ours", "post-rewrite": "foreign", "pre-push": "missing"}


def _roundtrip(repo: Path, directory: Path, python: Path) -> None:
    before = snapshot(directory)
    install_git_hooks(repo, str(python), hooks=("post-commit", "post-rewrite", "pre-push"))
    assert snapshot(directory) != before
    uninstall_git_hooks(repo)
    assert snapshot(directory) == before


def test_uninstall_restores_dir_with_only_samples(repo: Path,
                                                  fake_python: tuple[Path, Path]) -> None:
    hooks = repo / ".git" / "hooks"
    assert any(hooks.glob("*.sample")) or not hooks.exists()
    _roundtrip(repo, hooks, fake_python[0])


def test_uninstall_removes_hooks_dir_it_created(repo: Path,
                                                fake_python: tuple[Path, Path]) -> None:
    hooks = repo / ".git" / "hooks"
    for path in hooks.glob("*"):
        path.unlink()
    hooks.rmdir()
    _roundtrip(repo, hooks, fake_python[0])
    assert not hooks.exists()


def test_uninstall_restores_foreign_hooks_exactly(repo: Path, fake_python: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    hooks = repo / ".git" / "hooks"
    logging_script(hooks / "post-commit", tmp_path / "a.log", exit_code=0).chmod(0o750)
    target = write_script(tmp_path / "shared-hook", "#!/bin/sh\nexit 0\n")
    (hooks / "pre-push").symlink_to(target)
    _roundtrip(repo, hooks, fake_python[0])


def test_husky_hooks_path_install_and_exact_uninstall(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    user_log = tmp_path / "user.log"
    husky = repo / ".husky"
    # Husky 5-8 style: the user's hook sources a helper found via "$0".
    write_script(husky / "_" / "husky.sh", "husky_loaded=1\n", mode=0o644)
    write_script(husky / "post-commit", f"""#!/bin/sh
. "$(dirname "$0")/_/husky.sh"
echo "husky=$husky_loaded" >> '{user_log}'
""")
    git(repo, "config", "core.hooksPath", ".husky")
    assert hooks_dir(repo) == husky
    _roundtrip(repo, husky, fake_python[0])
    install_git_hooks(repo, str(fake_python[0]))
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    assert commit(repo).returncode == 0
    assert read(user_log) == "husky=1\n"
    assert "git-hook post-commit" in read(fake_python[1])


def test_chained_sh_hook_keeps_its_own_name_in_dollar_zero(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    # Husky 9 style: every hook in .husky/_ is a one-liner that finds a dispatcher next to
    # itself, which runs the user's script named after basename "$0" one level up.
    user_log = tmp_path / "user.log"
    husky = repo / ".husky"
    write_script(husky / "_" / "dispatch", """name=$(basename "$0")
script="$(dirname "$(dirname "$0")")/$name"
[ -f "$script" ] || exit 0
sh -e "$script" "$@"
""", mode=0o644)
    write_script(husky / "_" / "post-commit", '#!/usr/bin/env sh\n. "$(dirname "$0")/dispatch"\n')
    write_script(husky / "post-commit", f"echo ran >> '{user_log}'\n", mode=0o644)
    git(repo, "config", "core.hooksPath", ".husky/_")
    install_git_hooks(repo, str(fake_python[0]))
    assert commit(repo).returncode == 0
    assert read(user_log) == "ran\n"
    assert "git-hook post-commit" in read(fake_python[1])


def test_worktree_install_goes_to_common_hooks_dir(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    assert commit(repo, "base").returncode == 0
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree), "-b", "side")
    common_hooks = repo / ".git" / "hooks"
    assert hooks_dir(worktree).resolve() == common_hooks.resolve()
    install_git_hooks(worktree, str(fake_python[0]))
    assert MARKER.encode() in (common_hooks / "post-commit").read_bytes()
    assert commit(worktree, "in worktree").returncode == 0
    assert "git-hook post-commit" in read(fake_python[1])


def test_relative_hooks_path_is_relative_to_worktree_top(repo: Path) -> None:
    (repo / "sub").mkdir()
    git(repo, "config", "core.hooksPath", "my-hooks")
    assert hooks_dir(repo / "sub") == repo / "my-hooks"


def test_missing_hooks_path_dir_is_a_clear_error(repo: Path,
                                                 fake_python: tuple[Path, Path]) -> None:
    git(repo, "config", "core.hooksPath", ".husky/_")
    with pytest.raises(TokentagError, match=r"core.hooksPath is set to '.husky/_'.*does not exist"):
        install_git_hooks(repo, str(fake_python[0]))
    assert not (repo / ".husky").exists()


def test_unwritable_hooks_dir_is_a_clear_error(repo: Path, fake_python: tuple[Path, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = repo / "ro-hooks"
    hooks.mkdir()
    git(repo, "config", "core.hooksPath", "ro-hooks")
    # Permission bits do not stop root, so pretend the access check fails.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != hooks
                        and real_access(path, mode))
    with pytest.raises(TokentagError, match=r"core.hooksPath \('ro-hooks'\) .* not writable"):
        install_git_hooks(repo, str(fake_python[0]))
    assert not any(hooks.iterdir())


def test_conflicting_chained_hook_is_refused_before_any_change(
        repo: Path, fake_python: tuple[Path, Path]) -> None:
    hooks = repo / ".git" / "hooks"
    write_script(hooks / "post-rewrite", "#!/bin/sh\necho new\n")
    write_script(hooks / ("post-rewrite" + CHAINED_SUFFIX), "#!/bin/sh\necho old\n")
    before = snapshot(hooks)
    with pytest.raises(TokentagError, match="Merge or delete"):
        install_git_hooks(repo, str(fake_python[0]))
    assert snapshot(hooks) == before


def test_hook_manager_rewrite_after_install_is_rechained_and_uninstalled_exactly(
        repo: Path, fake_python: tuple[Path, Path]) -> None:
    hooks = repo / ".git" / "hooks"
    write_script(hooks / "post-commit", "#!/bin/sh\necho managed\n")
    before = snapshot(hooks)
    install_git_hooks(repo, str(fake_python[0]))
    # A hook manager regenerates its hook over ours; the chained copy is now a duplicate.
    write_script(hooks / "post-commit", "#!/bin/sh\necho managed\n")
    install_git_hooks(repo, str(fake_python[0]))
    assert git_hook_status(repo)["post-commit"] == "ours"
    (hooks / "post-commit").write_text("#!/bin/sh\necho managed\n")
    uninstall_git_hooks(repo)
    assert snapshot(hooks) == before


def test_notes_rewrite_ref_added_once_and_only_ours_removed(
        repo: Path, fake_python: tuple[Path, Path]) -> None:
    git(repo, "config", "--add", "notes.rewriteRef", "refs/notes/commits")
    install_git_hooks(repo, str(fake_python[0]))
    install_git_hooks(repo, str(fake_python[0]))
    values = git(repo, "config", "--get-all", "notes.rewriteRef").splitlines()
    assert values == ["refs/notes/commits", NOTES_REF]
    lines = uninstall_git_hooks(repo)
    assert f"notes.rewriteRef: removed {NOTES_REF}" in lines
    assert git(repo, "config", "--get-all", "notes.rewriteRef") == "refs/notes/commits"
    assert uninstall_git_hooks(repo)[-1] == f"notes.rewriteRef: {NOTES_REF} was not set"


def test_rejects_unknown_hook_and_relative_python(repo: Path) -> None:
    with pytest.raises(TokentagError, match="unsupported"):
        install_git_hooks(repo, "/usr/bin/python3", hooks=("pre-commit",))
    with pytest.raises(TokentagError, match="absolute"):
        install_git_hooks(repo, "python3")


def test_not_a_repository_is_a_tokentag_error(tmp_path: Path) -> None:
    with pytest.raises(TokentagError, match="rev-parse"):
        hooks_dir(tmp_path)


def test_git_env_strips_repository_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Kept")
    env = git_env()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert env["GIT_AUTHOR_NAME"] == "Kept"


def test_git_env_matches_gits_own_list() -> None:
    listed = subprocess.run(["git", "rev-parse", "--local-env-vars"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert set(listed) <= set(REPO_LOCAL_ENV_VARS)


@pytest.mark.parametrize("hook", ["post-commit", "post-rewrite", "pre-push"])
def test_example_scripts_are_valid_thin_dispatchers(hook: str) -> None:
    script = ROOT / "git_hooks" / hook
    assert os.access(script, os.X_OK)
    assert subprocess.run(["/bin/sh", "-n", str(script)], check=False).returncode == 0
    assert f'tokentag git-hook {hook} "$@" || true' in script.read_text()
    rendered = render_hook(hook, "/p")
    assert subprocess.run(["/bin/sh", "-n"], input=rendered, check=False).returncode == 0


def _pre_commit_style(hooks: Path, log: Path) -> None:
    """What pre-commit's `install -t post-commit` does: the hook there becomes
    `post-commit.legacy`, and its own hook runs it first."""
    os.replace(hooks / "post-commit", hooks / "post-commit.legacy")
    write_script(hooks / "post-commit", f"""#!/bin/sh
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$HERE/post-commit.legacy" ]; then "$HERE/post-commit.legacy" "$@" || exit $?; fi
echo manager >> '{log}'
""")


def test_a_hook_manager_that_renames_our_hook_keeps_the_users_hook_running(
        repo: Path, fake_python: tuple[Path, Path], tmp_path: Path) -> None:
    python, tokentag_log = fake_python
    hooks, ran = repo / ".git" / "hooks", tmp_path / "ran.log"
    write_script(hooks / "post-commit", f"#!/bin/sh\necho user >> '{ran}'\n")
    users_hook = snapshot(hooks)
    install_git_hooks(repo, str(python))
    _pre_commit_style(hooks, ran)
    assert commit(repo, "one").returncode == 0
    assert read(ran).split() == ["user", "manager"]  # the user's hook ran, through ours
    assert read(tokentag_log).count("git-hook post-commit") == 1
    assert git_hook_status(repo)["post-commit"] == "ours"
    managed = snapshot(hooks)
    install_git_hooks(repo, str(python))  # again: the manager's chain stays as it is
    assert snapshot(hooks) == managed
    uninstall_git_hooks(repo)
    assert not any(_is_tokentag(path) for path in hooks.iterdir())
    assert (hooks / "post-commit.legacy").read_bytes() == users_hook["post-commit"][0]
    assert commit(repo, "two").returncode == 0
    assert read(ran).split() == ["user", "manager", "user", "manager"]
    assert read(tokentag_log).count("git-hook post-commit") == 1


def _is_tokentag(path: Path) -> bool:
    return path.is_file() and MARKER.encode() in path.read_bytes()
