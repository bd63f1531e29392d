"""Benchmark: what people read every day costs what the answer holds, not the ledger.

Targets, each a median over interleaved rounds in one run:
  `tokentag report --by day`, `tokentag status`, `tokentag log -n 20` and `tokentag
  statusline` with a 1,000,000-request ledger  <= 1.1 x  the same with a 10,000-request
  ledger

Both ledgers cover the same year up to now (so a report by day has the same rows, and
today and this week have requests), written directly in capture's record format
(bench/_ledgers.py): sessions of 150 requests, 40 to a commit, the last 200 pending here
and 1,000 (1%) in another worktree. Each repository is installed, and its index folded
and rolled up once by a first `tokentag status` (timed and printed). Also printed, with no
target: `report --by day` in Europe/Berlin (local days, read from hourly roll-ups),
`--by session` and `--by commit`. Before timing, the big ledger's `report --by day --json`
must equal the same command reading every request.

`--before DIR` also times the code of another checkout (a worktree of the commit before
the roll-ups, say) on the same two ledgers, in the same rounds: its commands run with
PYTHONPATH=DIR, and its own index (an older version, which the other would rebuild) is
moved in under the index's name for each of its runs and out again after.

Run:  .venv/bin/python bench/bench_reads.py [--large 1000000] [--small 10000] [--runs 15]
                                            [--before /tmp/base-checkout]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (
    Sandbox,
    Stats,
    Tools,
    find_tools,
    log_failures,
    machine_line,
    ms,
    run_checked,
    status_line_input,
    timed,
    verdict,
)
from _ledgers import generate_ledger

TARGET = 1.1
TIMED = {"report --by day": ["report", "--by", "day"], "status": ["status"],
         "log -n 20": ["log", "-n", "20"], "statusline": ["statusline"]}
SHOWN = {"report --by day, Berlin": ["report", "--by", "day", "--tz", "Europe/Berlin"],
         "report --by session": ["report", "--by", "session"],
         "report --by commit": ["report", "--by", "commit"]}
# The session the status line is asked about: one that has just started, no transcript yet.
JUST_STARTED = "5a7e11ee-0000-4000-8000-000000000001"
# `tokentag` reading every request: the answer the roll-ups must give.
SCANNING = ("from tokentag.ledger.index import Index; Index.rollups = False; "
            "from tokentag._entry import main; main()")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=1_000_000, help="requests (1,000,000)")
    parser.add_argument("--small", type=int, default=10_000, help="requests (10,000)")
    parser.add_argument("--days", type=float, default=365.0, help="days both ledgers cover")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (2)")
    parser.add_argument("--tokentag", help="path of the tokentag console script")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--before", help="a checkout of earlier code to time beside this one")
    args = parser.parse_args()
    tools = find_tools(args.tokentag)
    sandbox = Sandbox("tokentag-bench-reads-", keep=args.keep)
    try:
        return run(args, tools, sandbox)
    finally:
        sandbox.close()


def make_repo(sandbox: Sandbox, tools: Tools, name: str, requests: int, days: float,
              before: dict[str, str] | None) -> Path:
    """An installed repository with one commit and a generated ledger, folded once (and
    once more by the earlier code, into its own index, when there is `before`'s env)."""
    repo = sandbox.new_repo(name)
    run_checked([tools.tokentag, "install"], cwd=repo, env=sandbox.env)
    sandbox.git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    ledger = repo / ".git" / "tokentag" / "ledger.jsonl"
    start = time.perf_counter()
    counts = generate_ledger(ledger, repo, sandbox.project_dir(repo), requests, days=days,
                             pending_elsewhere=requests // 100, pending_here=200)
    made = time.perf_counter() - start
    fold = timed([tools.tokentag, "status"], cwd=repo, env=sandbox.env)
    print(f"{name}: {counts['request']:,} requests, {counts['session']:,} sessions, "
          f"{counts['attribution']:,} commits, {ledger.stat().st_size / 1e6:.0f} MB "
          f"(generated in {made:.1f} s); first `tokentag status` (fold and roll-ups): "
          f"{fold:.1f} s")
    if before is not None:
        with own_index(repo, True):
            fold = timed([tools.tokentag, "status"], cwd=repo, env=before)
        print(f"{name}: first `tokentag status` of the earlier code (its fold): {fold:.1f} s")
    return repo


@contextlib.contextmanager
def own_index(repo: Path, earlier: bool) -> Iterator[None]:
    """The earlier code's index under the index's name while it runs, this code's aside:
    each would take the other's version for one to rebuild."""
    if not earlier:
        yield
        return
    directory = repo / ".git" / "tokentag"
    live, theirs, ours = (directory / name for name in (
        "index.sqlite", "index.before.sqlite", "index.after.sqlite"))
    live.replace(ours)
    if theirs.exists():
        theirs.replace(live)
    try:
        yield
    finally:
        live.replace(theirs)
        ours.replace(live)


def same_as_scan(tools: Tools, sandbox: Sandbox, repo: Path) -> bool:
    argv = ["report", "--by", "day", "--json"]
    rolled = run_checked([tools.tokentag, *argv], cwd=repo, env=sandbox.env).stdout
    start = time.perf_counter()
    scan = subprocess.run([tools.python, "-c", SCANNING, *argv], cwd=repo, env=sandbox.env,
                          capture_output=True, check=True).stdout
    print(f"`report --by day --json` reading every request: {time.perf_counter() - start:.2f} s;"
          f" equal to the roll-ups' answer: {json.loads(rolled) == json.loads(scan)}")
    return bool(json.loads(rolled) == json.loads(scan))


def run(args: argparse.Namespace, tools: Tools, sandbox: Sandbox) -> int:
    print("tokentag bench: reading commands, small and large ledger")
    print(tools.describe())
    print(machine_line())
    before = {**sandbox.env, "PYTHONPATH": str(Path(args.before).resolve())} \
        if args.before else None
    small = make_repo(sandbox, tools, "small", args.small, args.days, before)
    large = make_repo(sandbox, tools, "large", args.large, args.days, before)
    if not same_as_scan(tools, sandbox, large):
        return 2
    commands = {**TIMED, **SHOWN}
    codes = {"": sandbox.env, **({"before: ": before} if before is not None else {})}
    baseline = Stats("bare python -c pass")
    stats = {(code, name, repo.name): Stats(f"{code}{name}, {repo.name}") for code in codes
             for name in commands for repo in (small, large)}
    steps = [("", "python", small)] + [(code, name, repo) for code in codes
                                       for name in commands for repo in (small, large)]
    for turn in range(args.warmup + args.runs):
        recording = turn >= args.warmup
        shift = turn % len(steps)
        for code, name, repo in steps[shift:] + steps[:shift]:  # rotate the order each round
            if name == "python":
                seconds = timed([tools.python, "-c", "pass"], cwd=repo, env=sandbox.env)
                if recording:
                    baseline.add(seconds)
                continue
            stdin = status_line_input(repo, JUST_STARTED, repo / "no-transcript-yet.jsonl") \
                if name == "statusline" else None
            with own_index(repo, bool(code)):
                seconds = timed([tools.tokentag, *commands[name]], cwd=repo, env=codes[code],
                                stdin=stdin)
            if recording:
                stats[code, name, repo.name].add(seconds)
    problems = [line for repo in (small, large)
                for line in log_failures(repo / ".git" / "tokentag", sandbox)]
    print(f"after timing: {machine_line()}")
    print()
    for item in (baseline, *stats.values()):
        print(item.line())
    ok = True
    for code in codes:
        print()
        for name in commands:
            large_median = stats[code, name, "large"].median
            ratio = large_median / stats[code, name, "small"].median
            target = name in TIMED and not code
            ok = ok and (ratio <= TARGET or not target)
            print(f"{code}{name:<26} large/small {ratio:.2f} x" + (
                f"  (target <= {TARGET} x)   {verdict(ratio <= TARGET)}" if target else
                "  (no target)") + f"   large = {large_median / baseline.median:.1f} x "
                  f"bare python ({ms(baseline.median)})")
    if before is not None:
        print()
        for name in commands:
            now, then = (stats[code, name, "large"].median for code in codes)
            print(f"{name:<26} large, this code / the earlier: {ms(now)} / {ms(then)} = "
                  f"{now / then:.2f} x")
    if problems:
        print("\nsetup broken, figures are not valid:")
        for line in problems[:20]:
            print("  " + line)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
