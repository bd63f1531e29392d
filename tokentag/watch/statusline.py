"""`tokentag statusline`: one line for Claude Code's status bar.

    branch feature/login $4.12 | pending $0.31 | today $12.40

This branch's spend since it left the default branch (its own commits, see branch), what
is pending here since the last commit, and the repository's total for today (the local
day, as `report --by day` and `status` count days): all from the ledger's index, never a
transcript.

Claude Code runs it after every assistant message, so it is lean: no click, pydantic,
genai-prices or GitPython; prices come from the rates kept beside the index
(report.ratebook), and only a model or day they lack yet costs one pricing. With `--also CMD` (how
`tokentag install --statusline` composes with a status line already set) CMD runs with
the same input at the same time and its output comes first on the line; one that takes
longer than OTHER_WAIT is killed with what it started, and the line is ours alone.

Never in the way: bad input, a repository without tokentag, any failure is logged and
leaves tokentag's part of the line empty; the exit status is 0.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from tokentag.core import faillog, fastjson
from tokentag.core.errors import TokentagError
from tokentag.core.money import usd
from tokentag.core.timefmt import local_day_start
from tokentag.core.usage import USAGE_FIELDS, Usage
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.ledger.store import Store
from tokentag.report.ratebook import RateBook
from tokentag.watch.branch import branch_work

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence
    from typing import Any

    from tokentag.ledger.index import Row

MAX_INPUT = 1 << 20  # Claude Code's status input is a few kB
LOCK_WAIT = 2.0  # seconds: a capture holding the lock longer leaves this line empty once
OTHER_WAIT = 10.0  # seconds the composed status line may take
REAP_WAIT = 1.0  # seconds for its output to close once it is killed
SEPARATOR = " | "
_PIPE_CAPACITY = 65536  # what a pipe takes without a reader (Linux)


def run(args: Sequence[str], stdin: Any = None, stdout: Any = None) -> int:
    """Print the line; `args` are what follows `statusline` on the command line."""
    raw = _read(stdin)
    also = args[1] if len(args) == 2 and args[0] == "--also" else None
    other = _start(also, raw) if also is not None else None
    ours = ""
    try:
        if args and also is None:
            raise ValueError(f"unknown arguments {list(args)!r}")
        ours = line_for(raw)
    except Exception as error:  # noqa: BLE001 - a status line must never fail Claude Code
        faillog.log_failure(_tokentag_dir(raw), error, "statusline",
                            expected=isinstance(error, (ValueError, OSError, TokentagError)))
    text = joined(_finish(other, raw) if other is not None else "", ours)
    out = stdout if stdout is not None else sys.stdout
    if text:
        out.write(text + "\n")
    return 0


def joined(theirs: str, ours: str) -> str:
    """Our part after theirs, on their last line."""
    theirs = theirs.rstrip("\n")
    if not theirs.strip():
        return ours
    return f"{theirs}{SEPARATOR}{ours}" if ours else theirs


def line_for(raw: bytes) -> str:
    """The line for one status input; "" where tokentag has nothing to say."""
    home = _home(raw)
    if home is None or not os.path.isdir(home.tokentag_dir):
        return ""  # not a repository, or tokentag never ran in it: nothing recorded
    work = branch_work(home)
    own = work if work is not None and not work.is_default else None  # a branch of its own
    _, today = local_day_start()
    with Store.of(home).reading(LOCK_WAIT) as index:
        found = index.reads.price_groups_of(own.commits) if own is not None else {}
        sets = [[row for rows in found.values() for row in rows],
                index.reads.pending_price_groups(home.top), index.reads.price_groups_since(today)]
    book = RateBook(home.top, home.tokentag_dir)
    branch, pending, daily = (Spend.of(book, rows) for rows in sets)
    book.save()
    parts = [f"branch {own.name} {branch.text()}"] if own is not None else []
    return SEPARATOR.join([*parts, f"pending {pending.text()}", f"today {daily.text()}"])


class Spend:
    """What some price groups cost, printed as costs.Totals prints it: Totals is a
    dataclass, and `dataclasses` (with `inspect` and `re`) would be a third of this
    command's imports."""

    def __init__(self) -> None:
        self.cost = Decimal(0)
        self.requests = 0
        self.unpriced = 0

    @classmethod
    def of(cls, book: RateBook, rows: Sequence[Row]) -> Spend:
        spend = cls()
        for row in rows:
            usage = Usage(*(int(row[field] or 0) for field in USAGE_FIELDS))
            cost = book.cost(str(row["model"]), str(row["day"]), int(row["prompt"]), usage)
            spend.requests += int(row["requests"])
            if cost is None:
                spend.unpriced += int(row["requests"])
            else:
                spend.cost += cost
        return spend

    def text(self) -> str:
        known = not self.requests or self.unpriced < self.requests
        return usd(float(round(self.cost, 6)) if known else None, self.unpriced > 0)


def _home(raw: bytes) -> Worktree | None:
    payload = fastjson.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError("status input is not a JSON object")
    workspace = payload.get("workspace")
    cwd = workspace.get("current_dir") if isinstance(workspace, dict) else None
    cwd = cwd if isinstance(cwd, str) and cwd else payload.get("cwd")
    if not isinstance(cwd, str) or not cwd:
        raise ValueError("status input names no cwd")
    return find_worktree(cwd)


def _tokentag_dir(raw: bytes) -> str | None:
    """The repository's tokentag dir for the log, if the input leads to one."""
    try:
        home = _home(raw)
    except (ValueError, OSError):
        return None
    return home.tokentag_dir if home and os.path.isdir(home.tokentag_dir) else None


def _read(stdin: Any) -> bytes:
    stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    if stream is None:
        return b""
    data = bytes(stream.read(MAX_INPUT))
    while stream.read(1 << 16):  # read whole, so Claude Code's write never fails
        pass
    return data


# -- the status line composed with ours -----------------------------------------------------


def _start(command: str, raw: bytes) -> subprocess.Popen[bytes] | None:
    """The other status line, running on the same input while ours is worked out. In a
    session of its own, so that what it starts (a `cmd &`, a pipeline) can be killed with it:
    any of them holding its stdout would keep the line waiting."""
    import subprocess

    try:
        if len(raw) > _PIPE_CAPACITY:  # more than a pipe holds: fed when ours is done
            return subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, raw)  # the pipe holds it until the command reads
        finally:
            os.close(write_end)
        try:
            return subprocess.Popen(["sh", "-c", command], stdin=read_end,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            os.close(read_end)
    except OSError as error:
        faillog.log_failure(None, error, "statusline --also", expected=True)
        return None


def _finish(other: subprocess.Popen[bytes], raw: bytes) -> str:
    import subprocess

    try:
        out, _ = other.communicate(raw if other.stdin is not None else None,
                                   timeout=OTHER_WAIT)
    except subprocess.TimeoutExpired:
        _kill(other)
        return ""
    return out.decode("utf-8", "replace")


def _kill(other: subprocess.Popen[bytes]) -> None:
    """Kill the command and its process group, then reap it; never wait unbounded: a
    process that left the group (`setsid`) may hold its stdout open for ever."""
    import contextlib  # as rare as a status line that hangs
    import signal
    import subprocess

    with contextlib.suppress(ProcessLookupError):  # all of it has exited already
        os.killpg(other.pid, signal.SIGKILL)  # its own session: the group's id is its pid
    try:
        other.communicate(timeout=REAP_WAIT)
    except subprocess.TimeoutExpired:
        for pipe in (other.stdin, other.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # unflushed input to a reader that is gone
                    pipe.close()
        other.poll()  # reaps the shell, killed above, without waiting on it
