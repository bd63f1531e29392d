"""Benchmark: what the tokentag git hooks add to `git commit`.

Targets:
  1. overhead = commit with hooks - commit without   <= 2.0 x  bare `python -c pass`
  2. overhead with a 1,000,000-request ledger         <= 1.2 x  overhead with an empty ledger
  3. overhead when 20 sessions grew since the last commit  <= 1.3 x  when one did

Four temp repositories are committed to in interleaved rounds: `plain` (no hooks),
`empty`, `big` and `many` (`tokentag install` run in them, with HOME and CLAUDE_CONFIG_DIR in a
temp dir). Before every timed commit, each repository's session transcript gains a few
new requests (the session is known to the hook: a SessionStart hook ran first), so the
post-commit hook has to flush the transcript and attribute those requests, and write
the commit's note. The big ledger is written directly in the record format
capture.py writes (session, request and attribution records; nearly every request
attributed to an earlier commit, a few pending in another worktree), then folded into
the index once by `tokentag status` (timed and printed). In `many`, 20 sessions are
known and each gains one request before every commit (the others gain --per-commit).

Run:  .venv/bin/python bench/bench_commit.py [--requests 1000000] [--runs 25]
      .venv/bin/python bench/bench_commit.py --requests 50000 --runs 10   (quick)
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (
    Sandbox,
    SessionWriter,
    Stats,
    Tools,
    count_ledger,
    find_tools,
    log_failures,
    machine_line,
    ms,
    run_checked,
    timed,
    verdict,
)
from _ledgers import generate_ledger

TARGET_VS_PYTHON = 2.0
TARGET_BIG_VS_EMPTY = 1.2
TARGET_MANY_VS_ONE = 1.3
MANY_SESSIONS = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000,
                        help="requests in the big ledger (1,000,000)")
    parser.add_argument("--requests-per-session", type=int, default=150,
                        help="requests per session in the big ledger (150, like the real "
                             "sessions in ../shared/transcripts)")
    parser.add_argument("--requests-per-commit", type=int, default=40,
                        help="requests attributed per earlier commit in the big ledger (40)")
    parser.add_argument("--pending-elsewhere", type=int, default=None,
                        help="big-ledger requests left pending in another worktree "
                             "(default: 0.1%% of --requests)")
    parser.add_argument("--per-commit", type=int, default=3,
                        help="new requests to attribute at every timed commit (3)")
    parser.add_argument("--stale-cursors", action="store_true",
                        help="also give the big index a cursor for every old session's "
                             "(pruned) transcript, as an index kept for a year has; a re-fold "
                             "has none, cursors are not in the ledger")
    parser.add_argument("--runs", type=int, default=25, help="timed commits per repository")
    parser.add_argument("--warmup", type=int, default=3, help="untimed commits first (3)")
    parser.add_argument("--tokentag", help="path of the tokentag console script")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    if args.pending_elsewhere is None:
        args.pending_elsewhere = args.requests // 1000

    tools = find_tools(args.tokentag)
    sandbox = Sandbox("tokentag-bench-commit-", keep=args.keep)
    try:
        return run(args, tools, sandbox)
    finally:
        sandbox.close()


# --- the big ledger -------------------------------------------------------------------------


def add_stale_cursors(tokentag_dir: Path) -> int:
    """Cursors a state file built incrementally would hold: one per transcript read, here
    one per old session, pointing at files Claude Code has since deleted."""
    import sqlite3

    db = sqlite3.connect(tokentag_dir / "index.sqlite", isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS state", (str(tokentag_dir / "state.sqlite"),))
        db.execute("BEGIN")
        cursor = db.execute(
            "INSERT OR IGNORE INTO state.cursors (path, offset, size, mtime_ns, dev, ino) "
            "SELECT transcript, 1000000, 1000000, 0, 0, 0 FROM sessions")
        db.execute("COMMIT")
        return cursor.rowcount
    finally:
        db.close()


# --- the benchmark --------------------------------------------------------------------------


class Repo:
    """One timed repository: a file to change and a session transcript to grow."""

    def __init__(self, sandbox: Sandbox, tools: Tools, name: str, seed: int,
                 install: bool, per_commit: int, sessions: int = 1) -> None:
        self.sandbox, self.name = sandbox, name
        # Requests each session gains before a commit: one each when many sessions grow.
        self.requests_per_commit = 1 if sessions > 1 else per_commit
        self.path = sandbox.new_repo(name)
        self.installed = install
        if install:
            run_checked([tools.tokentag, "install"], cwd=self.path, env=sandbox.env)
        self.writers = []
        for n in range(sessions):
            number = seed * 100 + n
            session = f"c0de{number:04d}-0000-4000-8000-{number:012d}"
            self.writers.append(SessionWriter(
                sandbox.project_dir(self.path) / f"{session}.jsonl", session, self.path,
                seed=number))
        self.file = self.path / "work.txt"
        self.commits = 0

    @property
    def ledger(self) -> Path:
        return self.path / ".git" / "tokentag" / "ledger.jsonl"

    def prepare_commit(self) -> None:
        """What happens between two commits: the agents work, a file changes."""
        for writer in self.writers:
            writer.append_requests(self.requests_per_commit)
        with self.file.open("a") as handle:
            handle.write(f"change {self.commits}\n")
        self.commits += 1

    def commit(self) -> float:
        return timed(["git", "commit", "-q", "-a", "-m", f"change {self.commits}"],
                     cwd=self.path, env=self.sandbox.env)


def run(args: argparse.Namespace, tools: Tools, sandbox: Sandbox) -> int:
    print("tokentag bench: `git commit` with and without the tokentag git hooks")
    print(tools.describe())
    print(machine_line())
    per_commit = args.per_commit
    plain = Repo(sandbox, tools, "plain", 1, install=False, per_commit=per_commit)
    empty = Repo(sandbox, tools, "empty", 2, install=True, per_commit=per_commit)
    big = Repo(sandbox, tools, "big", 3, install=True, per_commit=per_commit)
    many = Repo(sandbox, tools, "many", 4, install=True, per_commit=per_commit,
                sessions=MANY_SESSIONS)
    timed_repos = (plain, empty, big, many)

    start = time.perf_counter()
    counts = generate_ledger(big.ledger, big.path, sandbox.project_dir(big.path), args.requests,
                             per_session=args.requests_per_session,
                             per_commit=args.requests_per_commit,
                             pending_elsewhere=args.pending_elsewhere)
    generated = time.perf_counter() - start
    size = big.ledger.stat().st_size
    print(f"big ledger: {counts['request']:,} requests, {counts['session']:,} sessions, "
          f"{counts['attribution']:,} attributions, {args.pending_elsewhere:,} pending in "
          f"another worktree; {size / 1e6:.0f} MB (generated in {generated:.1f} s)")

    status = [tools.tokentag, "status", "--json"]
    fold = timed(status, cwd=big.path, env=sandbox.env)
    again = timed(status, cwd=big.path, env=sandbox.env)
    folded = json.loads(run_checked(status, cwd=big.path, env=sandbox.env).stdout)
    print(f"one-off fold of the big ledger (first `tokentag status`): {fold:.1f} s; "
          f"`tokentag status` again: {ms(again)}")
    if folded["requests"] != counts["request"] or folded["pending"] != args.pending_elsewhere:
        print(f"setup broken: the index holds {folded['requests']} requests, "
              f"{folded['pending']} pending")
        return 2

    if args.stale_cursors:
        added = add_stale_cursors(big.path / ".git" / "tokentag")
        print(f"big index: added {added:,} cursors of pruned transcripts (--stale-cursors)")

    # The session starts: its hooks register it, so commits know its transcript.
    for repo in timed_repos:
        repo.prepare_commit()
        for writer in repo.writers if repo.installed else ():
            run_checked([tools.tokentag, "hook"], cwd=repo.path, env=sandbox.env,
                        stdin=writer.hook_payload("SessionStart"))
        run_checked(["git", "add", "work.txt"], cwd=repo.path, env=sandbox.env)
        run_checked(["git", "commit", "-q", "-m", "initial"], cwd=repo.path, env=sandbox.env)
    starts = {repo.name: repo.ledger.stat().st_size for repo in (empty, big, many)}

    baseline = Stats("bare python -c pass")
    stats = {repo.name: Stats(f"git commit, {label}") for repo, label in (
        (plain, "no hooks"), (empty, "hooks, empty ledger"),
        (big, f"hooks, {counts['request']:,}-request ledger"),
        (many, f"hooks, {MANY_SESSIONS} sessions grew"))}
    recording = False

    def baseline_run() -> None:
        seconds = timed([tools.python, "-c", "pass"], cwd=plain.path, env=sandbox.env)
        if recording:
            baseline.add(seconds)

    def commit_run(repo: Repo) -> None:
        repo.prepare_commit()
        seconds = repo.commit()
        if recording:
            stats[repo.name].add(seconds)

    steps = [baseline_run, *(lambda r=r: commit_run(r) for r in timed_repos)]
    for turn in range(args.warmup + args.runs):
        recording = turn >= args.warmup
        shift = turn % len(steps)
        for step in steps[shift:] + steps[:shift]:  # rotate the order every round
            step()

    problems = _check_attribution(sandbox, (empty, big, many), starts, args)

    overhead_empty = stats["empty"].median - stats["plain"].median
    overhead_big = stats["big"].median - stats["plain"].median
    ratio_python = overhead_empty / baseline.median
    ratio_big = overhead_big / overhead_empty if overhead_empty > 0 else float("inf")
    overhead_many = stats["many"].median - stats["plain"].median
    ratio_many = overhead_many / overhead_empty if overhead_empty > 0 else float("inf")
    ok_python = ratio_python <= TARGET_VS_PYTHON
    ok_big = ratio_big <= TARGET_BIG_VS_EMPTY
    ok_many = ratio_many <= TARGET_MANY_VS_ONE

    print(f"after timing: {machine_line()}")
    print()
    for item in (baseline, *stats.values()):
        print(item.line())
    print()
    print(f"baseline (bare python)               {ms(baseline.median)}")
    print(f"overhead, empty ledger               {ms(overhead_empty)}   = {ratio_python:.2f} x "
          f"baseline  (target <= {TARGET_VS_PYTHON} x)   {verdict(ok_python)}")
    print(f"overhead, {counts['request']:>9,}-request ledger  {ms(overhead_big)}   = "
          f"{ratio_big:.2f} x empty  (target <= {TARGET_BIG_VS_EMPTY} x)   {verdict(ok_big)}")
    print(f"overhead, {MANY_SESSIONS} sessions grew          {ms(overhead_many)}   = "
          f"{ratio_many:.2f} x one  (target <= {TARGET_MANY_VS_ONE} x)   {verdict(ok_many)}")
    print(f"one-off fold of the big ledger       {fold:.1f} s")
    if problems:
        print("\nsetup broken, figures are not valid:")
        for line in problems[:20]:
            print("  " + line)
        return 2
    return 0 if ok_python and ok_big and ok_many else 1


def _check_attribution(sandbox: Sandbox, repos: tuple[Repo, ...], starts: dict[str, int],
                       args: argparse.Namespace) -> list[str]:
    """Every timed commit must have flushed and attributed its own new requests."""
    problems: list[str] = []
    commits = args.warmup + args.runs
    for repo in repos:
        new, attributions = count_ledger(repo.ledger, starts[repo.name])
        sizes = sorted({len(a["keys"]) for a in attributions})  # type: ignore[arg-type]
        each = repo.requests_per_commit * len(repo.writers)
        if new != commits * each or len(attributions) != commits or sizes != [each]:
            problems.append(f"{repo.name}: {new} new requests and {len(attributions)} "
                            f"attributions of sizes {sizes}; expected {commits * each}"
                            f" and {commits} of {each}")
        notes = sandbox.git(repo.path, "notes", "--ref", "refs/notes/tokentag", "list")
        if len(notes.splitlines()) != commits + 1:
            problems.append(f"{repo.name}: {len(notes.splitlines())} notes, "
                            f"expected {commits + 1}")
        problems += [f"{repo.name}: {line}" for line in
                     log_failures(repo.path / ".git" / "tokentag", sandbox)]
    return problems


if __name__ == "__main__":
    sys.exit(main())
