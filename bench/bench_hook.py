"""Benchmark: one PostToolUse `tokentag hook` call that finds one new API request.

Targets (the issue's):
  1. hook on a small transcript   <= 3.0 x  bare `python -c pass` (same interpreter, same run)
  2. hook on a 200 MB transcript  <= 1.2 x  hook on the small transcript

Every timed call is a real subprocess: the console script, the payload on stdin, the cwd in
a temp git repository with `tokentag install` done, HOME / CLAUDE_CONFIG_DIR /
XDG_STATE_HOME in a temp dir. Before each timed call one new request (its assistant
lines, progress lines and tool_result) is appended to the transcript; the 200 MB
transcript was captured up to its end before timing starts. The three commands are
timed in interleaved rounds, after warm-up, and compared by their medians.

Run:  .venv/bin/python bench/bench_hook.py [--runs 25] [--size-mb 200]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (
    Sandbox,
    SessionWriter,
    Stats,
    Tools,
    count_ledger,
    find_tools,
    importtime_report,
    log_failures,
    machine_line,
    ms,
    run_checked,
    timed,
    verdict,
)

TARGET_VS_PYTHON = 3.0
TARGET_LARGE_VS_SMALL = 1.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="timed runs per command (25)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--size-mb", type=float, default=200.0,
                        help="size of the large transcript in MB (200)")
    parser.add_argument("--small-requests", type=int, default=30,
                        help="requests in the small transcript before timing (30)")
    parser.add_argument("--importtime", action="store_true",
                        help="print -X importtime of the hook path even when targets pass")
    parser.add_argument("--tokentag", help="path of the tokentag console script")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    tools = find_tools(args.tokentag)
    sandbox = Sandbox("tokentag-bench-hook-", keep=args.keep)
    try:
        return run(args, tools, sandbox)
    finally:
        sandbox.close()


def _setup_repo(sandbox: Sandbox, tools: Tools, name: str, seed: int) -> tuple[Path, SessionWriter]:
    repo = sandbox.new_repo(name)
    run_checked([tools.tokentag, "install"], cwd=repo, env=sandbox.env)
    session = f"5e55{seed:04d}-0000-4000-8000-{seed:012d}"
    path = sandbox.project_dir(repo) / f"{session}.jsonl"
    return repo, SessionWriter(path, session, repo, seed=seed)


def run(args: argparse.Namespace, tools: Tools, sandbox: Sandbox) -> int:
    print("tokentag bench: `tokentag hook` (PostToolUse, one new request per call)")
    print(tools.describe())
    print(machine_line())
    print(f"hook command: {tools.tokentag} hook   (runs on the same interpreter)")

    small_repo, small = _setup_repo(sandbox, tools, "small", 1)
    large_repo, large = _setup_repo(sandbox, tools, "large", 2)
    small.append_requests(args.small_requests)

    start = time.perf_counter()
    large_requests = large.grow_to(int(args.size_mb * 1_000_000))
    generated = time.perf_counter() - start
    size = large.path.stat().st_size
    print(f"small transcript: {small.path.stat().st_size / 1e3:.0f} kB, "
          f"{args.small_requests} requests")
    print(f"large transcript: {size / 1e6:.1f} MB, {large_requests:,} requests "
          f"(generated in {generated:.1f} s)")

    hook = [tools.tokentag, "hook"]
    # Capture both transcripts up to their end: the large one is a one-off full read.
    timed(hook, cwd=small_repo, env=sandbox.env, stdin=small.hook_payload("SessionStart"),
          expect_empty_stdout=True)
    initial = timed(hook, cwd=large_repo, env=sandbox.env,
                    stdin=large.hook_payload("SessionStart"), expect_empty_stdout=True)
    print(f"one-off first capture of the large transcript: {initial:.2f} s "
          f"({size / 1e6 / initial:.0f} MB/s)")
    small_ledger = small_repo / ".git" / "tokentag" / "ledger.jsonl"
    large_ledger = large_repo / ".git" / "tokentag" / "ledger.jsonl"
    small_before, _ = count_ledger(small_ledger)
    large_before, _ = count_ledger(large_ledger)
    if (small_before, large_before) != (args.small_requests, large_requests):
        print(f"setup broken: ledgers hold {small_before} and {large_before} requests, "
              f"expected {args.small_requests} and {large_requests}")
        return 2

    baseline = Stats("bare python -c pass")
    hook_small = Stats("hook, small transcript")
    hook_large = Stats(f"hook, {args.size_mb:.0f} MB transcript")

    recording = False

    def baseline_run() -> None:
        seconds = timed([tools.python, "-c", "pass"], cwd=small_repo, env=sandbox.env)
        if recording:
            baseline.add(seconds)

    def hook_run(writer: SessionWriter, repo: Path, stats: Stats) -> None:
        writer.append_requests(1)
        seconds = timed(hook, cwd=repo, env=sandbox.env, stdin=writer.hook_payload(),
                        expect_empty_stdout=True)
        if recording:
            stats.add(seconds)

    steps: list[Callable[[], None]] = [
        baseline_run,
        lambda: hook_run(small, small_repo, hook_small),
        lambda: hook_run(large, large_repo, hook_large)]
    for turn in range(args.warmup + args.runs):
        recording = turn >= args.warmup
        for step in steps[turn % 3:] + steps[:turn % 3]:  # rotate the order every round
            step()

    # Each call must have captured exactly its one new request, and nothing was logged.
    calls = args.warmup + args.runs
    small_after, _ = count_ledger(small_ledger)
    large_after, _ = count_ledger(large_ledger)
    problems = []
    if small_after - small_before != calls or large_after - large_before != calls:
        problems.append(f"captured {small_after - small_before} / {large_after - large_before} "
                        f"new requests, expected {calls} each")
    for repo in (small_repo, large_repo):
        problems += log_failures(repo / ".git" / "tokentag", sandbox)

    ratio_python = hook_small.median / baseline.median
    ratio_large = hook_large.median / hook_small.median
    ok_python = ratio_python <= TARGET_VS_PYTHON
    ok_large = ratio_large <= TARGET_LARGE_VS_SMALL

    print(f"after timing: {machine_line()}")
    print()
    for stats in (baseline, hook_small, hook_large):
        print(stats.line())
    print()
    print(f"baseline (bare python)  {ms(baseline.median)}")
    print(f"hook, small transcript  {ms(hook_small.median)}   = {ratio_python:.2f} x baseline  "
          f"(target <= {TARGET_VS_PYTHON} x)   {verdict(ok_python)}")
    print(f"hook, {args.size_mb:.0f} MB transcript  {ms(hook_large.median)}   = "
          f"{ratio_large:.2f} x small  (target <= {TARGET_LARGE_VS_SMALL} x)   "
          f"{verdict(ok_large)}")
    print(f"hook cost above bare python: {ms(hook_small.median - baseline.median)}")

    if not ok_python or args.importtime:
        print("\n-X importtime of the hook path (small transcript):")
        small.append_requests(1)
        print(importtime_report([tools.python, "-X", "importtime", tools.tokentag, "hook"],
                                cwd=small_repo, env=sandbox.env, stdin=small.hook_payload()))
    if problems:
        print("\nsetup broken, figures are not valid:")
        for line in problems[:20]:
            print("  " + line)
        return 2
    return 0 if ok_python and ok_large else 1


if __name__ == "__main__":
    sys.exit(main())
