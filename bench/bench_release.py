"""Benchmark: `tokentag release` costs O(commits in range), not O(ledger).

Target: `tokentag release v1.0 --json` over 100 commits with a 1,000,000-request ledger
takes at most 1.5x as long as with a 10,000-request ledger.

Two temp repositories get the same history (made with `git fast-import`): 100 old
commits tagged v0.9, then the 100 commits of v1.0. Each ledger is written directly in
catch_up.py's record format (session, request and attribution records): 10 requests on
each of 90 range commits, the same in both ledgers; the other 10 range commits are known
only through git notes (a teammate's), so the notes path is timed too; everything else
(9,000 or 999,000 requests) is attributed to the old commits, with 1% left pending. The
index is folded once by `tokentag status` (timed and printed), then the release is timed.
Both releases must report the same totals.

Run:  .venv/bin/python bench/bench_release.py [--small 10000] [--large 1000000] [--runs 7]
Exit status: 0 when the target is met, 1 when it is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tokentag.capture import catch_up  # noqa: E402
from tokentag.capture.transcript import Request  # noqa: E402
from tokentag.core.usage import Usage  # noqa: E402
from tokentag.git.gitdirs import Worktree, find_worktree  # noqa: E402
from tokentag.ledger import jsonl, records  # noqa: E402
from tokentag.notes import content  # noqa: E402

MODELS = ("claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
PER_RANGE_COMMIT = 10
NOTE_ONLY_EVERY = 10  # every 10th range commit is known only from its git note
BATCH = 20_000


@dataclass(frozen=True)
class Sandbox:
    """A temp dir with its own HOME and git identity: nothing touches the real home."""

    root: Path

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    def env(self) -> dict[str, str]:
        home = self.root / "home"
        return {**os.environ, "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
                "XDG_CONFIG_HOME": str(home / ".config"), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

    def git(self, *args: str, stdin: bytes | None = None) -> str:
        result = subprocess.run(["git", *args], cwd=self.repo, input=stdin, env=self.env(),
                                capture_output=True, check=True)
        return result.stdout.decode().strip()


def tokentag_command() -> list[str]:
    script = Path(sys.executable).with_name("tokentag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tokentag"]


def make_history(box: Sandbox, commits: int) -> tuple[list[str], list[str]]:
    """`commits` old commits tagged v0.9, then `commits` more tagged v1.0 (oldest first)."""
    (box.root / "home").mkdir(parents=True)
    box.repo.mkdir()
    box.git("init", "-q", "-b", "main")
    stream = []
    for number in range(1, 2 * commits + 1):
        message, content = f"commit {number}\n".encode(), f"line {number}\n".encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n" % number)
        stream.append(b"committer Bench <bench@example.com> %d +0000\n" % (1_700_000_000 + number))
        stream.append(b"data %d\n%s" % (len(message), message))
        if number > 1:
            stream.append(b"from :%d\n" % (number - 1))
        stream.append(b"M 644 inline file.txt\ndata %d\n%s\n" % (len(content), content))
    stream.append(b"reset refs/tags/v0.9\nfrom :%d\n\n" % commits)
    stream.append(b"reset refs/tags/v1.0\nfrom :%d\n\n" % (2 * commits))
    box.git("fast-import", "--quiet", stdin=b"".join(stream))
    box.git("checkout", "-q", "-f", "main")
    shas = box.git("rev-list", "--reverse", "main").split()
    return shas[:commits], shas[commits:]


def request(number: int, session: str, cwd: str, model: str | None = None) -> Request:
    day = 1 + number % 28
    usage = Usage(input=10 + number % 7, output=200 + number % 300, cache_creation=1_000,
                  cache_creation_5m=800, cache_creation_1h=200,
                  cache_read=20_000 + (number % 5) * 60_000)  # some pass 200k: two bands
    return Request(key=f"msg_{number:09d}/req_{number:09d}", message_id=f"msg_{number:09d}",
                   request_id=f"req_{number:09d}", session_id=session, agent_id=None,
                   model=model or MODELS[number % len(MODELS)],
                   timestamp=f"2025-11-{day:02d}T12:{number % 60:02d}:00.000Z", cwd=cwd,
                   branch="main", version="2.1.0", usage=usage)


def ledger_records(box: Sandbox, old: list[str], in_range: list[str],
                   total: int) -> Iterator[list[Any]]:
    """Batches of records: range requests first (the same in every ledger), then the rest."""
    worktree = find_worktree(box.repo)
    assert worktree is not None
    cwd, transcript = str(worktree.top), box.root / "home" / "session.jsonl"
    yield [records.session("s-range", str(transcript), cwd, cwd, "x")]
    number = 0
    for place, sha in enumerate(in_range):
        if place % NOTE_ONLY_EVERY == NOTE_ONLY_EVERY - 1:
            continue  # a teammate's commit: in the notes, not in this ledger
        batch = [catch_up.request_record(request(number + i, "s-range", cwd), worktree,
                                        transcript, "2025-11-30T00:00:00.000Z", "hook")
                 for i in range(PER_RANGE_COMMIT)]
        number += PER_RANGE_COMMIT
        yield [*batch, attribution(sha, batch, cwd)]
    rest = total - number
    pending = rest // 100
    per_old = (rest - pending) // len(old)
    for place, sha in enumerate(old):
        count = per_old if place < len(old) - 1 else rest - pending - per_old * (len(old) - 1)
        yield from _old_commit(sha, number, count, worktree, transcript)
        number += count
    for start in range(number, number + pending, BATCH):
        yield [catch_up.request_record(request(n, "s-pending", cwd), worktree, transcript,
                                      "2025-11-30T00:00:00.000Z", "hook")
               for n in range(start, min(start + BATCH, number + pending))]


def _old_commit(sha: str, first: int, count: int, worktree: Worktree,
                transcript: Path) -> Iterator[list[Any]]:
    cwd = str(worktree.top)
    for start in range(first, first + count, BATCH):
        batch = [catch_up.request_record(request(n, f"s-old-{n // 5000}", cwd),
                                        worktree, transcript, "2025-11-30T00:00:00.000Z", "hook")
                 for n in range(start, min(start + BATCH, first + count))]
        yield [*batch, attribution(sha, batch, cwd)]


def attribution(sha: str, batch: list[Any], cwd: str) -> Any:
    return records.attribution(sha, cwd, [r["key"] for r in batch], "observed",
                               "2025-11-30T00:00:00Z")


def write_notes(box: Sandbox, in_range: list[str]) -> None:
    """Notes of the teammate's commits, in content.py's format (one group each)."""
    for place, sha in enumerate(in_range):
        if place % NOTE_ONLY_EVERY != NOTE_ONLY_EVERY - 1:
            continue
        group = {"model": MODELS[0], "day": "2025-11-03", "band": 0, "prompt": 50_000,
                 "requests": PER_RANGE_COMMIT, "input": 100, "output": 2_000,
                 "cache_creation": 10_000, "cache_creation_5m": 8_000,
                 "cache_creation_1h": 2_000, "cache_read": 400_000}
        models = {MODELS[0]: {k: v for k, v in group.items() if isinstance(v, int)
                              and k not in ("band", "prompt")}}
        content.write_note(box.repo, sha, {"tokentag": 1, "requests": PER_RANGE_COMMIT,
                                         "sessions": 1, "inferred_requests": 0,
                                         "models": models, "groups": [group]})


def build(root: Path, commits: int, requests: int) -> Sandbox:
    box = Sandbox(root)
    old, in_range = make_history(box, commits)
    write_notes(box, in_range)
    directory = box.repo / ".git" / "tokentag"
    directory.mkdir(exist_ok=True)  # writing notes made it
    with (directory / jsonl.LEDGER_NAME).open("wb") as out:
        for batch in ledger_records(box, old, in_range, requests):
            out.write(jsonl.encode(batch))
    started = time.perf_counter()
    run(box, "status")  # folds the whole ledger into the index, once
    print(f"  {requests:>9,}-request ledger: folded in {time.perf_counter() - started:.1f} s")
    return box


def run(box: Sandbox, *args: str) -> str:
    result = subprocess.run([*tokentag_command(), *args], cwd=box.repo, env=box.env(),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"tokentag {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def time_release(box: Sandbox) -> float:
    started = time.perf_counter()
    run(box, "release", "v1.0", "--json")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-ratio", type=float, default=1.5)
    args = parser.parse_args()
    if args.small < args.commits * PER_RANGE_COMMIT * 2:
        print("--small must leave room for requests outside the range", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="tokentag-bench-release-"))
    try:
        print(f"building: {args.commits} range commits, ledgers of {args.small:,} and "
              f"{args.large:,} requests")
        boxes = {size: build(root / str(size), args.commits, size)
                 for size in (args.small, args.large)}
        return compare(boxes, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def compare(boxes: dict[int, Sandbox], args: argparse.Namespace) -> int:
    outputs = {size: json.loads(run(box, "release", "v1.0", "--json"))
               for size, box in boxes.items()}
    small, large = (outputs[args.small], outputs[args.large])
    if small["commits"] != args.commits or small["tokens"] != large["tokens"] \
            or small["commits_from_notes"] == 0 or small["cost_usd"] != large["cost_usd"]:
        print("the two releases disagree: the range is not isolated from the ledger",
              file=sys.stderr)
        return 2
    times: dict[int, list[float]] = {size: [] for size in boxes}
    for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
        for size, box in boxes.items():
            times[size].append(time_release(box))
    medians = {size: statistics.median(values) for size, values in times.items()}
    for size, values in times.items():
        print(f"  release v1.0 with {size:>9,} requests: median {medians[size] * 1000:7.1f} ms "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, "
              f"{len(values)} runs)")
    ratio = medians[args.large] / medians[args.small]
    verdict = "ok" if ratio <= args.max_ratio else "MISSED"
    print(f"ratio large/small: {ratio:.2f}x (target <= {args.max_ratio}x): {verdict}")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
