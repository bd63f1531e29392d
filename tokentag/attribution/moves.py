"""Work a new commit holds that commits the worktree abandoned held before: a soft or mixed
reset then a commit, and `git merge --squash` then a commit. The abandoned commits' usage
moves to the new commit once (a `rewrite` record, as amend and rebase make) and their notes
go, so the new commit's release counts it and nothing counts it twice.

- A reset: the worktree's HEAD reflog says so (`reset: moving to ...` just before this
  commit's entry). The abandoned commits are those reachable from HEAD as it was before
  the reset and not from this commit's parent.
- A squash merge: git lists the squashed commits in SQUASH_MSG, and removes the file before
  post-commit runs; the prepare-commit-msg hook keeps the list in the tokentag dir, and the
  commit takes it.
"""

from __future__ import annotations

import os

from tokentag.git import gitcmd

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from tokentag.git.gitdirs import Worktree

SQUASHING = "squashing"  # in the tokentag dir: the commits the next commit squashes
_REFLOG_TAIL = 8192  # bytes: the last two entries of a reflog fit in far less


def keep_squash_list(worktree: Worktree) -> None:
    """prepare-commit-msg: keep the commits a pending squash merge brings, for post-commit."""
    message = os.path.join(worktree.git_dir, "SQUASH_MSG")
    try:
        with open(message, encoding="utf-8", errors="replace") as handle:
            listed = [line.split()[1] for line in handle
                      if line.startswith("commit ") and len(line.split()) == 2]
    except OSError:
        return
    if listed:
        os.makedirs(worktree.tokentag_dir, exist_ok=True)
        with open(os.path.join(worktree.tokentag_dir, SQUASHING), "w", encoding="ascii") as out:
            out.write("".join(f"{commit} {worktree.name}\n" for commit in listed))


def abandoned(worktree: Worktree, commit: str) -> tuple[str, list[str]]:
    """What this commit took over: ("squash" or "reset", the commits), or ("", [])."""
    squashed = _squash_list(worktree)
    if squashed:
        return "squash", squashed
    before_reset, target = _reset_before(worktree, commit)
    if before_reset is None or target is None:
        return "", []
    out = gitcmd.run(worktree.top, "rev-list", before_reset, f"^{target}", "--", check=False)
    return "reset", out.split()


def _squash_list(worktree: Worktree) -> list[str]:
    """The commits the squash merge of this worktree listed, taken once."""
    path = os.path.join(worktree.tokentag_dir, SQUASHING)
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            lines = [line.split() for line in handle]
    except OSError:
        return []
    mine = [fields[0] for fields in lines if len(fields) == 2 and fields[1] == worktree.name]
    if mine:
        os.unlink(path)
    return mine


def _reset_before(worktree: Worktree, commit: str) -> tuple[str | None, str | None]:
    """(HEAD before the reset, the reset's target) when the entry before this commit's in
    the worktree's reflog is a reset to this commit's parent; else (None, None)."""
    entries = _reflog_tail(os.path.join(worktree.git_dir, "logs", "HEAD"))
    if len(entries) < 2:
        return None, None
    (reset_old, reset_new, reset_message), (old, new, message) = entries[-2:]
    if new != commit or not message.startswith("commit") or message.startswith(
            "commit (amend)") or not reset_message.startswith("reset: moving to ") \
            or reset_new != old or reset_old == reset_new:
        return None, None
    return reset_old, reset_new


def _reflog_tail(path: str) -> list[tuple[str, str, str]]:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - _REFLOG_TAIL))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    entries = []
    for line in tail.splitlines()[-2:]:
        head, _, message = line.partition("\t")
        fields = head.split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1], message))
    return entries
