"""Shared helpers for the tokentag benchmarks (standard library only).

- `Tools`: the interpreter used for the baseline and the `tokentag` console script, which
  must run on that same interpreter (the script re-executes itself if needed).
- `Sandbox`: a temp dir with its own HOME, CLAUDE_CONFIG_DIR, XDG_STATE_HOME and a git
  identity, so nothing here ever touches the real home directory.
- `SessionWriter`: synthetic transcripts in Claude Code's on-disk format (compact JSON,
  one line per content block, progress and tool_result lines in between).
- `timed`, `Stats`: wall time of one subprocess, medians and spreads.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPACT = (",", ":")


# --- interpreter and console script ----------------------------------------------------


@dataclass(frozen=True)
class Tools:
    python: str      # sys.executable: the baseline runs `python -c pass` with it
    tokentag: str    # the console script, whose shebang is `python`

    def describe(self) -> str:
        real = os.path.realpath(self.python)
        shim = shutil.which("python3") or "?"
        return (f"baseline interpreter: {self.python} (resolves to {real}); "
                f"`python3` on PATH is {shim}, not used")


def _shebang(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            first = handle.readline(4096).decode(errors="replace").strip()
    except OSError:
        return None
    return first[2:].strip().split()[0] if first.startswith("#!") and len(first) > 2 else None


def find_tools(explicit: str | None = None) -> Tools:
    """The console script and the interpreter it runs on; re-exec this script under that
    interpreter when it differs, so the baseline measures the very interpreter of the hook."""
    candidates = [Path(explicit)] if explicit else [
        Path(sys.executable).with_name("tokentag"), REPO_ROOT / ".venv" / "bin" / "tokentag"]
    for script in candidates:
        if script.is_file() and os.access(script, os.X_OK):
            break
    else:
        sys.exit("tokentag console script not found: run with the project's venv python, "
                 "e.g. .venv/bin/python bench/<script>.py, or pass --tokentag PATH")
    interpreter = _shebang(script)
    # Same bin dir, same environment: a venv's python resolves to the base interpreter,
    # so comparing resolved paths would take the base python for the venv's.
    same = interpreter and os.path.dirname(os.path.abspath(interpreter)) == \
        os.path.dirname(os.path.abspath(sys.executable))
    if interpreter and not same and not os.environ.get("TOKENTAG_BENCH_REEXEC"):
        os.environ["TOKENTAG_BENCH_REEXEC"] = "1"
        os.execv(interpreter, [interpreter, *sys.argv])
    return Tools(sys.executable, str(script))


# --- isolated environment ---------------------------------------------------------------


class Sandbox:
    """A temp root with a private HOME; `env` is what every subprocess gets."""

    def __init__(self, prefix: str, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.keep = keep
        self.home = self.root / "home"
        self.config = self.home / ".claude"
        self.state = self.home / ".local" / "state"
        for directory in (self.home, self.config, self.state):
            directory.mkdir(parents=True, exist_ok=True)
        # gc.auto=0: no background `git gc` lands in one timed commit and not another.
        (self.home / ".gitconfig").write_text(
            "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n"
            "[gc]\n\tauto = 0\n[advice]\n\tdetachedHead = false\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GIT_", "PYTHON", "CLAUDE", "XDG_"))}
        env.update({
            "HOME": str(self.home), "CLAUDE_CONFIG_DIR": str(self.config),
            "XDG_STATE_HOME": str(self.state), "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench Author", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench Author", "GIT_COMMITTER_EMAIL": "bench@example.com",
        })
        self.env = env

    def git(self, repo: Path, *args: str) -> str:
        result = subprocess.run(["git", "-C", str(repo), *args], env=self.env, text=True,
                                capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def new_repo(self, name: str) -> Path:
        repo = self.root / name
        repo.mkdir()
        self.git(repo, "init", "-q")
        return repo

    def project_dir(self, repo: Path) -> Path:
        """Where Claude Code keeps the transcripts of sessions started in `repo`."""
        path = self.config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(repo))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        if self.keep:
            print(f"(kept {self.root})")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def run_checked(argv: Sequence[str], *, cwd: Path, env: dict[str, str],
                stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(list(argv), cwd=cwd, env=env, input=stdin, capture_output=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result


# --- timing -------------------------------------------------------------------------------


def timed(argv: Sequence[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None = None,
          expect_empty_stdout: bool = False) -> float:
    """Wall seconds of one subprocess, from spawn to exit; fails on a non-zero exit."""
    start = time.perf_counter()
    result = subprocess.run(list(argv), cwd=cwd, env=env, input=stdin, capture_output=True,
                            check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    if expect_empty_stdout and result.stdout:
        raise RuntimeError(f"{' '.join(argv)} printed to stdout: {result.stdout[:200]!r}")
    return elapsed


@dataclass
class Stats:
    name: str
    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quartiles(self) -> tuple[float, float]:
        if len(self.samples) < 4:
            return min(self.samples), max(self.samples)
        q = statistics.quantiles(self.samples, n=4)
        return q[0], q[2]

    def line(self) -> str:
        low, high = self.quartiles()
        return (f"{self.name:<44} median {ms(self.median):>8}   IQR {ms(low)}..{ms(high)}"
                f"   min {ms(min(self.samples))}   n={len(self.samples)}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def machine_line() -> str:
    """Cores and load: on a busy machine medians of wall time drift, ratios less so."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return f"machine: {cores} cores"
    note = "  (busy: figures are noisy, rerun on an idle machine)" if load > cores * 0.75 else ""
    return f"machine: {cores} cores, load average {load:.2f}{note}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- synthetic transcripts ------------------------------------------------------------------

_WORDS = ("def", "return", "self", "import", "value", "result", "config", "path", "index",
          "ledger", "request", "commit", "session", "transcript", "usage", "tokens", "for", "in",
          "if", "else", "None", "True", "False", "with", "open", "read", "write", "json", "the",
          "of", "a", "to", "is", "error", "test", "assert", "file", "line", "offset", "\"quoted\"",
          "{", "}", "(", ")", "[", "]", ":", "=", "+", "->", "\\n", "\t")
# Sizes of tool output in bytes, cycled: mostly small, sometimes a whole file or a long log.
# Averages about 20 KB per request with the other lines, like the real sessions in
# ../shared/transcripts (3.2 MB for 139 requests).
TOOL_OUTPUT_SIZES = (600, 2_500, 9_000, 1_200, 30_000, 4_000, 800, 60_000, 3_000, 15_000)
MODELS = ("claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")


def _text_pool(size: int, seed: int) -> str:
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        line = "    " * rng.randrange(4) + " ".join(rng.choice(_WORDS)
                                                  for _ in range(rng.randrange(3, 14)))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


def _rand_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


class SessionWriter:
    """Appends Claude Code transcript lines for one session, one API request at a time.

    Each request is written as Claude Code writes it: one `assistant` line per content
    block (thinking, text, tool_use) sharing `message.id` and `requestId`, input and cache
    fields repeated and a streaming placeholder in `output_tokens` on the early lines;
    then `progress` lines (hook and bash progress, now and then an `agent_progress` echo
    of a subagent request with its usage nested in `data`) and the `user` line carrying
    the tool_result text. The echoed subagent has its own file, as in Claude Code, empty
    here: a subagent without one would be counted from its echoes.
    """

    def __init__(self, path: Path, session_id: str, cwd: Path, seed: int = 1,
                 version: str = "2.1.38", branch: str = "main") -> None:
        self.path = path
        self.session_id = session_id
        self.cwd = str(cwd)
        self.version = version
        self.branch = branch
        self.rng = random.Random(seed)
        self.pool = _text_pool(200_000, seed)
        self.clock = 1_767_225_600.0 + seed * 86_400  # 2026-01-01 plus a day per seed
        self.parent: str | None = None
        self.requests = 0
        self.cache = 12_000
        self.subagent = path.with_suffix("") / "subagents" / f"agent-a{seed:06d}.jsonl"

    # -- line builders

    def _common(self) -> dict[str, object]:
        self.clock += self.rng.uniform(0.05, 3.0)
        uid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        base: dict[str, object] = {
            "parentUuid": self.parent, "isSidechain": False, "userType": "external",
            "cwd": self.cwd, "sessionId": self.session_id, "version": self.version,
            "gitBranch": self.branch, "slug": "synthetic-bench-session"}
        self.parent = uid
        return {**base, "uuid": uid, "timestamp": self._ts()}

    def _ts(self) -> str:
        whole = int(self.clock)
        millis = int((self.clock - whole) * 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"

    def _text(self, size: int) -> str:
        start = self.rng.randrange(0, max(1, len(self.pool) - size))
        return self.pool[start:start + size]

    @staticmethod
    def _dump(entry: dict[str, object]) -> bytes:
        return json.dumps(entry, separators=COMPACT, ensure_ascii=False).encode() + b"\n"

    def _assistant(self, model: str, message_id: str, request_id: str, block: dict[str, object],
                   usage: dict[str, object], stop: str | None) -> bytes:
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        entry = {**common, "message": {
            "model": model, "id": message_id, "type": "message", "role": "assistant",
            "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage},
            "requestId": request_id, "type": "assistant", "uuid": uid, "timestamp": ts}
        return self._dump(entry)

    def _usage(self, output: int, write: int | None = None, fresh: int | None = None
               ) -> dict[str, object]:
        """Usage as Claude Code writes it; the lines of one request repeat input and cache."""
        write = self.rng.choice((0, 0, 0, 350, 1_800, 9_000)) if write is None else write
        fresh = self.rng.choice((1, 2, 3, 6, 120)) if fresh is None else fresh
        return {"input_tokens": fresh, "cache_creation_input_tokens": write,
                "cache_read_input_tokens": self.cache,
                "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                   "ephemeral_1h_input_tokens": write},
                "output_tokens": output, "service_tier": "standard",
                "inference_geo": "not_available"}

    def _progress_hook(self, tool_use_id: str) -> bytes:
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        entry = {**common, "type": "progress", "data": {
            "type": "hook_progress", "hookEvent": "PostToolUse", "hookName": "PostToolUse:Bash",
            "command": "tokentag hook"}, "parentToolUseID": tool_use_id,
            "toolUseID": tool_use_id, "timestamp": ts, "uuid": uid}
        return self._dump(entry)

    def _progress_bash(self, tool_use_id: str) -> bytes:
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        entry = {**common, "type": "progress", "data": {
            "type": "bash_progress", "output": self._text(self.rng.randrange(80, 600)),
            "fullOutput": "", "elapsedTimeSeconds": self.rng.randrange(1, 30),
            "totalLines": self.rng.randrange(1, 400)},
            "toolUseID": f"bash-progress-{self.rng.randrange(100)}",
            "parentToolUseID": tool_use_id, "timestamp": ts, "uuid": uid}
        return self._dump(entry)

    def _progress_agent(self, tool_use_id: str) -> bytes:
        """A subagent request echoed in the main file: usage nested in `data`, not counted."""
        if not self.subagent.exists():
            self.subagent.parent.mkdir(parents=True, exist_ok=True)
            self.subagent.touch()
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        block = {"type": "tool_use", "id": _rand_id(self.rng, "toolu_01"), "name": "Read",
                 "input": {"file_path": self.cwd}}
        inner = {"type": "assistant", "timestamp": ts, "message": {
            "model": MODELS[2], "id": _rand_id(self.rng, "msg_01"), "type": "message",
            "role": "assistant", "content": [block],
            "stop_reason": None, "stop_sequence": None, "usage": self._usage(3),
            "context_management": None}, "requestId": _rand_id(self.rng, "req_011C"),
            "uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}
        entry = {**common, "type": "progress", "data": {
            "message": inner, "normalizedMessages": [], "type": "agent_progress",
            "prompt": self._text(400),
            "agentId": self.subagent.stem.removeprefix("agent-")},
            "toolUseID": f"agent_{inner['message']['id']}",  # type: ignore[index]
            "parentToolUseID": tool_use_id, "uuid": uid, "timestamp": ts}
        return self._dump(entry)

    def _tool_result(self, tool_use_id: str, size: int) -> bytes:
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        text = self._text(size)
        entry = {**common, "type": "user", "message": {"role": "user", "content": [
            {"tool_use_id": tool_use_id, "type": "tool_result", "content": text,
             "is_error": False}]}, "uuid": uid, "timestamp": ts,
            "toolUseResult": {"stdout": text[:200], "stderr": "", "interrupted": False}}
        return self._dump(entry)

    def user_prompt(self) -> bytes:
        common = self._common()
        uid, ts = common.pop("uuid"), common.pop("timestamp")
        entry = {**common, "type": "user", "message": {"role": "user",
                                                       "content": self._text(300)},
                 "uuid": uid, "timestamp": ts}
        return self._dump(entry)

    # -- one request

    def request_lines(self) -> bytes:
        """All lines of one API request and the tool call it triggers."""
        n = self.requests
        self.requests += 1
        model = MODELS[0] if n % 7 else MODELS[1]
        message_id = _rand_id(self.rng, "msg_01")
        request_id = _rand_id(self.rng, "req_011C")
        tool_use_id = _rand_id(self.rng, "toolu_01")
        self.cache += self.rng.randrange(200, 3_000)
        if self.cache > 180_000:
            self.cache = 15_000  # a compaction
        final_output = self.rng.randrange(40, 2_500)
        write = self.rng.choice((0, 0, 0, 350, 1_800, 9_000))
        fresh = self.rng.choice((1, 2, 3, 6, 120))
        out = bytearray()
        if n % 3 == 0:
            out += self._assistant(model, message_id, request_id, {
                "type": "thinking", "thinking": self._text(self.rng.randrange(100, 1_500)),
                "signature": _rand_id(self.rng, "Eq", 300)}, self._usage(10, write, fresh), None)
        if n % 2 == 0:
            out += self._assistant(model, message_id, request_id, {
                "type": "text", "text": self._text(self.rng.randrange(40, 800))},
                self._usage(10, write, fresh), None)
        out += self._assistant(model, message_id, request_id, {
            "type": "tool_use", "id": tool_use_id, "name": "Bash",
            "input": {"command": self._text(60).replace("\n", " "),
                      "description": "run the thing"}, "caller": {"type": "direct"}},
            self._usage(final_output, write, fresh), "tool_use")
        out += self._progress_hook(tool_use_id)
        for _ in range(self.rng.randrange(2, 7)):
            out += self._progress_bash(tool_use_id)
        if n % 10 == 5:
            out += self._progress_agent(tool_use_id)
        out += self._tool_result(tool_use_id, TOOL_OUTPUT_SIZES[n % len(TOOL_OUTPUT_SIZES)])
        out += self._progress_hook(tool_use_id)
        return bytes(out)

    def append_requests(self, count: int) -> int:
        """Append `count` requests with one write each (Claude Code appends whole lines)."""
        written = 0
        with self.path.open("ab") as handle:
            if self.requests == 0:
                handle.write(self.user_prompt())
            for _ in range(count):
                data = self.request_lines()
                handle.write(data)
                written += len(data)
        return written

    def grow_to(self, size: int) -> int:
        """Append requests until the file holds at least `size` bytes; returns requests."""
        count = 0
        with self.path.open("ab") as handle:
            current = handle.tell()
            if self.requests == 0:
                data = self.user_prompt()
                handle.write(data)
                current += len(data)
            buffer = bytearray()
            while current + len(buffer) < size:
                buffer += self.request_lines()
                count += 1
                if len(buffer) > 8 << 20:
                    handle.write(buffer)
                    current += len(buffer)
                    buffer.clear()
            handle.write(buffer)
        return count

    def hook_payload(self, event: str = "PostToolUse") -> bytes:
        """What Claude Code sends a hook on stdin for this session."""
        payload: dict[str, object] = {
            "session_id": self.session_id, "transcript_path": str(self.path), "cwd": self.cwd,
            "permission_mode": "default", "hook_event_name": event}
        if event == "PostToolUse":
            output = self._text(3_000)
            payload.update({
                "tool_name": "Bash", "tool_use_id": _rand_id(self.rng, "toolu_01"),
                "tool_input": {"command": "pytest -q", "description": "run the tests"},
                "tool_response": {"stdout": output, "stderr": "", "interrupted": False,
                                  "isImage": False}})
        elif event == "SessionStart":
            payload["source"] = "startup"
        return json.dumps(payload, separators=COMPACT).encode()


def status_line_input(repo: Path, session_id: str, transcript: Path) -> bytes:
    """Claude Code's status-line JSON, as its documentation gives it."""
    return json.dumps({
        "hook_event_name": "Status", "session_id": session_id,
        "transcript_path": str(transcript), "cwd": str(repo),
        "model": {"id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": str(repo), "project_dir": str(repo)},
        "version": "2.1.90", "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 1.25, "total_duration_ms": 60_000,
                 "total_api_duration_ms": 30_000, "total_lines_added": 10,
                 "total_lines_removed": 2},
        "context_window": {"total_input_tokens": 50_000, "total_output_tokens": 4_000,
                           "context_window_size": 200_000}}).encode()


def count_ledger(ledger: Path, start: int = 0) -> tuple[int, list[dict[str, object]]]:
    """Request records and the attribution records in the ledger from byte `start`."""
    requests = 0
    attributions: list[dict[str, object]] = []
    try:
        handle = ledger.open("rb")
    except FileNotFoundError:
        return 0, []
    with handle:
        handle.seek(start)
        for line in handle:
            if b'"kind":"request"' in line:
                requests += 1
            elif b'"kind":"attribution"' in line:
                attributions.append(json.loads(line))
    return requests, attributions


def log_failures(tokentag_dir: Path, sandbox: Sandbox) -> list[str]:
    """Failures the hooks logged instead of failing: a benchmark must not time errors."""
    lines: list[str] = []
    for log in (tokentag_dir / "tokentag.log", sandbox.state / "tokentag" / "tokentag.log"):
        if log.is_file():
            lines += log.read_text(errors="replace").splitlines()
    return lines


def importtime_report(argv: Sequence[str], *, cwd: Path, env: dict[str, str],
                      stdin: bytes | None, top: int = 15) -> str:
    """`-X importtime` of one run: the imports with the largest cumulative and self cost."""
    result = subprocess.run(list(argv), cwd=cwd, env=env, input=stdin, capture_output=True,
                            check=False)
    rows: list[tuple[int, int, str]] = []
    for line in result.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) == 3:
            rows.append((int(parts[0]), int(parts[1]), parts[2].rstrip()))
    total = sum(r[0] for r in rows)
    out = [f"  imports: {len(rows)} modules, {total / 1000:.1f} ms self time in total",
           "  top cumulative (us):"]
    out += [f"    {c:>8} {name}" for _, c, name in sorted(rows, key=lambda r: -r[1])[:top]]
    out.append("  top self (us):")
    out += [f"    {s:>8} {name.strip()}" for s, _, name in sorted(rows, key=lambda r: -r[0])[:top]]
    return "\n".join(out)
