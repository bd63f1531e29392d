"""GitPython, the door to git for the commands a person runs (release, report, sync,
install, doctor). No hook path may come through here, nor an import: see
tokentag/git/__init__.py for what it costs.

GitPython is imported on the first `open_repo` or `git_in`, not with this module. Before
that, the repository-local variables git exports to hooks (GIT_DIR, GIT_INDEX_FILE, ...)
leave the process environment: GitPython's Repo reads some of them itself, and its git
subprocesses start from a copy of the environment to which a call can add but from which
it cannot remove. A person's command acts on the repository of its working directory,
whatever a surrounding git process says.

Object ids and contents are read through git commands (`repo.git.<command>`), not through
GitPython's object models: those read objects with gitdb, which knows only SHA-1; in a
SHA-256 repository `repo.commit("HEAD")` raises BadName and `repo.odb` cannot parse git's
answer (measured with GitPython 3.2.1). Every command's failure is a TokentagError of one
line that carries git's own message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, cast

from tokentag.core.errors import TokentagError
from tokentag.git.gitcmd import MISSING_GIT, REPO_LOCAL_ENV_VARS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from _typeshed import StrPath
    from git import Git, Repo


class Result(NamedTuple):
    """A git command's exit status, stdout (bytes, as git wrote it) and stderr."""

    status: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout as text without its trailing newline."""
        return self.stdout.decode("utf-8", "replace").rstrip("\n")


def open_repo(path: StrPath) -> Repo:
    """The repository whose worktree (or bare git dir) holds `path`, as GitPython's Repo;
    a one-line error, in git's words, when there is none."""
    _load()
    from git import Repo
    from git.exc import InvalidGitRepositoryError, NoSuchPathError

    where = os.fspath(path)
    try:
        # expand_vars: GitPython would read `$NAME` in a path as a variable, and warn.
        return Repo(where, search_parent_directories=True, expand_vars=False)
    except NoSuchPathError:
        raise TokentagError(f"no such directory: {where}") from None
    except InvalidGitRepositoryError:
        # git says why (e.g. where a `.git` file points); GitPython names only the path.
        found = result(git_in(where), "rev-parse", "--git-dir")
        reason = _one_line(found.stderr).removeprefix("fatal: ")
        raise TokentagError(reason or f"not a git repository: {where}") from None


def git_in(path: StrPath) -> Git:
    """GitPython's command runner in `path`, any directory: git finds the repository
    itself, and a failure is its own (for setup, which works from any directory)."""
    _load()
    from git import Git

    return Git(os.fspath(path))


def run(git: Git, *args: str, check: bool = True, stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None) -> str:
    """Run `git <args>` (`repo.git.<command>(...)`); its stdout as text without the trailing
    newline. A failure raises, with git's message, unless `check` is False: then "".
    `timeout`: seconds after which git is killed (a remote that does not answer)."""
    done = result(git, *args, stdin=stdin, env=env, timeout=timeout)
    if done.status != 0:
        if check:
            message = _one_line(done.stderr) or f"exit {done.status}"
            raise TokentagError(f"git {args[0]} failed: {message}")
        return ""
    return done.text


def result(git: Git, *args: str, stdin: bytes | str | None = None,
           env: Mapping[str, str] | None = None, timeout: float | None = None) -> Result:
    """git's whole answer, whatever its exit status; `env` adds to the environment."""
    from git.exc import GitCommandNotFound

    command = getattr(git, args[0].replace("-", "_"))  # GitPython dashes the name again
    try:
        with _input(stdin) as istream:
            answer = command(*args[1:], istream=istream, env=env, with_extended_output=True,
                             kill_after_timeout=timeout,
                             with_exceptions=False, stdout_as_string=False,
                             strip_newline_in_stdout=False)
    except GitCommandNotFound:
        raise TokentagError(MISSING_GIT) from None
    status, stdout, stderr = cast("tuple[int, bytes, str]", answer)
    return Result(status, stdout, stderr)


def commit_of(git: Git, ref: str) -> str:
    """The full id of the commit `ref` names, or "" when it names none."""
    return run(git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)


def resolve_commit(git: Git, ref: str) -> str:
    """The full id of the commit `ref` names, or a one-line error."""
    commit = commit_of(git, ref)
    if not commit:
        raise TokentagError(f"unknown revision: {ref}")
    return commit


def read_blobs(git: Git, blobs: list[str]) -> dict[str, bytes]:
    """Object contents (blobs, commits) by id, all through one `git cat-file --batch`;
    missing ones left out."""
    if not blobs:
        return {}
    out = result(git, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs)).stdout
    position, found = 0, {}
    while (newline := out.find(b"\n", position)) != -1:
        header = out[position:newline].split()
        position = newline + 1
        if len(header) != 3:  # "<id> missing"
            continue
        size = int(header[2])
        found[header[0].decode()] = out[position:position + size]
        position += size + 1  # the content is followed by a newline
    return found


class CommitInfo(NamedTuple):
    """What a report shows of a commit: who wrote it, when it was committed (seconds
    since the epoch), its subject; `place` orders commits of the same second (see
    history_places)."""

    author: str
    committed: int
    subject: str
    place: int = 0


def commit_infos(git: Git, commits: list[str]) -> dict[str, CommitInfo]:
    """Author, commit time and subject of each commit, all through one `git cat-file
    --batch`; ids that name no commit here are left out."""
    found = {}
    for commit, raw in read_blobs(git, commits).items():
        info = _parse_commit(raw)
        if info is not None:
            found[commit] = info
    return found


def history_places(git: Git, commits: list[str]) -> dict[str, int]:
    """The commits' order in history, parents before children: a rebase makes many in
    one second, which their time cannot order. One walk, from the commits back to their
    common ancestor (which itself comes first)."""
    if len(commits) < 2:
        return {}
    base = run(git, "merge-base", "--octopus", *commits, check=False)
    listed = run(git, "rev-list", "--topo-order", "--reverse", "--stdin",
                 stdin="".join(f"{c}\n" for c in [*commits, *([f"^{base}"] if base else [])]))
    places = {commit: place for place, commit in enumerate(listed.split(), start=1)}
    return {commit: places.get(commit, 0) for commit in commits}


def _parse_commit(raw: bytes) -> CommitInfo | None:
    """A commit object's author, committer time and subject (its message's first
    paragraph on one line, as git's `%s`), in the encoding its header names."""
    if not raw.startswith(b"tree "):
        return None
    head, _, message = raw.partition(b"\n\n")
    fields = dict(line.split(b" ", 1) for line in head.split(b"\n") if b" " in line)
    encoding = fields.get(b"encoding", b"utf-8").decode("ascii", "replace")

    def text(value: bytes) -> str:
        try:
            return value.decode(encoding, "replace")
        except LookupError:  # an encoding Python does not know
            return value.decode("utf-8", "replace")

    author = fields.get(b"author", b"").rpartition(b" <")[0]
    when = fields.get(b"committer", b"").rsplit(b" ", 2)
    paragraph = message.lstrip(b"\n").split(b"\n\n", 1)[0]
    subject = " ".join(text(line).strip() for line in paragraph.split(b"\n") if line.strip())
    try:
        committed = int(when[-2]) if len(when) == 3 else 0
    except ValueError:
        committed = 0
    return CommitInfo(text(author), _representable(committed), subject)


# 9999-01-01T00:00:00Z: git stores whatever time a commit claims, but datetime ends with
# the year 9999, and a local zone's offset or a day's or month's arithmetic needs room
# before that end.
_LATEST_TIME = 253370764800


def _representable(committed: int) -> int:
    """A commit time every report can turn into a date: a time git cannot hold (before
    1970) or datetime cannot (after 9999) is taken as the nearest one they can."""
    return min(max(committed, 0), _LATEST_TIME)


@contextmanager
def _input(data: bytes | str | None) -> Iterator[BinaryIO | None]:
    """A command's standard input: GitPython hands Popen a file, so the data goes through
    an unnamed temporary file; None is no input (/dev/null)."""
    if data is None:
        yield None
        return
    import tempfile

    with tempfile.TemporaryFile() as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.seek(0)
        yield handle


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _load() -> None:
    """Import GitPython, with the environment made safe for it first."""
    for name in REPO_LOCAL_ENV_VARS:
        os.environ.pop(name, None)
    try:
        import git  # noqa: F401
    except ModuleNotFoundError:
        raise  # not installed: a broken install, not the user's to fix
    except ImportError:  # its import runs `git version`, and fails without a git
        raise TokentagError(MISSING_GIT) from None
