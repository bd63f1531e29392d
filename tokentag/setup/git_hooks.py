"""Install, inspect and remove the git hooks that attribute usage to commits.

On-disk layout, in the directory git reads hooks from (`hooks_dir`):

- `<hook>`: our POSIX sh script, recognised by `MARKER`, rendered from
  `git_hook_template.sh` with the hook name and the Python interpreter fixed at install time.
- `<hook>.tokentag-chained`: the hook that was there before, renamed (never rewritten), so
  uninstall renames it back and the directory is byte for byte what it was, mode bits included.
- `.tokentag-created-dir`: only when install had to create the hooks dir, so uninstall knows
  to remove the directory again.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tokentag.core.errors import TokentagError
from tokentag.git import gitrepo
from tokentag.notes import NOTES_REF
from tokentag.setup.launch import package_root, python_words

if TYPE_CHECKING:
    from _typeshed import StrPath

MARKER = "# tokentag-managed-hook"
CHAINED_SUFFIX = ".tokentag-chained"
CREATED_MARKER = ".tokentag-created-dir"
# post-merge: a merge that makes a commit runs post-merge, not post-commit.
# prepare-commit-msg: only to keep the list of commits a `git merge --squash` brings (git
# removes it before post-commit); the hook starts no Python unless there is one.
SUPPORTED_HOOKS = ("post-commit", "post-merge", "post-rewrite", "prepare-commit-msg",
                   "pre-push")
DEFAULT_HOOKS = ("post-commit", "post-merge", "post-rewrite", "prepare-commit-msg")

_TEMPLATE = "git_hook_template.sh"
_PYTHON_ASSIGNMENT = "tokentag_python="
_HOOK_ASSIGNMENT = "tokentag_hook="
# Only the first lines are searched, so a foreign script that merely mentions us is not ours.
_MARKER_WINDOW = 512
# `git config --unset-all` exits 5 when no value matched: nothing of ours to remove.
_GIT_CONFIG_NOTHING_TO_UNSET = 5

def _git(repo: StrPath, *args: str, check: bool = True) -> gitrepo.Result:
    """git in `repo`, any directory of a repository or none: git finds it and says why not."""
    result = gitrepo.result(gitrepo.git_in(repo), *args)
    if check and result.status != 0:
        raise TokentagError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result


def _rev_parse(repo: StrPath, flag: str) -> str:
    return _git(repo, "rev-parse", flag).text.strip()


def _common_dir(repo: StrPath) -> Path:
    # Relative output is relative to the directory git ran in, which is `repo`.
    return Path(os.path.abspath(Path(repo, _rev_parse(repo, "--git-common-dir"))))


def _configured_hooks_path(repo: StrPath) -> str | None:
    result = _git(repo, "config", "--path", "--get", "core.hooksPath", check=False)
    if result.status not in (0, 1):  # 1 means unset
        raise TokentagError(f"cannot read core.hooksPath in {repo}: {result.stderr.strip()}")
    return result.text.strip() or None


def _hooks_location(repo: StrPath) -> tuple[Path, str | None]:
    """The hooks dir, and the core.hooksPath value it came from (None: the default)."""
    default = _common_dir(repo) / "hooks"  # first, so a non-repository fails clearly
    configured = _configured_hooks_path(repo)
    if configured is None:
        return default, None
    path = Path(configured)
    if path.is_absolute():
        return path, configured
    # Git runs hooks from the worktree top (the git dir when bare), and resolves a relative
    # core.hooksPath from there.
    bare = _rev_parse(repo, "--is-bare-repository") == "true"
    base = _rev_parse(repo, "--absolute-git-dir" if bare else "--show-toplevel")
    return Path(os.path.normpath(Path(base) / path)), configured


def hooks_dir(repo: StrPath) -> Path:
    """Where git looks for hooks: core.hooksPath if set, else `<git common dir>/hooks`."""
    return _hooks_location(repo)[0]


def render_hook(hook: str, python: str) -> bytes:
    """Our hook script for `hook`, running tokentag with the interpreter `python`."""
    template = resources.files("tokentag.setup").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    text = (template.replace("@HOOK@", shlex.quote(hook))
            .replace("@PYTHON@", shlex.quote(python))
            .replace("@ROOT@", shlex.quote(package_root()))
            .replace("@LAUNCH@", python_words()))
    # surrogateescape: an interpreter path that is not valid UTF-8 is written back unchanged.
    return text.encode("utf-8", "surrogateescape")


def _is_ours(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return MARKER.encode() in handle.read(_MARKER_WINDOW)


def _chained(path: Path) -> Path:
    """Where the hook that was at `path` before install is kept: by the hook's name, which
    is ours still when a hook manager renamed our file."""
    hook = _assigned(path, _HOOK_ASSIGNMENT) if _is_ours(path) else None
    return path.with_name((hook or path.name) + CHAINED_SUFFIX)


def _moved_ours(directory: Path, hook: str) -> Path | None:
    """Our hook for `hook` under another name: a hook manager (pre-commit, say) moved it to
    `<hook>.legacy` and runs it from its own hook, which is now at `<hook>`."""
    for path in sorted(directory.glob(f"{hook}.*")):
        if not path.name.endswith(CHAINED_SUFFIX) and _is_ours(path) \
                and _assigned(path, _HOOK_ASSIGNMENT) == hook:
            return path
    return None


def _fingerprint(path: Path) -> tuple[bool, bytes, int]:
    """What makes two hook files interchangeable: kind, content (or link target) and mode."""
    if path.is_symlink():
        return True, os.fsencode(os.readlink(path)), 0
    return False, path.read_bytes(), path.stat().st_mode


def _write_hook(path: Path, data: bytes) -> None:
    # Write then rename, so git never runs a half-written hook.
    tmp = path.with_name(path.name + ".tokentag-tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def _check_hook_names(hooks: Sequence[str]) -> None:
    unknown = [hook for hook in hooks if hook not in SUPPORTED_HOOKS]
    if unknown:
        raise TokentagError(f"unsupported git hook(s): {', '.join(unknown)} "
                            f"(supported: {', '.join(SUPPORTED_HOOKS)})")


def _check_no_conflict(path: Path) -> None:
    """Refuse to chain a foreign hook when an older, different chained hook is in the way."""
    chained = _chained(path)
    if _is_ours(path) or not os.path.lexists(path) or not os.path.lexists(chained) \
            or _moved_ours(path.parent, path.name) is not None:
        return
    if _fingerprint(path) != _fingerprint(chained):
        raise TokentagError(
            f"{path} is not tokentag's hook, and {chained.name} (a hook tokentag chained "
            f"earlier) is also there. Merge or delete one of the two, then re-run the install.")


def _prepare_dir(repo: StrPath) -> Path:
    """The hooks dir, created when it is git's default one; never silently skipped."""
    directory, configured = _hooks_location(repo)
    if configured is not None and not directory.is_dir():
        raise TokentagError(
            f"core.hooksPath is set to {configured!r}, but {directory} does not exist or is not "
            f"a directory. Create it (for husky, run `npx husky`) and re-run the install, or "
            f"unset it with `git config --unset core.hooksPath` to use {_common_dir(repo)}/hooks.")
    if not directory.is_dir():
        directory.mkdir()
        # Remember that the directory did not exist, so uninstall can remove it again.
        (directory / CREATED_MARKER).write_text("created by `tokentag install`\n")
    if not os.access(directory, os.W_OK | os.X_OK):
        where = f"core.hooksPath ({configured!r})" if configured else "the git hooks dir"
        raise TokentagError(f"{where} {directory} is not writable: fix its permissions "
                            f"and re-run the install.")
    return directory


def _install_one(directory: Path, hook: str, python: str) -> str:
    path = directory / hook
    wanted = render_hook(hook, python)
    moved = None if _is_ours(path) else _moved_ours(directory, hook)
    if moved is not None:  # the manager's hook runs ours: keep it that way
        if moved.read_bytes() != wanted or not os.access(moved, os.X_OK):
            _write_hook(moved, wanted)
        return f"{hook}: installed as {moved}, which the hook now at {hook} runs"
    chained = _chained(path)
    if _is_ours(path):
        if path.read_bytes() == wanted and os.access(path, os.X_OK):
            return f"{hook}: already installed in {directory}"
        _write_hook(path, wanted)
        return f"{hook}: updated {path}"
    note = ""
    if os.path.lexists(path):
        # A rename keeps content, mode and symlinks as they were: uninstall is exact.
        os.replace(path, chained)
        note = f"; the existing hook was kept as {chained.name} and runs first"
    elif os.path.lexists(chained):
        note = f"; it runs {chained.name}, left from an earlier install"
    _write_hook(path, wanted)
    return f"{hook}: installed {path}{note}"


def _add_notes_rewrite_ref(repo: StrPath) -> str:
    _start_notes_ref(repo)
    result = _git(repo, "config", "--get-all", "notes.rewriteRef", check=False)
    if NOTES_REF in result.text.split():
        return f"notes.rewriteRef: already includes {NOTES_REF}"
    # --add: other notes refs the user rewrites keep being rewritten.
    _git(repo, "config", "--add", "notes.rewriteRef", NOTES_REF)
    return f"notes.rewriteRef: added {NOTES_REF} (notes follow amend and rebase)"


# Who made the notes ref's first commit, and when: the same in every repository, so that
# every clone's first commit is the same commit and their notes merge on a common base.
_NOTES_ROOT_IDENTITY = {
    f"GIT_{role}_{field}": value for role in ("AUTHOR", "COMMITTER")
    for field, value in (("NAME", "tokentag"), ("EMAIL", "tokentag"), ("DATE", "@0 +0000"))}
_NOTES_ROOT_MESSAGE = "tokentag notes"
_NO_REFLOG = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.logAllRefUpdates",
              "GIT_CONFIG_VALUE_0": "false"}


def _notes_root(repo: StrPath) -> str:
    """The notes ref's first commit: no notes. Git warns on every rebase that a rewritten
    notes ref which does not exist yet "is invalid"; this one always exists."""
    git = gitrepo.git_in(repo)
    tree = gitrepo.run(git, "mktree", stdin=b"")
    return gitrepo.run(git, "commit-tree", "--no-gpg-sign", "-m", _NOTES_ROOT_MESSAGE, tree,
                       env=_NOTES_ROOT_IDENTITY)


def _start_notes_ref(repo: StrPath) -> None:
    if _git(repo, "rev-parse", "--verify", "--quiet", NOTES_REF, check=False).status == 0:
        return
    # The empty old value: only if the ref is still absent (a first note may race us). No
    # reflog entry for a commit of no notes: the notes' own entries start with the first.
    gitrepo.result(gitrepo.git_in(repo), "update-ref", NOTES_REF, _notes_root(repo), "",
                   env=_NO_REFLOG)


def _remove_empty_notes_ref(repo: StrPath) -> None:
    """The ref install started, if it never got a note: nothing recorded is lost."""
    root = _notes_root(repo)
    _git(repo, "update-ref", "-d", NOTES_REF, root, check=False)


def install_git_hooks(repo: StrPath, python: str,
                      hooks: Sequence[str] = DEFAULT_HOOKS) -> list[str]:
    """Install our hooks, chaining any existing ones; idempotent. Returns what was done."""
    _check_hook_names(hooks)
    if not os.path.isabs(python):
        raise TokentagError(f"the hook interpreter must be an absolute path, got {python!r}")
    directory = _prepare_dir(repo)
    # Check every hook before changing any, so a conflict leaves nothing half-installed.
    for hook in hooks:
        _check_no_conflict(directory / hook)
    lines = [_install_one(directory, hook, python) for hook in hooks]
    lines.append(_add_notes_rewrite_ref(repo))
    return lines


def _uninstall_one(path: Path) -> str:
    chained = _chained(path)
    if os.path.lexists(chained):
        # In our file's place, under whatever name it has now: a hook manager that runs
        # our file runs the user's hook again.
        os.replace(chained, path)
        return f"{path.name}: removed from {path.parent}; restored the hook it had chained"
    path.unlink()
    return f"{path.name}: removed from {path.parent}"


def _settle_orphans(directory: Path) -> Iterator[str]:
    """Chained hooks whose tokentag hook is gone, e.g. overwritten by a hook manager."""
    for chained in sorted(directory.glob("*" + CHAINED_SUFFIX)):
        path = chained.with_name(chained.name[:-len(CHAINED_SUFFIX)])
        if not os.path.lexists(path):
            os.replace(chained, path)
            yield f"{path.name}: restored from {chained.name}"
        elif _fingerprint(path) == _fingerprint(chained):
            chained.unlink()  # the hook was rewritten to what it was before install
            yield f"{path.name}: removed {chained.name}, identical to {path.name}"
        else:
            yield (f"{path.name}: left {chained} alone: {path.name} was replaced after "
                   f"install; keep whichever of the two you need")


def _remove_created_dir(directory: Path) -> Iterator[str]:
    marker = directory / CREATED_MARKER
    if not marker.is_file():
        return
    marker.unlink()
    if any(directory.iterdir()):
        yield f"kept {directory}: created by tokentag install, but it now holds other files"
    else:
        directory.rmdir()
        yield f"removed {directory} (created by tokentag install)"


def _uninstall_dir(directory: Path) -> list[str]:
    lines = [_uninstall_one(path) for path in sorted(directory.iterdir())
             if not path.name.endswith(CHAINED_SUFFIX) and _is_ours(path)]
    lines.extend(_settle_orphans(directory))
    lines.extend(_remove_created_dir(directory))
    return lines


def _remove_notes_rewrite_ref(repo: StrPath) -> str:
    _remove_empty_notes_ref(repo)
    # Unset only our value; notes refs the user rewrites for other tools stay configured.
    result = _git(repo, "config", "--local", "--unset-all", "notes.rewriteRef",
                  "^refs/notes/tokentag$", check=False)
    if result.status == _GIT_CONFIG_NOTHING_TO_UNSET:
        return f"notes.rewriteRef: {NOTES_REF} was not set"
    if result.status != 0:
        raise TokentagError(f"cannot unset notes.rewriteRef: {result.stderr.strip()}")
    return f"notes.rewriteRef: removed {NOTES_REF}"


def uninstall_git_hooks(repo: StrPath) -> list[str]:
    """Remove our hooks and put chained ones back exactly. Returns what was done."""
    configured, _ = _hooks_location(repo)
    # The default dir too: core.hooksPath may have been set (say by husky) after install.
    candidates = dict.fromkeys([configured, _common_dir(repo) / "hooks"])
    lines: list[str] = []
    for directory in candidates:
        if directory.is_dir():
            lines.extend(_uninstall_dir(directory))
    if not lines:
        lines.append(f"no tokentag git hooks found in {configured}")
    lines.append(_remove_notes_rewrite_ref(repo))
    return lines


def _assigned(path: Path, assignment: str) -> str | None:
    """The value our hook script gives a variable (`_PYTHON_ASSIGNMENT`, ...)."""
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if line.startswith(assignment):
            words = shlex.split(line[len(assignment):])
            return words[0] if words else None
    return None


def _hook_status(path: Path, python: str | None) -> str:
    if not os.path.lexists(path):
        return "missing"
    if not _is_ours(path):
        moved = _moved_ours(path.parent, path.name)
        if moved is None:
            return "foreign"
        path = moved
    baked = _assigned(path, _PYTHON_ASSIGNMENT)
    if baked is None or not (os.path.isfile(baked) and os.access(baked, os.X_OK)):
        return "ours (stale python)"
    # Stale too when a reinstall would rewrite it: other interpreter or older template.
    wanted = render_hook(_assigned(path, _HOOK_ASSIGNMENT) or path.name, python or baked)
    if path.read_bytes() != wanted or not os.access(path, os.X_OK):
        return "ours (stale python)"
    return "ours"


def git_hook_status(repo: StrPath, hooks: Sequence[str] = DEFAULT_HOOKS,
                    python: str | None = None) -> dict[str, str]:
    """Hook name -> "ours", "missing", "foreign" or "ours (stale python)", for doctor.

    Stale means `install_git_hooks` would rewrite the file: its interpreter is gone, differs
    from `python` (when given), or the hook comes from an older template.
    """
    _check_hook_names(hooks)
    directory = hooks_dir(repo)
    return {hook: _hook_status(directory / hook, python) for hook in hooks}
