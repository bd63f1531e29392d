"""Running git from the standard library alone, including from inside git's own hooks.

For the paths that cannot pay GitPython's import (see tokentag/git/__init__.py): the
git hooks (HEAD, parents, notes), the pre-push hook's check, a repeated import's look at
the branch tips, worktrees and notes, and an import's branch histories. The commands a
person runs use gitrepo.

Git exports GIT_DIR, GIT_INDEX_FILE and friends to hooks; a nested git call that
inherits them acts on the wrong repository or index. Identity variables stay, so notes
commits carry the user's name.
"""

from __future__ import annotations

import os

from tokentag.core.errors import TokentagError

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    import subprocess

    from _typeshed import StrPath

    from tokentag.git.gitdirs import Worktree

MISSING_GIT = "git is not installed or not on PATH"

# What `git rev-parse --local-env-vars` lists: the variables through which git tells a hook
# about the repository it runs in. Left in place, they would redirect a git command that a
# hook runs for another repository or worktree.
REPO_LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)


def git_env() -> dict[str, str]:
    """The current environment without the repository-local variables git exports to hooks."""
    env = dict(os.environ)
    for name in REPO_LOCAL_ENV_VARS:
        env.pop(name, None)
    return env


def run(cwd: StrPath, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run git in `cwd` and return its stdout without the trailing newline."""
    import subprocess  # ~6 ms to import: the commit path uses `run_with_input_file`

    try:
        result = subprocess.run(["git", "-C", os.fspath(cwd), *args], input=stdin, text=True,
                                capture_output=True, env=git_env(), check=False)
    except FileNotFoundError:
        raise TokentagError(MISSING_GIT) from None
    if check and result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"exit {result.returncode}"
        raise TokentagError(f"git {args[0]} failed: {message}")
    return result.stdout.rstrip("\n")


def started(cwd: StrPath, *args: str, feed: bool = False) -> subprocess.Popen[str]:
    """git running while the caller goes on: read its output with `finished`; or, with
    `feed`, write its input to `.stdin` (its output is dropped then). Text is UTF-8."""
    import subprocess

    try:
        return subprocess.Popen(
            ["git", "-C", os.fspath(cwd), *args], env=git_env(), encoding="utf-8",
            errors="surrogateescape", stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if feed else subprocess.PIPE, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise TokentagError(MISSING_GIT) from None


def finished(process: subprocess.Popen[str]) -> str:
    """A started git's stdout without the trailing newline, or "" if it failed."""
    out, _ = process.communicate()
    return out.rstrip("\n") if process.returncode == 0 else ""


def run_with_input_file(cwd: StrPath, scratch: StrPath, data: bytes, *args: str) -> None:
    """Run git for its effect, `{input}` in `args` replaced by a file holding `data`.

    For the post-commit path: a spawn without the subprocess module (whose import alone
    costs a fifth of what a commit with tokentag may add), with its files in `scratch`
    rather than via tempfile (another 4 ms). Output is read only when git fails.
    """
    stem = os.path.join(scratch, f"git-{os.getpid()}")
    source, output = f"{stem}.input", f"{stem}.output"
    try:
        with open(source, "wb") as handle:
            handle.write(data)
        pid = _spawn_git(cwd, [source if a == "{input}" else a for a in args],
                         [_write_to(1, output), (os.POSIX_SPAWN_DUP2, 1, 2)])
        _check(_wait(pid), args, output)
    finally:
        _remove(source, output)


class Fed:
    """git started now and given its input (its stdin) later: its start-up, most of what a
    short command takes here, overlaps the caller's work meanwhile. What git reads before
    its input is the caller's to know. Its output goes to a file in `scratch`, read only
    when it fails. End it with `finish` or `abandon`."""

    def __init__(self, cwd: StrPath, scratch: StrPath, *args: str) -> None:
        os.makedirs(scratch, exist_ok=True)  # a missing dir would fail the spawn
        self.args = args
        self.output = os.path.join(scratch, f"git-{os.getpid()}-{id(self):x}.output")
        read_end, self._input = os.pipe()  # both close on exec; DUP2 gives git its stdin
        try:
            self._pid: int | None = _spawn_git(cwd, list(args), [
                (os.POSIX_SPAWN_DUP2, read_end, 0), _write_to(1, self.output),
                (os.POSIX_SPAWN_DUP2, 1, 2)])
        except BaseException:
            os.close(self._input)
            _remove(self.output)
            raise
        finally:
            os.close(read_end)

    def finish(self, data: bytes) -> None:
        """Give git `data` and wait for it to end: TokentagError if it failed. Should the
        write stop halfway, the input stays open: `abandon` then stops git before it
        could take part of it for the whole."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._input, view):]
        except BrokenPipeError:  # git ended without reading it: its status says why
            pass
        os.close(self._input)
        self._input = -1
        try:
            _check(self._reap(), self.args, self.output)
        finally:
            _remove(self.output)

    def abandon(self) -> None:
        """Stop git if it still waits for its input (it has done nothing it would need to
        undo, the caller knows: see __init__), and clean up."""
        if self._pid is not None:
            os.kill(self._pid, 9)  # SIGKILL; the signal module would import enum
            self._reap()
        if self._input != -1:
            os.close(self._input)
            self._input = -1
        _remove(self.output)

    def _reap(self) -> int:
        """git's exit status; -1 if it was reaped already (SIGCHLD ignored by whatever
        started this process)."""
        assert self._pid is not None
        pid, self._pid = self._pid, None
        try:
            return _wait(pid)
        except ChildProcessError:
            return -1


def output_of(cwd: StrPath, scratch: StrPath, *args: str, check: bool = True) -> str:
    """`run(cwd, *args)` without the subprocess module, for an import (a repeated one
    has little else to do): stdout through a pipe, stderr through a file in `scratch`
    (read only when git fails)."""
    # A missing dir would fail the spawn's file action like a missing git does.
    os.makedirs(scratch, exist_ok=True)
    errors = os.path.join(scratch, f"git-{os.getpid()}.errors")
    read_end, write_end = os.pipe()  # both close on exec; DUP2 gives git a plain stdout
    try:
        try:
            pid = _spawn_git(cwd, list(args), [(os.POSIX_SPAWN_DUP2, write_end, 1),
                                               _write_to(2, errors)])
        finally:
            os.close(write_end)
        with open(read_end, "rb") as pipe:
            read_end = -1  # closed with the file object
            out = pipe.read().decode("utf-8", errors="replace")
        code = _wait(pid)
        if check:
            _check(code, args, errors)
        return out.rstrip("\n") if code == 0 else ""
    finally:
        if read_end != -1:
            os.close(read_end)
        _remove(errors)


def head_commit(worktree: Worktree) -> str:
    """HEAD's commit id, read from the ref files git has just written (a `git rev-parse`
    would cost a process on every commit); git itself answers anything unusual."""
    try:
        head = _read_ascii(os.path.join(worktree.git_dir, "HEAD"))
        if head.startswith("ref: refs/"):
            ref = head.removeprefix("ref: ")
            for base in (worktree.git_dir, worktree.common_dir):
                if os.path.isfile(os.path.join(base, ref)):
                    head = _read_ascii(os.path.join(base, ref))
                    break
        if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head):
            return head
    except (OSError, UnicodeDecodeError):
        pass  # packed refs, reftable, a symlinked HEAD: ask git
    return run(worktree.top, "rev-parse", "HEAD")


def _read_ascii(path: str) -> str:
    """Decoded from bytes: a text file in ASCII would load the codec's module first."""
    with open(path, "rb") as handle:
        return handle.read().decode("ascii").strip()


Action = tuple[object, ...]


def _write_to(fd: int, path: str) -> Action:
    return (os.POSIX_SPAWN_OPEN, fd, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


def _spawn_git(cwd: StrPath, args: list[str], outputs: list[Action]) -> int:
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0), *outputs]
    try:
        return os.posix_spawnp("git", ["git", "-C", os.fspath(cwd), *args], git_env(),
                               file_actions=actions)
    except FileNotFoundError:
        raise TokentagError(MISSING_GIT) from None


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _check(code: int, args: tuple[str, ...], messages: str) -> None:
    if code != 0:
        with open(messages, encoding="utf-8", errors="replace") as handle:
            message = " ".join(handle.read().split()) or f"exit {code}"
        raise TokentagError(f"git {args[0]} failed: {message}")


def _remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:  # not contextlib.suppress: the commit path does without it
            continue

