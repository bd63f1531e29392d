"""Benchmark: start-up of `tokentag report` and `tokentag status`, against the same commands
at another commit (by default the one the reports' presentation work started from).

Target: each command <= 1.10 x the same command at the base commit, in each repository.

Both versions are installed from their own source tree (`git archive`; the working tree's
uncommitted changes go into the new one through `git stash create`), not editable, with
their dependencies, into virtual environments of their own in a temp dir. Every command
runs in the same two repositories: `empty` (tokentag installed, one commit, nothing
captured) and `small` (a session of 300 requests over several days captured by the hook,
three commits made through the git hooks, some requests pending). Warm-up runs first
(they fold the index and keep the rates the new version prices from), then interleaved
rounds with the order rotated; medians compared. The verdict is on CPU time (user +
system of the child): on the 2 shared cores this runs on, wall-time medians move by a
third with the load, CPU time by a few per cent. Wall times are printed beside it.

Run:  .venv/bin/python bench/bench_startup.py [--base REV] [--runs 21] [--importtime]
Exit status: 0 when every target is met, 1 when one is missed, 2 on a broken setup.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (
    REPO_ROOT,
    Sandbox,
    SessionWriter,
    Stats,
    importtime_report,
    machine_line,
    ms,
    run_checked,
    verdict,
)

TARGET = 1.10
BASE = "6b8707a"  # the commit the presentation work (local time, tables, rates) started from
COMMANDS = (("report",), ("status",), ("report", "--by", "day"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASE, help=f"the commit to compare with ({BASE})")
    parser.add_argument("--runs", type=int, default=21, help="timed rounds (21)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--importtime", action="store_true",
                        help="print -X importtime of the new version's commands")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    sandbox = Sandbox("tokentag-bench-startup-", keep=args.keep)
    try:
        return run(args, sandbox)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"setup broken: {error}")
        return 2
    finally:
        sandbox.close()


def run(args: argparse.Namespace, sandbox: Sandbox) -> int:
    print("tokentag bench: start-up of `tokentag report` and `tokentag status`")
    print(machine_line())
    new_rev = _git("stash", "create") or "HEAD"
    versions = {}
    for name, rev in (("base", args.base), ("new", new_rev)):
        print(f"installing {name} ({_git('rev-parse', '--short', rev)}) into a venv ...",
              flush=True)
        versions[name] = _install(rev, sandbox.root / name)
    repos = {"empty": _empty_repo(sandbox, versions["new"]),
             "small": _small_repo(sandbox, versions["new"])}
    keys = [(repo, command, name) for repo in repos for command in COMMANDS
            for name in versions]
    cpu = {key: Stats(f"{key[2]:<4} {' '.join(key[1]):<16} ({key[0]}), CPU") for key in keys}
    wall = {key: Stats(f"{key[2]:<4} {' '.join(key[1]):<16} ({key[0]}), wall") for key in keys}
    for repo, command, name in keys:
        for _ in range(args.warmup):
            _timed([versions[name], *command], repos[repo], sandbox.env)
    for round_number in range(args.runs):
        shift = round_number % len(keys)
        for key in keys[shift:] + keys[:shift]:
            repo, command, name = key
            seconds, used = _timed([versions[name], *command], repos[repo], sandbox.env)
            wall[key].add(seconds)
            cpu[key].add(used)
    print()
    ok = True
    for repo in repos:
        for command in COMMANDS:
            base, new = (repo, command, "base"), (repo, command, "new")
            ratio = cpu[new].median / cpu[base].median
            ok &= ratio <= TARGET
            for stats in (cpu[base], cpu[new], wall[base], wall[new]):
                print(stats.line())
            print(f"  `tokentag {' '.join(command)}` in {repo}: CPU {ms(cpu[new].median)} vs "
                  f"{ms(cpu[base].median)} = {ratio:.3f} x (target <= {TARGET}) "
                  f"{verdict(ratio <= TARGET)}; wall {ms(wall[new].median)} vs "
                  f"{ms(wall[base].median)} = {wall[new].median / wall[base].median:.3f} x")
    print(machine_line())
    if args.importtime:
        for command in COMMANDS[:2]:
            print(f"\n-X importtime of `tokentag {' '.join(command)}` (new, small):")
            print(importtime_report([_python_of(versions["new"]), "-X", "importtime", "-m",
                                     "tokentag", *command], cwd=repos["small"],
                                    env=sandbox.env, stdin=None))
    return 0 if ok else 1


def _timed(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run; fails on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run_checked(argv, cwd=cwd, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _install(rev: str, where: Path) -> str:
    """`tokentag` of a venv holding the tree of `rev`, installed as a user would."""
    source = where / "source"
    source.mkdir(parents=True)
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev],
                       stdout=archive, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(source, filter="data")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(source)], capture_output=True,
                         text=True, check=False)
    if pip.returncode != 0:
        raise RuntimeError(f"pip could not install {rev}: {pip.stderr.strip()}")
    return str(venv / "bin" / "tokentag")


def _python_of(script: str) -> str:
    return str(Path(script).with_name("python"))


def _empty_repo(sandbox: Sandbox, tokentag: str) -> Path:
    repo = sandbox.new_repo("empty")
    run_checked([tokentag, "install"], cwd=repo, env=sandbox.env)
    sandbox.git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    return repo


def _small_repo(sandbox: Sandbox, tokentag: str) -> Path:
    repo = sandbox.new_repo("small")
    run_checked([tokentag, "install"], cwd=repo, env=sandbox.env)
    session = "5e55cafe-0000-4000-8000-000000000001"
    writer = SessionWriter(sandbox.project_dir(repo) / f"{session}.jsonl", session, repo)
    for step in range(4):
        writer.append_requests(75)
        run_checked([tokentag, "hook"], cwd=repo, env=sandbox.env,
                    stdin=writer.hook_payload("Stop"))
        if step < 3:
            (repo / f"step{step}.txt").write_text(f"{step}\n")
            sandbox.git(repo, "add", ".")
            sandbox.git(repo, "commit", "-q", "-m", f"step {step}")
    return repo


if __name__ == "__main__":
    sys.exit(main())
