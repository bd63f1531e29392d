"""Benchmark: one `tokentag hook` call that finds one new API request.

Targets:
  1. hook on a small transcript   <= 1.5 x  bare `python -c pass` (same interpreter, same run)
  2. hook on a 200 MB transcript  <= 1.2 x  hook on the small transcript
  3. hook on a session with 50 subagent files  <= 1.1 x  the small transcript
  4. Stop hook in a project dir of 2,000 flat agent files  <= 1.1 x  the small transcript

Every timed call is a real subprocess of the command `tokentag install` registered in the
Claude settings file, run as Claude Code runs it (`sh -c COMMAND`), the payload on stdin,
the cwd in a temp git repository, HOME / CLAUDE_CONFIG_DIR / XDG_STATE_HOME in a temp dir.
Before each timed call one new request (its assistant lines, progress lines and
tool_result) is appended to the main transcript; every transcript was captured up to its
end before timing starts. The commands are timed in interleaved rounds, after warm-up, and
compared by their medians.

Run:  .venv/bin/python bench/bench_hook.py [--runs 25] [--size-mb 200]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
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

TARGET_VS_PYTHON = 1.5
TARGET_LARGE_VS_SMALL = 1.2
TARGET_MANY_FILES_VS_SMALL = 1.1
SUBAGENT_FILES = 50
FLAT_AGENT_FILES = 2_000
FLAT_OWN_FILES = 5  # of the flat files, those of the timed session
# A project dir changed this recently may still gain a file with the same mtime, so a Stop
# lists it again until then (capture/catch_up.py, FlatAgents.SETTLED_NS): the steady state,
# which the target is about, begins that long after the flat files were written.
FLAT_DIR_SETTLES = 2.1


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
    parser.add_argument("--tokentag", help="path of the tokentag console script (runs install)")
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


def registered_command(sandbox: Sandbox) -> list[str]:
    """The PostToolUse command `tokentag install` wrote, as Claude Code runs it."""
    settings = json.loads((sandbox.config / "settings.json").read_text())
    return ["sh", "-c", settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"]]


def with_importtime(command: list[str]) -> list[str]:
    """The registered command with `-X importtime` added: it starts Python with `-E`, which
    ignores PYTHONPROFILEIMPORTTIME."""
    shell = command[-1].replace(" -E -S -P -c ", " -E -S -P -X importtime -c ")
    if shell == command[-1]:
        raise SystemExit("bench_hook: the registered command no longer starts python with "
                         "-E -S -P -c; update with_importtime")
    return [*command[:-1], shell]


def _agent_lines(writer: SessionWriter, requests: int) -> bytes:
    """Lines of a subagent's file: requests of the writer's session, marked as a sidechain."""
    data = b"".join(writer.request_lines() for _ in range(requests))
    return data.replace(b'"isSidechain":false', b'"isSidechain":true')


def add_subagent_files(writer: SessionWriter, count: int) -> None:
    """`count` nested subagent files of the writer's session, a few requests each."""
    folder = writer.path.with_suffix("") / "subagents"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"agent-b{n:06d}.jsonl").write_bytes(_agent_lines(writer, 2))


def add_flat_agent_files(writer: SessionWriter, count: int, own: int) -> None:
    """`count` flat agent files beside the session file, as Claude Code 2.0.28-2.1.1 kept
    them: `own` of them this session's, the others of earlier sessions in the project."""
    other = _agent_lines(writer, 1)
    mine = writer.session_id.encode()
    for n in range(count):
        data = _agent_lines(writer, 1) if n < own else \
            other.replace(mine, f"{n:08x}".encode() + mine[8:])
        (writer.path.parent / f"agent-f{n:06d}.jsonl").write_bytes(data)


def run(args: argparse.Namespace, tools: Tools, sandbox: Sandbox) -> int:
    print("tokentag bench: `tokentag hook` (one new request per call)")
    print(tools.describe())
    print(machine_line())

    small_repo, small = _setup_repo(sandbox, tools, "small", 1)
    large_repo, large = _setup_repo(sandbox, tools, "large", 2)
    agents_repo, agents = _setup_repo(sandbox, tools, "agents", 3)
    flat_repo, flat = _setup_repo(sandbox, tools, "flat", 4)
    hook = registered_command(sandbox)
    print(f"hook command (from settings.json, run with sh -c): {hook[2][:120]}...")
    for writer in (small, agents, flat):
        writer.append_requests(args.small_requests)
    add_subagent_files(agents, SUBAGENT_FILES)
    add_flat_agent_files(flat, FLAT_AGENT_FILES, FLAT_OWN_FILES)
    flat_written = time.monotonic()

    start = time.perf_counter()
    large_requests = large.grow_to(int(args.size_mb * 1_000_000))
    generated = time.perf_counter() - start
    size = large.path.stat().st_size
    print(f"small transcript: {small.path.stat().st_size / 1e3:.0f} kB, "
          f"{args.small_requests} requests")
    print(f"large transcript: {size / 1e6:.1f} MB, {large_requests:,} requests "
          f"(generated in {generated:.1f} s)")
    print(f"subagents: the small transcript's size and {SUBAGENT_FILES} nested subagent files")
    print(f"flat: the small transcript's size and {FLAT_AGENT_FILES:,} flat agent files beside "
          f"it, {FLAT_OWN_FILES} of them its own; timed with Stop, not PostToolUse")

    # Capture every transcript up to its end: the large one is a one-off full read.
    time.sleep(max(0.0, flat_written + FLAT_DIR_SETTLES - time.monotonic()))
    cases = {"small": (small, small_repo), "large": (large, large_repo),
             "agents": (agents, agents_repo), "flat": (flat, flat_repo)}
    initial = {}
    for name, (writer, repo) in cases.items():
        initial[name] = timed(hook, cwd=repo, env=sandbox.env,
                              stdin=writer.hook_payload("Stop"), expect_empty_stdout=True)
    print(f"one-off first capture of the large transcript: {initial['large']:.2f} s "
          f"({size / 1e6 / initial['large']:.0f} MB/s)")
    expected = {"small": args.small_requests, "large": large_requests,
                "agents": args.small_requests + 2 * SUBAGENT_FILES,
                "flat": args.small_requests + FLAT_OWN_FILES}
    ledgers = {name: repo / ".git" / "tokentag" / "ledger.jsonl"
               for name, (_, repo) in cases.items()}
    before = {name: count_ledger(ledger)[0] for name, ledger in ledgers.items()}
    if before != expected:
        print(f"setup broken: ledgers hold {before} requests, expected {expected}")
        return 2

    baseline = Stats("bare python -c pass")
    # Not a target: what any hook that keeps its state in SQLite pays before its first line
    # of its own: the shell Claude Code starts, python -S, os and the sqlite3 extension,
    # loaded as tokentag/core/lean_sqlite.py loads it, without functools and collections.
    floor = Stats("floor: sh, python -S, import os, _sqlite3")
    lean_sqlite = ("import os, sys, _functools; stand_in = type(sys)('functools'); "
                   "stand_in.lru_cache = lambda size=128, typed=False: lambda function: "
                   "_functools._lru_cache_wrapper(function, size, typed, None); "
                   "sys.modules['functools'] = stand_in; import _sqlite3")
    floor_command = ["sh", "-c", f'exec "{tools.python}" -S -c "{lean_sqlite}"']
    stats = {"small": Stats("hook, small transcript"),
             "large": Stats(f"hook, {args.size_mb:.0f} MB transcript"),
             "agents": Stats(f"hook, {SUBAGENT_FILES} subagent files"),
             "flat": Stats(f"Stop hook, {FLAT_AGENT_FILES:,} flat agent files")}
    recording = False

    def baseline_run() -> None:
        seconds = timed([tools.python, "-c", "pass"], cwd=small_repo, env=sandbox.env)
        if recording:
            baseline.add(seconds)

    def floor_run() -> None:
        seconds = timed(floor_command, cwd=small_repo, env=sandbox.env)
        if recording:
            floor.add(seconds)

    def hook_run(name: str) -> None:
        writer, repo = cases[name]
        writer.append_requests(1)
        event = "Stop" if name == "flat" else "PostToolUse"
        seconds = timed(hook, cwd=repo, env=sandbox.env, stdin=writer.hook_payload(event),
                        expect_empty_stdout=True)
        if recording:
            stats[name].add(seconds)

    steps: list[Callable[[], None]] = [baseline_run, floor_run,
                                       *(partial(hook_run, name) for name in cases)]
    for turn in range(args.warmup + args.runs):
        recording = turn >= args.warmup
        shift = turn % len(steps)
        for step in steps[shift:] + steps[:shift]:  # rotate the order every round
            step()

    # Each call must have captured exactly its one new request, and nothing was logged.
    calls = args.warmup + args.runs
    problems = []
    for name, ledger in ledgers.items():
        gained = count_ledger(ledger)[0] - before[name]
        if gained != calls:
            problems.append(f"{name}: captured {gained} new requests, expected {calls}")
    for _, repo in cases.values():
        problems += log_failures(repo / ".git" / "tokentag", sandbox)

    small_median = stats["small"].median
    checks = [
        ("hook, small transcript", small_median / baseline.median, "baseline",
         TARGET_VS_PYTHON),
        (stats["large"].name, stats["large"].median / small_median, "small",
         TARGET_LARGE_VS_SMALL),
        (stats["agents"].name, stats["agents"].median / small_median, "small",
         TARGET_MANY_FILES_VS_SMALL),
        (stats["flat"].name, stats["flat"].median / small_median, "small",
         TARGET_MANY_FILES_VS_SMALL)]

    print(f"after timing: {machine_line()}")
    print()
    for row in (baseline, floor, *stats.values()):
        print(row.line())
    print()
    print(f"baseline (bare python)  {ms(baseline.median)}")
    for label, ratio, against, target in checks:
        print(f"{label:<36} = {ratio:.2f} x {against}  (target <= {target} x)   "
              f"{verdict(ratio <= target)}")
    print(f"hook cost above bare python: {ms(small_median - baseline.median)}; "
          f"the floor is {floor.median / baseline.median:.2f} x bare python, the hook "
          f"{ms(small_median - floor.median)} above it")
    ok = all(ratio <= target for _, ratio, _, target in checks)

    if checks[0][1] > TARGET_VS_PYTHON or args.importtime:
        print("\n-X importtime of the hook path (small transcript):")
        small.append_requests(1)
        print(importtime_report(with_importtime(hook), cwd=small_repo, env=sandbox.env,
                                stdin=small.hook_payload()))
    if problems:
        print("\nsetup broken, figures are not valid:")
        for line in problems[:20]:
            print("  " + line)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
