"""Totals per work item: a task (an id such as `ABC-123`, `#123` or `gh-123` in the branch
name or the commit message), a commit's author, or a pull request (the number GitHub puts
in a merge or squash commit's message).

A request's task is the one it was recorded under (`tokentag record --task`), else the
first match of the task pattern in its branch name (where the work was done), else in its
commit's message. Authors and messages come from one `git log --no-walk --stdin` for all
the commits the requests belong to, never a process per commit; a commit git no longer
has (rewritten away, or another clone's) is shown as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from tokentag.core.errors import TokentagError
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.filters import Filters
from tokentag.ledger.index import Index
from tokentag.report import costs
from tokentag.report.costs import Totals
from tokentag.report.grouping import ByModel, Pricer
from tokentag.report.rows import NO_COMMIT, PENDING

if TYPE_CHECKING:
    import regex
    from git import Git

WORK_ITEM_KEYS = ("task", "author", "pr")
# Jira-style keys (not UTF-8, SHA-256, ISO-8601, RFC-2119), `#123`, `gh-123`.
DEFAULT_TASK_PATTERN = (r"\b(?!(?:UTF|SHA|ISO|RFC)-)[A-Z][A-Z0-9]+-\d+\b"
                        r"|(?<![\w&#])#\d+\b|\bgh-\d+\b")
# The task pattern comes from the repository's config, and a cloned repository's may be
# one that backtracks for ages on some text: every search gets this bound (in seconds).
TASK_SEARCH_LIMIT = 0.5
NO_TASK = "(no task)"
NO_PR = "(no pr)"
GONE = "(commit not in repository)"
# GitHub's merge commit subject, and the `(#12)` it ends a squash commit's title with.
_PR_MERGE = re.compile(r"^Merge pull request #(\d+) from ")
_PR_SQUASH = re.compile(r"\(#(\d+)\)\s*$")


class CommitInfo(NamedTuple):
    author: str
    message: str


def by_model(worktree: Worktree, index: Index, by: str, filters: Filters, pricer: Pricer,
             task_pattern: str | None = None) -> ByModel:
    """Totals per work item (`by` one of WORK_ITEM_KEYS) and model, in no particular order."""
    rows = index.reads.work_item_price_groups(filters)
    commits = sorted({commit for commit, _, _, _ in rows if commit})
    infos = read_commits(gitrepo.open_repo(worktree.top).git, commits) if commits else {}
    pattern = compiled_task_pattern(task_pattern or DEFAULT_TASK_PATTERN)
    groups: ByModel = {}
    for commit, branch, task, row in rows:
        info = infos.get(commit) if commit else None
        if by == "task":
            message = info.message if info else None
            key = task or task_in(pattern, branch) or task_in(pattern, message) or NO_TASK
        elif commit is None:
            key = NO_COMMIT if task else PENDING
        elif info is None:
            key = GONE
        else:
            key = info.author if by == "author" else pull_request(info.message) or NO_PR
        group = costs.group_from_row(row)
        groups.setdefault(key, {}).setdefault(group.model, Totals.empty()).add(pricer(group))
    return groups


def compiled_task_pattern(text: str) -> regex.Pattern[str]:
    """The `regex` module, not `re`: its searches take a time limit. Its default syntax is
    `re`'s."""
    import regex

    return regex.compile(text)


def task_in(pattern: regex.Pattern[str], text: str | None) -> str | None:
    """The first work-item id in `text`: the pattern's first group if it has one, else
    the whole match."""
    try:
        found = pattern.search(text, timeout=TASK_SEARCH_LIMIT) if text else None
    except TimeoutError:
        raise TokentagError(f"task_pattern {pattern.pattern!r} took over "
                            f"{TASK_SEARCH_LIMIT:g} s on one branch name or commit message: "
                            "nested repeats can take exponential time; simplify it") from None
    if found is None:
        return None
    return found.group(1) if pattern.groups else found.group(0)


def pull_request(message: str) -> str | None:
    """`#12` from "Merge pull request #12 from ..." or a subject "Title (#12)"."""
    subject = message.split("\n", 1)[0]
    found = _PR_MERGE.match(subject) or _PR_SQUASH.search(subject)
    return f"#{found.group(1)}" if found else None


def read_commits(git: Git, commits: Iterable[str]) -> dict[str, CommitInfo]:
    """Author and message of each commit git has, from one `git log`."""
    listed = "".join(f"{commit}\n" for commit in commits)
    out = gitrepo.run(git, "log", "--no-walk=unsorted", "--ignore-missing", "--stdin",
                      "--format=%H%x00%an%x00%B%x00", stdin=listed)
    fields = out.split("\x00")
    return {sha.strip(): CommitInfo(author, message.rstrip("\n"))
            for sha, author, message in zip(fields[0::3], fields[1::3], fields[2::3],
                                            strict=False)}
