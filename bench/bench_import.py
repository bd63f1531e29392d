"""Benchmark `tokentag import` against ccusage on the same generated transcripts.

    .venv/bin/python bench/bench_import.py [--size-mb 1024] [--workdir DIR] [--keep]

Generates synthetic Claude Code transcripts in the real on-disk format (compact JSON,
one line per content block, large tool results, progress lines that echo the usage of
subagents whose files are there, subagent files in both layouts, `<synthetic>` lines)
under a temporary CLAUDE_CONFIG_DIR, for a temporary git repository with commits spread
over the same weeks. Then, in one run: installs ccusage from the npm registry and times
`ccusage claude session --json --offline`, times a cold `tokentag import`, a repeated
one, measures the import's peak RSS, and checks that both tools and the generator's
own count agree. Then `tokentag report --by day --json` against `ccusage claude daily
--json --offline`: the first report after the import (which rolls up and prices what
the import brought) and later ones. Exits 1 when a target is missed or the totals differ.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIELDS = ("input", "output", "cache_creation", "cache_read")
COLD_RATIO, WARM_RATIO, RSS_LIMIT_MB = 1.5, 0.05, 100.0
DAILY_RATIO = 0.2  # a later `report --by day` against `ccusage claude daily`
CCUSAGE_VERSION = "20.0.24"  # the release whose native linux build matches its wrapper
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
DAYS = 30
# Tool output is mostly plain words and newlines; quotes and backslashes (escaped in
# JSON, so slower to parse) appear now and then, as in real transcripts.
_PLAIN = ("the function returns a list of values when the cache is empty we read file error "
          "test passed failed module import class def self return None True False src lib "
          "tokentag ledger index commit branch worktree session request usage = == -> / "
          "{ } ( ) [ ] : ;")
WORDS = (*_PLAIN.split(" "), '"', "path\\to")
CHUNK = 1 << 20


# -- generation ----------------------------------------------------------------------


@dataclass
class Totals:
    """What the generator wrote: ground truth, counted once per request."""

    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    requests: int = 0
    files: int = 0
    size: int = 0

    def add(self, usage: dict[str, int]) -> None:
        self.requests += 1
        self.tokens["input"] += usage["input_tokens"]
        self.tokens["output"] += usage["output_tokens"]
        self.tokens["cache_creation"] += usage["cache_creation_input_tokens"]
        self.tokens["cache_read"] += usage["cache_read_input_tokens"]


class Text:
    """Random text sliced from one pregenerated pool: fast enough for a gigabyte."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        words = [rng.choice(WORDS) for _ in range(400_000)]
        lines = [" ".join(words[i:i + rng.randint(4, 16)]) for i in range(0, len(words), 10)]
        self.pool = "\n".join(lines)

    def __call__(self, size: int) -> str:
        start = self.rng.randrange(0, len(self.pool) - size - 1)
        return self.pool[start:start + size]


class SessionGen:
    """Writes one session file (and maybe its subagent files) as Claude Code would."""

    def __init__(self, rng: random.Random, text: Text, cwd: str, branch: str,
                 start: datetime, totals: Totals) -> None:
        self.rng, self.text, self.totals = rng, text, totals
        self.session = str(uuid.UUID(int=rng.getrandbits(128)))
        self.cwd, self.branch, self.clock = cwd, branch, start
        self.parent: str | None = None
        self.agent: str | None = None  # the subagent whose file is being written
        self.subagent: str | None = None  # the session's subagent, which has a file

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def tick(self) -> str:
        self.clock += timedelta(milliseconds=self.rng.randint(300, 40_000))
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def head(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "parentUuid": self.parent, "isSidechain": self.agent is not None,
            "userType": "external", "cwd": self.cwd, "sessionId": self.session,
            "version": "2.1.39", "gitBranch": self.branch}
        if self.agent:
            entry["agentId"] = self.agent
        entry["slug"] = "generated-bench-session"
        return entry

    def line(self, entry: dict[str, object]) -> bytes:
        uid = self.uid()
        entry["uuid"], entry["timestamp"], self.parent = uid, self.tick(), uid
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"

    def usage(self, output: int, base: dict[str, int]) -> dict[str, object]:
        return {"input_tokens": base["input_tokens"],
                "cache_creation_input_tokens": base["cache_creation_input_tokens"],
                "cache_read_input_tokens": base["cache_read_input_tokens"],
                "cache_creation": {"ephemeral_5m_input_tokens":
                                   base["cache_creation_input_tokens"],
                                   "ephemeral_1h_input_tokens": 0},
                "output_tokens": output, "service_tier": "standard"}

    def request(self) -> list[bytes]:
        """One API request: 1-3 content-block lines sharing ids, output placeholder first."""
        rng = self.rng
        final = {"input_tokens": rng.randint(1, 40), "output_tokens": rng.randint(20, 3000),
                 "cache_creation_input_tokens": rng.randint(0, 30_000),
                 "cache_read_input_tokens": rng.randint(10_000, 190_000)}
        self.totals.add(final)
        message_id = f"msg_{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}"
        request_id = f"req_{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}"
        blocks = [self.block(kind) for kind in rng.choice(
            [["text"], ["thinking", "text"], ["thinking", "tool_use"], ["text", "tool_use"],
             ["tool_use"]])]
        lines = []
        for number, block in enumerate(blocks, 1):
            output = final["output_tokens"] if number == len(blocks) else rng.randint(1, 12)
            message = {"model": rng.choice(["claude-opus-4-6", "claude-sonnet-4-5-20250929"]),
                       "id": message_id, "type": "message", "role": "assistant",
                       "content": [block], "stop_reason": None, "stop_sequence": None,
                       "usage": self.usage(output, final)}
            lines.append(self.line({**self.head(), "message": message, "requestId": request_id,
                                    "type": "assistant"}))
        return lines

    def block(self, kind: str) -> dict[str, object]:
        if kind == "text":
            return {"type": "text", "text": self.text(self.rng.randint(40, 900))}
        if kind == "thinking":
            return {"type": "thinking", "thinking": self.text(self.rng.randint(100, 1500)),
                    "signature": "Eq" + "x" * self.rng.randint(200, 600)}
        return {"type": "tool_use", "id": f"toolu_{self.uid().replace('-', '')[:24]}",
                "name": "Bash", "input": {"command": self.text(60), "description": "run"}}

    def tool_result(self) -> bytes:
        """Tool output, twice over as Claude Code writes it: the bulk of a transcript."""
        body = self.text(self.rng.choice([300, 2_000, 6_000, 15_000, 40_000]))
        message = {"role": "user", "content": [{"tool_use_id": "toolu_x", "type": "tool_result",
                                                "content": body}]}
        return self.line({**self.head(), "type": "user", "message": message,
                          "toolUseResult": {"stdout": body, "stderr": "", "interrupted": False}})

    def progress(self) -> bytes:
        kind = self.rng.choice(["hook_progress"] * 5 + ["bash_progress"] * 2
                               + ["agent_progress"])
        if kind == "agent_progress" and self.subagent is None:
            kind = "hook_progress"  # the copies of a subagent without a file would count
        if kind == "agent_progress":  # echoes a subagent request, usage included: not counted
            inner = {"type": "assistant", "message": {
                "model": "claude-haiku-4-5", "id": "msg_echo", "type": "message",
                "role": "assistant", "content": [{"type": "text", "text": self.text(1500)}],
                "usage": self.usage(50, {"input_tokens": 5, "cache_creation_input_tokens": 9,
                                         "cache_read_input_tokens": 900})},
                "requestId": "req_echo"}
            data: dict[str, object] = {"message": inner, "type": "agent_progress",
                                       "prompt": self.text(400), "agentId": self.subagent}
        elif kind == "bash_progress":
            data = {"type": "bash_progress", "output": self.text(800),
                    "fullOutput": self.text(3000)}
        else:
            data = {"type": "hook_progress", "hookEvent": "PostToolUse", "command": "hook.sh"}
        return self.line({**self.head(), "type": "progress", "data": data,
                          "toolUseID": "toolu_x", "parentToolUseID": "toolu_x"})

    def prompt(self) -> bytes:
        message = {"role": "user", "content": self.text(self.rng.randint(30, 600))}
        return self.line({**self.head(), "type": "user", "message": message})

    def synthetic(self) -> bytes:
        message = {"model": "<synthetic>", "id": self.uid(), "type": "message",
                   "role": "assistant", "content": [{"type": "text", "text": "No response"}],
                   "usage": self.usage(0, dict.fromkeys(("input_tokens",
                                                         "cache_creation_input_tokens",
                                                         "cache_read_input_tokens"), 0))}
        return self.line({**self.head(), "message": message, "type": "assistant"})

    def turn(self) -> list[bytes]:
        """A user prompt, then requests with tool calls, results and progress between."""
        lines = [self.prompt()]
        for _ in range(self.rng.randint(1, 8)):
            lines.extend(self.request())
            lines.extend(self.progress() for _ in range(self.rng.randint(0, 6)))
            lines.append(self.tool_result())
        if self.rng.random() < 0.02:
            lines.append(self.synthetic())
        return lines

    def write(self, path: Path, size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            snapshot = {"type": "file-history-snapshot", "messageId": self.uid(),
                        "snapshot": {"trackedFileBackups": {}}, "isSnapshotUpdate": False}
            written = handle.write(json.dumps(snapshot).encode() + b"\n")
            while written < size:
                written += handle.write(b"".join(self.turn()))
        self.totals.files += 1
        self.totals.size += written


def generate(projects: Path, repo: Path, size_mb: int, seed: int = 7) -> Totals:
    """Sessions of 0.2-8 MB over DAYS days; one in four with a subagent file."""
    rng = random.Random(seed)
    text, totals = Text(rng), Totals()
    project = projects / "".join(c if c.isalnum() else "-" for c in str(repo))
    while totals.size < size_mb * CHUNK:
        start = START + timedelta(minutes=rng.randint(0, DAYS * 24 * 60))
        cwd = str(repo) if rng.random() < 0.9 else str(repo / "src")
        branch = "main" if rng.random() < 0.8 else f"feature-{rng.randint(1, 5)}"
        gen = SessionGen(rng, text, cwd, branch, start, totals)
        if rng.random() < 0.25:
            gen.subagent = uuid.UUID(int=rng.getrandbits(128)).hex[:7]
        gen.write(project / f"{gen.session}.jsonl", int(rng.uniform(0.2, 8) * CHUNK))
        if gen.subagent is not None:
            _subagent(gen, project, rng)
    return totals


def _subagent(gen: SessionGen, project: Path, rng: random.Random) -> None:
    """Since 2.1.2 `<session>/subagents/agent-<id>.jsonl`; 2.0.28-2.1.1 flat beside it."""
    gen.agent = gen.subagent
    gen.clock -= timedelta(minutes=30)
    if rng.random() < 0.7:
        path = project / gen.session / "subagents" / f"agent-{gen.agent}.jsonl"
    else:
        path = project / f"agent-{gen.agent}.jsonl"
    gen.write(path, int(rng.uniform(0.1, 1.5) * CHUNK))


def make_repo(repo: Path) -> int:
    """A repository with a commit on main every few hours across the generated weeks."""
    repo.mkdir(parents=True)
    _git(repo, {}, "init", "-q", "-b", "main")
    moment, count = START, 0
    rng = random.Random(11)
    while moment < START + timedelta(days=DAYS + 1):
        moment += timedelta(minutes=rng.randint(30, 600))
        stamp = f"{int(moment.timestamp())} +0000"
        env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        _git(repo, env, "commit", "-q", "--allow-empty", "-m", f"work {count}")
        count += 1
    return count


def _git(repo: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, env={**os.environ, **env},
                   capture_output=True)


# -- measuring -----------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    peak_mb: float  # the process tree's memory (PSS: shared pages counted once), sampled
    peak_rss_mb: float  # the same tree's summed RSS: forked workers' shared pages twice
    stdout: str


class TreeMemory:
    """Samples the memory of a process and its descendants (import's worker processes):
    wait4's ru_maxrss is the largest single process, not what they hold together. PSS
    divides each page among the processes sharing it, so forked workers' copy-on-write
    pages count once; summed RSS would count them once per process."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_pss_kb, self.peak_rss_kb = pid, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.005):
            tree = _tree(self.pid)
            pss, rss = zip(*map(_memory_kb, tree), strict=True)
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss))
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss))

    def stop(self) -> tuple[float, float]:
        self.done.set()
        self.thread.join()
        return self.peak_pss_kb / 1024, self.peak_rss_kb / 1024


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                stack.extend(int(c) for c in children.split())
        except OSError:
            continue
    return pids


def _memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process, from one read of smaps_rollup."""
    found = {"Pss:": 0, "Rss:": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(" ")
            if name in found:
                found[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found["Pss:"], found["Rss:"]


def timed(command: list[str], cwd: Path, env: dict[str, str], sample_memory: bool) -> Run:
    """Wall time, CPU time (its children included) and, when sampled, peak memory of one
    command. Sampling is kept out of the timed runs: reading every process's
    smaps_rollup each 5 ms took CPU from the processes measured (0.3-0.4 s of a 1.5 s
    import with workers on 2 cores) and from a single-process tool much less."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        memory = TreeMemory(process.pid) if sample_memory else None
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        pss, rss = memory.stop() if memory else (0.0, 0.0)
        rss = max(rss, usage.ru_maxrss / 1024)
        pss = pss or rss  # a run shorter than one sample, or not sampled
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): "
                             f"{err.read().decode(errors='replace')[-2000:]}")
        return Run(seconds, usage.ru_utime + usage.ru_stime, pss, rss, out.read().decode())


def install_ccusage(prefix: Path) -> tuple[Path | None, str]:
    """ccusage from the npm registry; (None, why) when that is not possible here."""
    if shutil.which("npm") is None:
        return None, "npm is not installed"
    result = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-save",
                             f"ccusage@{CCUSAGE_VERSION}"], capture_output=True, text=True,
                            check=False)
    exe = prefix / "node_modules" / ".bin" / "ccusage"
    if result.returncode != 0 or not exe.exists():
        return None, f"npm install failed: {result.stderr.strip()[-500:]}"
    probe = subprocess.run([str(exe), "claude", "session", "--help"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0 or "--offline" not in probe.stdout:
        return None, f"ccusage does not run here: {(probe.stdout + probe.stderr).strip()[:300]}"
    return exe, ""


def ccusage_totals(stdout: str) -> dict[str, int]:
    sessions = json.loads(stdout)["sessions"]
    names = {"input": "inputTokens", "output": "outputTokens",
             "cache_creation": "cacheCreationTokens", "cache_read": "cacheReadTokens"}
    return {f: sum(int(s[names[f]]) for s in sessions) for f in FIELDS}


# -- the run ------------------------------------------------------------------------------


@dataclass
class Setup:
    work: Path
    repo: Path
    env: dict[str, str]
    tokentag: Path
    ccusage: Path | None
    why: str

    def reset(self) -> None:
        """Back to a repository that has never imported: no ledger, index or notes."""
        shutil.rmtree(self.repo / ".git" / "tokentag", ignore_errors=True)
        subprocess.run(["git", "-C", str(self.repo), "update-ref", "-d", "refs/notes/tokentag"],
                       capture_output=True, check=False)

    def ours(self, sample_memory: bool = False) -> Run:
        return timed([str(self.tokentag), "import", "--json"], self.repo, self.env,
                     sample_memory)

    def theirs(self, sample_memory: bool = False) -> Run:
        assert self.ccusage is not None
        return timed([str(self.ccusage), "claude", "session", "--json", "--offline"], self.work,
                     self.env, sample_memory)

    def our_daily(self) -> Run:
        return timed([str(self.tokentag), "report", "--by", "day", "--json"], self.repo,
                     self.env, False)

    def their_daily(self) -> Run:
        assert self.ccusage is not None
        return timed([str(self.ccusage), "claude", "daily", "--json", "--offline"], self.work,
                     self.env, False)


def environment(work: Path, config: Path) -> dict[str, str]:
    """Both tools see the generated config dir. Python gets a bytecode cache (in the work
    dir) as any installed package has; PYTHONDONTWRITEBYTECODE would make every run
    recompile tokentag, which no user's install does."""
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config), "HOME": str(work), "NO_COLOR": "1",
           "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Best:
    """The fastest of several rounds, per measure: the machine's other load only slows."""

    cold: Run | None = None
    warm: Run | None = None
    theirs: Run | None = None
    first_daily: Run | None = None  # the first report after a cold import
    daily: Run | None = None
    their_daily: Run | None = None

    def take(self, name: str, run: Run) -> None:
        """The fastest run's times, and the largest memory of any run."""
        known = getattr(self, name)
        if known is not None:
            run.peak_mb = max(run.peak_mb, known.peak_mb)
            run.peak_rss_mb = max(run.peak_rss_mb, known.peak_rss_mb)
            if run.seconds >= known.seconds:
                known.peak_mb, known.peak_rss_mb = run.peak_mb, run.peak_rss_mb
                return
        setattr(self, name, run)

    def memory(self, name: str, run: Run) -> None:
        """A sampled run's memory, not its time (the sampling slows it)."""
        known = getattr(self, name)
        assert known is not None
        known.peak_mb = max(run.peak_mb, known.peak_mb)
        known.peak_rss_mb = max(run.peak_rss_mb, known.peak_rss_mb)


def rounds(setup: Setup, count: int) -> Best:
    """Interleaved, so each round's figures share the machine's state."""
    best = Best()
    subprocess.run([str(setup.tokentag), "--version"], env=setup.env, capture_output=True,
                   check=True)  # fills the bytecode cache
    if setup.ccusage is not None:
        setup.theirs()  # its first run is its own warm-up
    for _ in range(count):
        if setup.ccusage is not None:
            best.take("theirs", setup.theirs())
        setup.reset()
        best.take("cold", setup.ours())
        best.take("warm", setup.ours())
    # Reports by day: the first after a cold import, then later ones, each round.
    for _ in range(count):
        setup.reset()
        setup.ours()
        best.take("first_daily", setup.our_daily())
        best.take("daily", setup.our_daily())
        if setup.ccusage is not None:
            best.take("their_daily", setup.their_daily())
    # Then one round for memory alone.
    if setup.ccusage is not None:
        best.memory("theirs", setup.theirs(sample_memory=True))
    setup.reset()
    best.memory("cold", setup.ours(sample_memory=True))
    best.memory("warm", setup.ours(sample_memory=True))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="Where to generate (default: a temp dir).")
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tokentag-bench-", dir=args.workdir))
    try:
        return bench(work, args.size_mb, args.rounds)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, size_mb: int, count: int) -> int:
    repo, config = work / "repo", work / "claude"
    commits = make_repo(repo)
    started = time.perf_counter()
    truth = generate(config / "projects", repo, size_mb)
    print(f"generated {truth.files} files, {truth.size / CHUNK:,.0f} MB, {truth.requests:,} "
          f"requests; {commits} commits; {time.perf_counter() - started:.1f} s")
    ccusage, why = install_ccusage(work / "npm")
    setup = Setup(work, repo, environment(work, config), Path(sys.executable).with_name("tokentag"),
                  ccusage, why)
    best = rounds(setup, count)
    assert best.cold is not None and best.warm is not None
    ours = tokentag_totals(setup)
    return report(truth, ours, best, why)


def tokentag_totals(setup: Setup) -> dict[str, int]:
    out = subprocess.run([str(setup.tokentag), "report", "--by", "month", "--json"],
                         cwd=setup.repo, env=setup.env, capture_output=True, text=True,
                         check=True).stdout
    tokens = json.loads(out)["totals"]["tokens"]
    return {f: int(tokens[f]) for f in FIELDS}


def report(truth: Totals, ours: dict[str, int], best: Best, why: str) -> int:
    assert best.cold is not None and best.warm is not None
    failures = []
    for label, run in (("tokentag import, cold", best.cold),
                       ("tokentag import, repeated", best.warm),
                       ("ccusage claude session", best.theirs),
                       ("report --by day, first", best.first_daily),
                       ("report --by day, later", best.daily),
                       ("ccusage claude daily", best.their_daily)):
        if run is not None:
            print(f"{label:<27} {run.seconds:7.3f} s wall {run.cpu_seconds:7.3f} s CPU  "
                  f"peak {run.peak_mb:6.1f} MB PSS ({run.peak_rss_mb:6.1f} MB summed RSS)")
    print(f"cold summary: {json.dumps(json.loads(best.cold.stdout))}")
    peak = max(best.cold.peak_mb, best.warm.peak_mb)
    if peak >= RSS_LIMIT_MB:
        failures.append(f"tokentag peak memory {peak:.1f} MB (limit {RSS_LIMIT_MB:.0f})")
    print(f"totals: generated {truth.tokens}")
    print(f"        tokentag  {ours}")
    if ours != truth.tokens:
        failures.append("tokentag totals differ from the generated ones")
    if best.theirs is None:
        print(f"ccusage comparison skipped: {why}")
    else:
        failures += _compare(best.theirs, best.cold, best.warm, truth)
        failures += _compare_daily(best)
    for failure in failures:
        print(f"MISSED: {failure}")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


def _compare(theirs: Run, cold: Run, warm: Run, truth: Totals) -> list[str]:
    failures = []
    cold_ratio, warm_ratio = cold.seconds / theirs.seconds, warm.seconds / theirs.seconds
    print(f"ratios: cold/ccusage {cold_ratio:.2f} (target <= {COLD_RATIO}), "
          f"repeated/ccusage {warm_ratio:.3f} (target <= {WARM_RATIO})")
    if cold_ratio > COLD_RATIO:
        failures.append(f"cold import {cold_ratio:.2f}x ccusage")
    if warm_ratio > WARM_RATIO:
        failures.append(f"repeated import {warm_ratio:.3f}x ccusage")
    totals = ccusage_totals(theirs.stdout)
    print(f"        ccusage   {totals}")
    if totals != truth.tokens:
        failures.append("ccusage totals differ from the generated ones")
    return failures


def _compare_daily(best: Best) -> list[str]:
    assert best.daily and best.first_daily and best.their_daily
    later = best.daily.seconds / best.their_daily.seconds
    first = best.first_daily.seconds / best.their_daily.seconds
    print(f"ratios: report --by day/ccusage daily {later:.3f} (target <= {DAILY_RATIO}); "
          f"the first after an import {first:.2f} (no target)")
    return [f"report --by day {later:.3f}x ccusage daily"] if later > DAILY_RATIO else []


if __name__ == "__main__":
    sys.exit(main())
