"""`tokentag sync [REMOTE]`: share the tokentag notes through a git remote.

Git is the distributed store. The remote's `refs/notes/tokentag` is fetched into a
tracking ref of ours, `refs/notes/tokentag-remote/<remote>`, with a refspec given on the
command line: the user's fetch and push refspecs and other notes refs are never touched.
The two notes trees are merged into a commit whose parents are both heads, so pushing it
is a fast-forward for the remote; a push rejected because the remote moved meanwhile is
retried after fetching and merging again.

Merge rule, per commit whose note differs between the local and the remote ref:

1. The local ledger knows the commit: the note is recomputed from it. It holds the
   requests themselves, so it beats any copy of the note.
2. Only one side has a note: that note. A note is never dropped.
3. Only one side changed the note since the merge base: that side's version.
4. Both changed it: `content.join_notes`, per price group the maximum of each count. Both
   versions describe the same requests (one ledger wrote them, at different times), so
   adding them would count twice; the join keeps everything either side has, and is the
   same whatever the order of the syncs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokentag.core import faillog, locking
from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd, gitrepo
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.ledger.store import Store
from tokentag.notes import NOTES_REF, content

if TYPE_CHECKING:
    from _typeshed import StrPath
    from git import Git, Repo

TRACKING_PREFIX = "refs/notes/tokentag-remote/"
MAX_ATTEMPTS = 5
SYNC_LOCK = "sync.lock"
# Seconds one ls-remote, fetch or push of the notes may take before git is killed: a remote
# that accepts the connection and never answers would otherwise hold the sync, and its lock,
# for ever. Generous, for a slow link and a large notes history.
REMOTE_WAIT = 300.0
# Set on every git push tokentag makes of the notes, so the pre-push hook that push could
# run does not start another one.
PUSHING_ENV = "TOKENTAG_PUSHING_NOTES"
_NOTE_MODE = "100644"
_HEX = frozenset("0123456789abcdef")
_REJECTED_AS_STALE = ("non-fast-forward", "fetch first", "stale info")


@dataclass
class MergeStats:
    """How the notes that differed between the two sides were settled."""

    from_remote: int = 0
    from_local: int = 0
    from_ledger: int = 0
    joined: int = 0

    def add(self, other: MergeStats) -> None:
        self.from_remote += other.from_remote
        self.from_local += other.from_local
        self.from_ledger += other.from_ledger
        self.joined += other.joined


@dataclass
class SyncResult:
    remote: str
    notes_head: str | None = None
    pushed: bool = False
    pushed_notes: int = 0  # notes the remote did not have, or had otherwise, before the push
    attempts: int = 0
    merged: MergeStats = field(default_factory=MergeStats)

    def as_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "notes_ref": NOTES_REF, "notes_head": self.notes_head,
                "pushed": self.pushed, "pushed_notes": self.pushed_notes,
                "attempts": self.attempts, "merged": vars(self.merged).copy()}


class _RefMoved(Exception):
    """The local notes ref changed under the merge (a commit wrote a note): merge again."""


# --- the command ---------------------------------------------------------------------------


def sync(worktree: Worktree, remote: str | None = None, attempts: int = MAX_ATTEMPTS,
         lock_wait: float | None = None) -> SyncResult:
    """Fetch, merge and push the notes; retry while the remote moves between fetch and push.
    `lock_wait`: seconds to wait for another sync to end (LockTimeout), else unbounded."""
    repo = gitrepo.open_repo(worktree.top)
    name = remote or default_remote(repo)
    check_remote(repo, name)
    with _one_sync_at_a_time(worktree, lock_wait):
        return _sync_attempts(worktree, repo.git, name, attempts)


@contextmanager
def _one_sync_at_a_time(worktree: Worktree, wait: float | None) -> Iterator[None]:
    """Pushes in a row start overlapping background syncs; two at once would race for the
    tracking ref. A lock of its own: the ledger's must not wait on the network."""
    with locking.locked(os.path.join(worktree.tokentag_dir, SYNC_LOCK), wait):
        yield


def _sync_attempts(worktree: Worktree, git: Git, name: str, attempts: int) -> SyncResult:
    result = SyncResult(name)
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        remote_head = fetch_notes(git, name)
        try:
            local, stats = merge_notes(worktree, git, remote_head, name)
        except _RefMoved:
            continue
        result.merged.add(stats)
        result.notes_head = local
        if local is None or local == remote_head:
            return result  # nothing here the remote lacks
        if push_notes(git, name):
            gitrepo.run(git, "update-ref", tracking_ref(name), local)
            result.pushed = True
            result.pushed_notes = _notes_changed(git, remote_head, local)
            return result
    raise TokentagError(f"pushing the notes to {name} was rejected {attempts} times because "
                        f"the remote's notes kept changing; run `tokentag sync` again")


def _notes_changed(git: Git, before: str | None, after: str) -> int:
    """How many commits' notes `after` adds to or changes in `before` (None: no notes)."""
    listed = gitrepo.run(git, "diff-tree", "-r", "--name-only", "--no-commit-id",
                         "--diff-filter=AM", before, after) if before else \
        gitrepo.run(git, "ls-tree", "-r", "--name-only", after)
    return sum(1 for line in listed.split("\n") if line)


def default_remote(repo: Repo) -> str:
    """The current branch's remote, else `origin`, else the only remote."""
    if not repo.head.is_detached:
        branch = repo.active_branch.name
        upstream = gitrepo.run(repo.git, "config", "--get", f"branch.{branch}.remote",
                               check=False)
        if upstream and upstream != ".":
            return upstream
    names = remotes(repo)
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    if not names:
        raise TokentagError("this repository has no remote to sync the notes with")
    raise TokentagError(f"several remotes ({', '.join(names)}): name one, "
                        f"e.g. `tokentag sync {names[0]}`")


def remotes(repo: Repo) -> list[str]:
    return [remote.name for remote in repo.remotes]


def check_remote(repo: Repo, remote: str) -> None:
    """A configured remote only: its name becomes part of the tracking ref."""
    if remote not in remotes(repo):
        raise TokentagError(f"no remote named {remote!r} (see `git remote -v`)")
    if gitrepo.result(repo.git, "check-ref-format", tracking_ref(remote)).status != 0:
        raise TokentagError(f"remote name {remote!r} cannot name a ref")


def tracking_ref(remote: str) -> str:
    return TRACKING_PREFIX + remote


# --- fetch -----------------------------------------------------------------------------------


def fetch_notes(git: Git, remote: str) -> str | None:
    """Bring the remote's notes into the tracking ref; their head, or None if it has none."""
    listed = gitrepo.run(git, "ls-remote", "--refs", remote, NOTES_REF, timeout=REMOTE_WAIT)
    # ls-remote matches the pattern as a suffix: keep the exact ref only.
    heads = [line.split("\t")[0] for line in listed.splitlines()
             if line.endswith("\t" + NOTES_REF)]
    tracking = tracking_ref(remote)
    if not heads:
        gitrepo.run(git, "update-ref", "-d", tracking)
        return None
    head = heads[0]
    if gitrepo.commit_of(git, head):  # seen before (often: pushed by us): no round trip
        gitrepo.run(git, "update-ref", tracking, head)
        return head
    # An explicit refspec, never written to config; no FETCH_HEAD, so a `git pull` or
    # `git merge FETCH_HEAD` the user is in the middle of is not disturbed.
    gitrepo.run(git, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                "--no-recurse-submodules", remote, f"+{NOTES_REF}:{tracking}",
                timeout=REMOTE_WAIT)
    return gitrepo.commit_of(git, tracking) or None


# --- merge -----------------------------------------------------------------------------------


def merge_notes(worktree: Worktree, git: Git, remote_head: str | None,
                remote: str) -> tuple[str | None, MergeStats]:
    """Merge the remote's notes into `refs/notes/tokentag`; returns its new head."""
    local = gitrepo.commit_of(git, NOTES_REF) or None
    stats = MergeStats()
    if remote_head is None or remote_head == local:
        return local, stats
    base = _merge_base(git, local, remote_head)
    if base == remote_head:
        return local, stats  # merged before: the local notes already hold the remote's
    ours, theirs = note_entries(git, local), note_entries(git, remote_head)
    merged = _merged_entries(worktree, git, ours, theirs, note_entries(git, base), stats)
    if merged == theirs and (local is None or base == local):
        new = remote_head  # a fast-forward: no commit needed
    else:
        parents = [remote_head] if local is None or base == local else [local, remote_head]
        new = _commit_tree(git, merged, parents, remote)
    _update_ref(git, new, local)
    return new, stats


def _merge_base(git: Git, local: str | None, remote_head: str) -> str | None:
    if local is None:
        return None
    return gitrepo.run(git, "merge-base", local, remote_head, check=False) or None


def note_entries(git: Git, ref: str | None) -> dict[str, str]:
    """Annotated commit -> note blob. Notes trees may fan out (`ab/cdef...`): flattened."""
    if ref is None:
        return {}
    entries: dict[str, str] = {}
    for line in gitrepo.run(git, "ls-tree", "-r", ref).splitlines():
        meta, _, path = line.partition("\t")
        kind, blob = meta.split()[1:3]
        commit = path.replace("/", "")
        if kind == "blob" and len(commit) in (40, 64) and set(commit) <= _HEX:
            entries[commit] = blob
    return entries


def _merged_entries(worktree: Worktree, git: Git, ours: dict[str, str],
                    theirs: dict[str, str], base: dict[str, str],
                    stats: MergeStats) -> dict[str, str]:
    merged = {**theirs, **ours}
    differing = sorted(c for c in merged if ours.get(c) != theirs.get(c))
    stored = {ours.get(c) for c in differing} | {theirs.get(c) for c in differing}
    vouched = _ledger_blobs(worktree, git, differing, stored)
    for commit in differing:
        mine, yours = ours.get(commit), theirs.get(commit)
        if commit in vouched:
            merged[commit] = vouched[commit]
            stats.from_ledger += 1
        elif mine is None or (yours is not None and mine == base.get(commit)):
            merged[commit] = str(yours)
            stats.from_remote += 1
        elif yours is None or yours == base.get(commit):
            stats.from_local += 1  # `merged` already holds ours
        else:
            merged[commit] = _joined_blob(git, mine, yours)
            stats.joined += 1
    return merged


def _ledger_blobs(worktree: Worktree, git: Git, commits: list[str],
                  known: set[str | None]) -> dict[str, str]:
    """Note blobs, recomputed from the local ledger, of the commits it knows. Blobs already
    stored (usually the local note, written from the same ledger) are not written again."""
    if not commits:
        return {}
    with Store.of(worktree).reading() as index:
        texts = {c: content.note_text(note) for c in commits
                 if (note := content.note_for(index, c)) is not None}
    algorithm = gitrepo.run(git, "rev-parse", "--show-object-format")
    blobs: dict[str, str] = {}
    for commit, text in texts.items():
        blob = _blob_id(text, algorithm)
        blobs[commit] = blob if blob in known else _write_blob(git, text)
    return blobs


def _blob_id(text: str, algorithm: str) -> str:
    """What git would name this blob, computed without running git."""
    data = text.encode("utf-8")
    digest = hashlib.new(algorithm)
    digest.update(b"blob %d\0" % len(data) + data)
    return digest.hexdigest()


def _write_blob(git: Git, text: str) -> str:
    return gitrepo.run(git, "hash-object", "-w", "--stdin", stdin=text)


def _joined_blob(git: Git, mine: str, yours: str) -> str:
    texts = gitrepo.read_blobs(git, [mine, yours])
    first, second = (content.parse_note(texts.get(blob, b"").decode("utf-8", "replace"))
                     for blob in (mine, yours))
    if first is None or second is None:  # not a tokentag note: keep the one that is
        return mine if second is None else yours
    return _write_blob(git, content.note_text(content.join_notes(first, second)))


def _commit_tree(git: Git, entries: dict[str, str], parents: list[str], remote: str) -> str:
    # A flat tree: git reads notes at any fan-out and re-fans them when it next writes.
    listing = "".join(f"{_NOTE_MODE} blob {blob}\t{commit}\n"
                      for commit, blob in sorted(entries.items()))
    tree = gitrepo.run(git, "mktree", stdin=listing)
    require_identity(git)
    args = [arg for parent in parents for arg in ("-p", parent)]
    return gitrepo.run(git, "commit-tree", tree, *args,
                       "-m", f"Notes merged by 'tokentag sync' from {remote}")


def require_identity(git: Git) -> None:
    """Notes commits carry the user's git identity; without one, say so in a line."""
    for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        if gitrepo.result(git, "var", variable).status != 0:
            raise TokentagError("no git identity to sign the notes commit: set one with "
                                "`git config user.name ...` and `git config user.email ...`")


def _update_ref(git: Git, new: str, old: str | None) -> None:
    """Move the notes ref only if nothing else did since we read it."""
    expected = old or "0" * len(new)
    result = gitrepo.result(git, "update-ref", "-m", "tokentag sync", NOTES_REF, new, expected)
    if result.status != 0:
        raise _RefMoved(result.stderr.strip())


# --- push ------------------------------------------------------------------------------------


def push_notes(git: Git, remote: str) -> bool:
    """Push the notes without force. False when the remote moved (merge again and retry)."""
    # --no-verify: a notes push is not what the user's pre-push checks are for, and it
    # would run tokentag's own pre-push hook again.
    result = gitrepo.result(git, "push", "--porcelain", "--no-verify", remote,
                            f"{NOTES_REF}:{NOTES_REF}", env={PUSHING_ENV: "1"},
                            timeout=REMOTE_WAIT)
    for line in result.text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[1].endswith(":" + NOTES_REF):
            continue
        if fields[0] != "!":
            return True
        if any(reason in fields[2] for reason in _REJECTED_AS_STALE):
            return False
        raise TokentagError(f"the remote {remote} refused the notes: {fields[2]}")
    message = " ".join(result.stderr.split()) or f"exit {result.status}"
    raise TokentagError(f"pushing the notes to {remote} failed: {message}")


# --- the pre-push hook -------------------------------------------------------------------------


def on_pre_push(worktree: Worktree, args: list[str], stdin_text: str) -> bool:
    """Sync the notes with the remote being pushed to, in the background; True if started.

    Never in the way of the push: the sync runs detached, after this hook has returned,
    with no terminal to prompt on; its failures go to the tokentag log.
    """
    if os.environ.get(PUSHING_ENV) or not args or not _pushes_commits(stdin_text):
        return False
    # Through gitcmd, not the GitPython door: this runs inside the push, which waits.
    top, remote = worktree.top, args[0]
    if remote not in gitcmd.run(top, "remote").split() or not gitcmd.run(
            top, "rev-parse", "--verify", "--quiet", f"{NOTES_REF}^{{commit}}", check=False):
        return False  # a push to a bare URL has no tracking ref to merge through
    # -E -P: neither the repository's top, its cwd, nor a PYTHONPATH set for the session
    # may come first on its `sys.path` (see setup.launch).
    start_background([sys.executable, "-E", "-P", "-m", "tokentag.notes.sync", remote],
                     worktree.top)
    return True


def start_background(argv: list[str], cwd: StrPath) -> None:
    """Detached: its own session (no terminal to prompt on, git does not wait for it) and
    no pipe of the hook's, or a caller reading the push's output would wait for it too."""
    env = {**gitcmd.git_env(), PUSHING_ENV: "1", "GIT_TERMINAL_PROMPT": "0"}
    subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def _pushes_commits(stdin_text: str) -> bool:
    """pre-push lines are `<local ref> <local oid> <remote ref> <remote oid>`. A push of only
    notes refs (this one, by hand) or only deletions carries no commits to annotate."""
    for line in stdin_text.splitlines():
        fields = line.split()
        if len(fields) == 4 and set(fields[1]) != {"0"} \
                and not fields[2].startswith("refs/notes/"):
            return True
    return False


def background_main(argv: list[str]) -> int:
    """`python -m tokentag.sync REMOTE`, what the pre-push hook starts. Always exits 0.

    Never waits for another sync: that one is pushing the notes already, and pushes to a
    remote that has stopped answering would each leave one more process queued on the lock.
    """
    worktree = find_worktree(os.getcwd())
    try:
        if worktree is not None and argv:
            sync(worktree, argv[0], lock_wait=0)
    except locking.LockTimeout:
        pass  # another sync holds the lock: not a failure
    except Exception as error:  # noqa: BLE001 - nobody is waiting for this process
        faillog.log_failure(worktree.tokentag_dir if worktree else None, error,
                            "pre-push notes sync")
    return 0


if __name__ == "__main__":
    sys.exit(background_main(sys.argv[1:]))
