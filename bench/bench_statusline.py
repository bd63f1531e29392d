"""Benchmark: one `tokentag statusline` call, against bare python and ccusage's `statusline`.

Targets:
  1. statusline with a 1,000,000-request ledger and a 200 MB transcript  <= 4.0 x  bare
     `python -c pass` (same interpreter, same run), its rates kept (every call but the
     first of a day or a model, see report.ratebook)
  2. statusline  <= ccusage's `statusline --no-cache` on the same data, when ccusage runs

The repository: `tokentag install` run, the 1,000,000-request ledger of bench_commit
written and folded, then a live session grown to a 200 MB transcript (dated over the last
hours, so today has usage) and captured by the hook; a feature branch whose commit took
that session's requests, and a few requests pending. Every timed call is a real
subprocess with Claude Code's status-line JSON on stdin (the same for every command), in
interleaved rounds after warm-up, compared by medians. ccusage (20.0.24, from the npm
registry) reads the same config dir: with its default cache (output reused for 1 s while
the transcript is unchanged, which interleaved rounds mostly hit) and with `--no-cache`
(what a fresh line costs it).

tokentag's line is checked against `report --json` before timing (exit 2 if it differs).

Run:  .venv/bin/python bench/bench_statusline.py [--runs 25] [--requests 1000000]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import json
import subprocess
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
from bench_import import install_ccusage

TARGET_VS_PYTHON = 4.0
TARGET_VS_CCUSAGE = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000,
                        help="requests in the ledger (1,000,000)")
    parser.add_argument("--size-mb", type=float, default=200.0,
                        help="size of the live session's transcript in MB (200)")
    parser.add_argument("--runs", type=int, default=25, help="timed runs per command (25)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--cold-runs", type=int, default=5,
                        help="runs with the kept rates removed first (5)")
    parser.add_argument("--no-ccusage", action="store_true", help="skip ccusage")
    parser.add_argument("--tokentag", help="path of the tokentag console script")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    tools = find_tools(args.tokentag)
    sandbox = Sandbox("tokentag-bench-statusline-", keep=args.keep)
    try:
        return run(args, tools, sandbox)
    finally:
        sandbox.close()


def prepare(args: argparse.Namespace, tools: Tools, sandbox: Sandbox
            ) -> tuple[Path, SessionWriter]:
    repo = sandbox.new_repo("repo")
    run_checked([tools.tokentag, "install"], cwd=repo, env=sandbox.env)
    ledger = repo / ".git" / "tokentag" / "ledger.jsonl"
    start = time.perf_counter()
    # None pending in another worktree (bench_commit has some): `report`, which the line is
    # checked against, does not tell worktrees apart.
    counts = generate_ledger(ledger, repo, sandbox.project_dir(repo), args.requests)
    print(f"ledger: {counts['request']:,} requests, {ledger.stat().st_size / 1e6:.0f} MB "
          f"(generated in {time.perf_counter() - start:.1f} s)")
    fold = timed([tools.tokentag, "status"], cwd=repo, env=sandbox.env)
    print(f"one-off fold (first `tokentag status`): {fold:.1f} s")

    session = "5e551011-0000-4000-8000-000000000001"
    writer = SessionWriter(sandbox.project_dir(repo) / f"{session}.jsonl", session, repo,
                           seed=11)
    # Dated up to now (about 20 kB and 14 s of session time per request), so today has
    # usage, as a working day's status line does.
    writer.clock = time.time() - args.size_mb * 1e6 / 20_000 * 14
    (repo / "work.txt").write_text("start\n")
    sandbox.git(repo, "add", "work.txt")
    sandbox.git(repo, "commit", "-q", "-m", "start")
    sandbox.git(repo, "checkout", "-q", "-b", "feature/statusline")
    requests = writer.grow_to(int(args.size_mb * 1e6))
    start = time.perf_counter()
    for event in ("SessionStart", "PostToolUse"):
        run_checked([tools.tokentag, "hook"], cwd=repo, env=sandbox.env,
                    stdin=writer.hook_payload(event))
    print(f"live session: {requests:,} requests, {writer.path.stat().st_size / 1e6:.0f} MB "
          f"transcript, captured in {time.perf_counter() - start:.1f} s")
    (repo / "work.txt").write_text("on the branch\n")
    sandbox.git(repo, "commit", "-q", "-a", "-m", "on the branch")
    writer.clock = time.time() - 60
    writer.append_requests(5)
    run_checked([tools.tokentag, "hook"], cwd=repo, env=sandbox.env,
                stdin=writer.hook_payload("PostToolUse"))
    return repo, writer


def expected_line(tools: Tools, sandbox: Sandbox, repo: Path) -> str:
    """The line `report --json` gives: the branch's commit, what is pending, today."""
    from tokentag.core.money import usd

    def rows(by: str) -> dict[str, dict[str, object]]:
        out = run_checked([tools.tokentag, "report", "--by", by, "--json"], cwd=repo,
                          env=sandbox.env).stdout
        return {str(row["key"]): row for row in json.loads(out)["rows"]}

    def cost(row: dict[str, object]) -> str:
        value = row["cost_usd"]
        return usd(float(value) if isinstance(value, (int, float)) else None,
                   "unpriced_requests" in row)

    commits, days = rows("commit"), rows("day")
    head = sandbox.git(repo, "rev-parse", "HEAD")
    today = time.strftime("%Y-%m-%d", time.localtime())  # report's days are local
    return (f"branch feature/statusline {cost(commits[head])} | pending "
            f"{cost(commits['(pending)'])} | today {cost(days[today])}")


def run(args: argparse.Namespace, tools: Tools, sandbox: Sandbox) -> int:
    print("tokentag bench: `tokentag statusline` (Claude Code's status line)")
    print(tools.describe())
    print(machine_line())
    repo, writer = prepare(args, tools, sandbox)
    payload = status_line_input(repo, writer.session_id, writer.path)
    ours = [tools.tokentag, "statusline"]
    prices = repo / ".git" / "tokentag" / "rates"  # report.ratebook's
    prices.unlink(missing_ok=True)
    shown = run_checked(ours, cwd=repo, env=sandbox.env, stdin=payload).stdout.decode().strip()
    wanted = expected_line(tools, sandbox, repo)
    print(f"tokentag's line: {shown}")
    if shown != wanted or log_failures(repo / ".git" / "tokentag", sandbox):
        print(f"setup broken: expected {wanted!r}; log: "
              f"{log_failures(repo / '.git' / 'tokentag', sandbox)[:5]}")
        return 2

    cold = Stats("tokentag statusline, rates removed")
    for _ in range(args.cold_runs):
        prices.unlink()
        cold.add(timed(ours, cwd=repo, env=sandbox.env, stdin=payload))

    commands: dict[str, list[str]] = {"bare python -c pass": [tools.python, "-c", "pass"],
                                      "tokentag statusline": ours}
    ccusage, why = (None, "--no-ccusage") if args.no_ccusage else \
        install_ccusage(sandbox.root / "npm")
    if ccusage is not None:
        probe = subprocess.run([str(ccusage), "statusline", "--no-cache"], cwd=repo,
                               env=sandbox.env, input=payload, capture_output=True, check=False)
        print(f"ccusage's line: {probe.stdout.decode(errors='replace').strip()}")
        if probe.returncode == 0:
            commands["ccusage statusline --no-cache"] = [str(ccusage), "statusline",
                                                         "--no-cache"]
            commands["ccusage statusline (its cache)"] = [str(ccusage), "statusline"]
        else:
            why = f"ccusage statusline failed: {probe.stderr.decode(errors='replace')[-300:]}"
    stats = {name: Stats(name) for name in commands}
    steps: list[Callable[[bool], None]] = [
        partial(_record, stats[name], argv=commands[name], repo=repo, sandbox=sandbox,
                payload=payload) for name in commands]
    for turn in range(args.warmup + args.runs):
        for step in steps[turn % len(steps):] + steps[:turn % len(steps)]:
            step(turn >= args.warmup)

    print(f"after timing: {machine_line()}")
    print()
    for item in (*stats.values(), cold):
        print(item.line())
    print()
    base = stats["bare python -c pass"].median
    line = stats["tokentag statusline"].median
    ok_python = line / base <= TARGET_VS_PYTHON
    print(f"tokentag statusline  {ms(line)} = {line / base:.2f} x bare python "
          f"(target <= {TARGET_VS_PYTHON} x)   {verdict(ok_python)}")
    print(f"  the first call of a day or model (rates removed): {ms(cold.median)} "
          f"= {cold.median / base:.2f} x bare python")
    ok_ccusage = True
    if "ccusage statusline --no-cache" in stats:
        theirs = stats["ccusage statusline --no-cache"].median
        cached = stats["ccusage statusline (its cache)"].median
        ok_ccusage = line / theirs <= TARGET_VS_CCUSAGE
        print(f"ccusage statusline --no-cache  {ms(theirs)}: tokentag = {line / theirs:.2f} x "
              f"(target <= {TARGET_VS_CCUSAGE} x)   {verdict(ok_ccusage)}")
        print(f"ccusage statusline with its cache  {ms(cached)}: tokentag = "
              f"{line / cached:.2f} x")
    else:
        print(f"ccusage comparison skipped: {why}")
    return 0 if ok_python and ok_ccusage else 1


def _record(stats: Stats, record: bool, argv: list[str], repo: Path, sandbox: Sandbox,
            payload: bytes) -> None:
    seconds = timed(argv, cwd=repo, env=sandbox.env, stdin=payload)
    if record:
        stats.add(seconds)


if __name__ == "__main__":
    sys.exit(main())
