"""Benchmark: a transcript whose last line never ends, 1 GB of it (a tool's output that
Claude Code was still writing, or a file cut short), must not hold up Claude Code or git.

Targets:
  1. the Stop hook that meets the 1 GB unterminated tail       < 2 s
  2. its peak memory (resident set)                              < 100 MB
  3. `git commit` afterwards                                     <= 1.2 x before the tail

A temp repository where `tokentag install` ran holds a session of 30 requests. Commits
are timed (no new requests, so each commit only looks at the transcripts), then 1 GB of
one line without its newline is appended, a Stop hook is timed once with its peak
memory, and the commits are timed again: the hook must have moved the file's cursor
past what it cannot use, so a commit does not read the tail again.

Run:  .venv/bin/python bench/bench_tail.py [--size-mb 1024] [--runs 9]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (
    Sandbox,
    SessionWriter,
    Stats,
    count_ledger,
    find_tools,
    log_failures,
    machine_line,
    ms,
    run_checked,
    timed,
    verdict,
)

TARGET_HOOK_SECONDS = 2.0
TARGET_PEAK_MB = 100
TARGET_COMMIT_RATIO = 1.2
_CHUNK = 64 * 1024 * 1024
# Runs `argv` and prints the child's peak resident set in kB (Linux: ru_maxrss is kB).
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
         "stdin=sys.stdin); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="the tail's size (1024)")
    parser.add_argument("--runs", type=int, default=9, help="commits timed each side (9)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    tools = find_tools()
    sandbox = Sandbox("tokentag-bench-tail-", keep=args.keep)
    try:
        return run(args, tools.tokentag, sandbox)
    except RuntimeError as error:
        print(f"setup broken: {error}")
        return 2
    finally:
        sandbox.close()


def commits(sandbox: Sandbox, repo: Path, runs: int, name: str) -> Stats:
    stats = Stats(name)
    for number in range(runs):
        stats.add(timed(["git", "commit", "-q", "--allow-empty", "-m", f"{name} {number}"],
                        cwd=repo, env=sandbox.env))
    return stats


def append_tail(path: Path, size: int) -> None:
    """One line that never ends: the start of a `user` line, then `size` bytes of text."""
    chunk = b"x" * _CHUNK
    with path.open("ab") as out:
        out.write(b'{"type":"user","message":{"role":"user","content":[{"type":"tool_result",'
                  b'"content":"')
        for _ in range(size // _CHUNK):
            out.write(chunk)
        out.write(chunk[:size % _CHUNK])


def run(args: argparse.Namespace, tokentag: str, sandbox: Sandbox) -> int:
    print(machine_line())
    repo = sandbox.new_repo("repo")
    sandbox.git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    run_checked([tokentag, "install"], cwd=repo, env=sandbox.env)
    writer = SessionWriter(sandbox.project_dir(repo) / "5e551000-0000-4000-8000-00000000000b.jsonl",
                           "5e551000-0000-4000-8000-00000000000b", repo)
    writer.append_requests(30)
    run_checked([tokentag, "hook"], cwd=repo, env=sandbox.env,
                stdin=writer.hook_payload("SessionStart"))
    run_checked([tokentag, "hook"], cwd=repo, env=sandbox.env, stdin=writer.hook_payload("Stop"))
    ledger = repo / ".git" / "tokentag" / "ledger.jsonl"
    requests_before, _ = count_ledger(ledger)
    before = commits(sandbox, repo, args.runs, "commit before the tail")
    append_tail(writer.path, args.size_mb * 1024 * 1024)
    seconds, peak_kb = _stop_hook(sys.executable, tokentag, repo, sandbox, writer)
    after = commits(sandbox, repo, args.runs, "commit after the tail")
    requests_after, _ = count_ledger(ledger)
    failures = log_failures(repo / ".git" / "tokentag", sandbox)
    if requests_after != requests_before or failures:
        raise RuntimeError(f"requests {requests_before} -> {requests_after}; failures: "
                           f"{failures}")
    return report(args.size_mb, seconds, peak_kb, before, after)


def _stop_hook(python: str, tokentag: str, repo: Path, sandbox: Sandbox,
               writer: SessionWriter) -> tuple[float, int]:
    import time

    start = time.perf_counter()
    result = subprocess.run([python, "-c", _PEAK, tokentag, "hook"], cwd=repo,
                            env=sandbox.env, input=writer.hook_payload("Stop"),
                            capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"the Stop hook failed: {result.stderr.decode(errors='replace')}")
    return seconds, int(result.stdout.decode().split()[-1])


def report(size_mb: int, seconds: float, peak_kb: int, before: Stats, after: Stats) -> int:
    ratio = after.median / before.median
    peak_mb = peak_kb / 1024
    print(before.line())
    print(after.line())
    checks = [
        (f"Stop hook on a {size_mb:,} MB unterminated tail: {ms(seconds)}",
         seconds < TARGET_HOOK_SECONDS, f"< {TARGET_HOOK_SECONDS:.0f} s"),
        (f"its peak memory: {peak_mb:.1f} MB", peak_mb < TARGET_PEAK_MB,
         f"< {TARGET_PEAK_MB} MB"),
        (f"commit after / before: {ratio:.2f} x", ratio <= TARGET_COMMIT_RATIO,
         f"<= {TARGET_COMMIT_RATIO} x"),
    ]
    for text, ok, target in checks:
        print(f"{text:<60} target {target:<10} {verdict(ok)}")
    print(json.dumps({"hook_s": round(seconds, 3), "peak_mb": round(peak_mb, 1),
                      "commit_before_ms": round(before.median * 1000, 1),
                      "commit_after_ms": round(after.median * 1000, 1),
                      "commit_spread_ms": round(statistics.pstdev(after.samples) * 1000, 1)}))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
