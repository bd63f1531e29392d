"""Benchmark: the dashboard's size and how long it takes to build and to draw.

Target: with 1,000 commits and a 100,000-request ledger, `tokentag dashboard` takes no
longer than the commands whose output the page holds, run one after the other (`report
--by X --json` for its twelve groupings, `release --all --json`, `status --json`), and
headless Chromium has drawn the page (every table and chart) at most 2 s after it
started loading it.

The history and ledger are bench_release's (made with `git fast-import` and written
directly in the ledger's record format): `--commits` old commits tagged v0.9, as many
more tagged v1.0, every tenth of those known only from its git note. The build is timed
as a whole command (`tokentag dashboard -o FILE`, the index already folded); the drawing
is what the page itself records when its script has finished (`performance.now()`, from
the start of navigation), read from Chromium's `--dump-dom`; the wall time of that
Chromium run is printed beside it.

Run:  .venv/bin/python bench/bench_dashboard.py [--commits 500] [--requests 100000] [--runs 3]
Exit status: 0 when the target is met, 1 when it is missed, 2 on a broken setup (no
Chromium, or a page that did not finish drawing).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_release

MAX_RATIO = 1.0  # the dashboard's time over that of the commands it holds
COMMANDS = [*(("report", "--by", by, "--json") for by in (
    "commit", "tag", "day", "week", "month", "model", "branch", "session", "agent", "task",
    "author", "pr")), ("release", "--all", "--json"), ("status", "--json")]
MAX_DRAW = 2.0  # seconds


def draw(page: Path, profile: Path, chromium: str,
         env: dict[str, str]) -> tuple[float, float, int]:
    """(drawn at, as the page recorded it; wall time of the Chromium run; charts drawn)."""
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir()
    started = time.perf_counter()
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
         "--window-size=1280,2400", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, check=True, timeout=300, env=env).stdout
    wall = time.perf_counter() - started
    body = re.search(r"<body ([^>]*)>", dom)
    marks = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1) if body else ""))
    if marks.get("ready") != "true":
        raise SystemExit("the page did not finish drawing")
    return int(marks["render-ms"]) / 1000, wall, int(marks["charts"])


def timed(box: bench_release.Sandbox, *args: str) -> float:
    started = time.perf_counter()
    bench_release.run(box, *args)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="tokentag-bench-dashboard-"))
    try:
        print(f"building: {2 * args.commits} commits, a {args.requests:,}-request ledger")
        box = bench_release.build(root / "box", args.commits, args.requests)
        page = root / "dashboard.html"
        reports, builds, drawn, walls, charts = [], [], [], [], 0
        for _ in range(args.runs):  # interleaved, so drift in machine load hits all alike
            reports.append(sum(timed(box, *command) for command in COMMANDS))
            builds.append(timed(box, "dashboard", "-o", str(page)))
            at, wall, charts = draw(page, root / "profile", chromium, box.env())
            drawn.append(at)
            walls.append(wall)
        size = page.stat().st_size
        report, build = statistics.median(reports), statistics.median(builds)
        shown = statistics.median(drawn)
        print(f"  page: {size / 1000:,.0f} kB, {charts} charts")
        print(f"  the {len(COMMANDS)} commands: median {report * 1000:,.0f} ms in all; "
              f"tokentag dashboard: median {build * 1000:,.0f} ms, {build / report:.2f}x "
              f"(target <= {MAX_RATIO}x)")
        print(f"  drawn at: median {shown * 1000:,.0f} ms after navigation (target <= "
              f"{MAX_DRAW} s); Chromium run {statistics.median(walls):.1f} s wall")
        ok = build / report <= MAX_RATIO and shown <= MAX_DRAW
        print("ok" if ok else "MISSED")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
