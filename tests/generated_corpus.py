"""A corpus of Claude Code transcripts made here, laid out as the recorded one in
../shared/transcripts is, so that every test that replays recorded sessions also runs in a
clone with nothing beside it.

    claude/projects/<cwd, each non-alphanumeric character a '-'>/<session>.jsonl
    claude/projects/<...>/<session>/subagents/agent-<id>.jsonl   (since 2.1.2)
    claude/projects/<...>/agent-<id>.jsonl                      (2.0.28-2.1.1, flat)
    expected.json                                               (each session's totals)

Its projects follow the recorded ones' shape, their times, branches and versions: a main
checkout on `master` (2026-02-10: a one-request session over five lines, a session whose
subagent only `agent_progress` lines show, a small tool-heavy one), a linked worktree on a
feature branch (2026-02-12: a long session with a subagent file echoed by progress lines,
placeholder output counts, a compaction and its own agent file), and an older project
(2025-09, 1.0.x: subagent lines inline with `isSidechain`, a `summary` line, cwds below
the project, a `<synthetic>` message). A fourth holds what the recorded sessions lack: a
flat agent file beside its session, a session resumed from another (the earlier session's
lines copied into the new file), a 2.1.3xx session with `cost-state` lines and a last line
without its newline; text everywhere has non-ASCII characters.

expected.json counts as the recorded corpus's does (each (message.id, requestId) once,
subagent files included, `<synthetic>` and progress lines not), from the requests as they
were generated, never by reading the files back. The `cost-state` totals equal the request
lines before them, and the unterminated last line repeats its request's final counts: what
the corpus expects holds whether or not a reader takes that line. Deterministic: the same
bytes on every run.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.claude_lines import compact, cost_state_line, encoded
from tests.corpora import Corpus

FIELDS = ("input", "output", "cache_creation", "cache_read")
OPUS, SONNET_45, SONNET_4 = "claude-opus-4-6", "claude-sonnet-4-5-20250929", \
    "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"

MAIN_CWD = "/home/ana/code/atlas"
WORKTREE_CWD = "/home/USER/code/atlas-worktrees/atlas-sync"
WORKTREE_BRANCH = "atlas-sync"
OLD_CWD = "/srv/work/Orchard"
NEWER_CWD = "/opt/dev/relay"

WORDS = (  # prose from a few dozen words: runs of ASCII text, as code sessions have
    "parse", "the", "transcript", "before", "the", "hook", "returns", "and", "keep", "each",
    "request", "once", "while", "the", "ledger", "lock", "is", "held", "only", "for", "the",
    "append", "so", "that", "a", "commit", "never", "waits", "on", "a", "slow", "disk", "cursor",
    "offset", "inode", "device", "size", "mtime", "carry", "tail", "newline", "chunk", "buffer",
    "index", "fold", "release", "notes", "tag", "range", "branch", "worktree", "rebase", "amend",
    "squash", "merge", "cherry", "pick", "remote", "fetch", "push", "sync", "model", "price",
    "cache", "write", "read", "input", "output", "tokens", "dollars", "report", "table", "column",
    "width", "terminal", "pipe", "colour", "escape", "markdown", "heading", "link", "test",
    "fixture", "replay", "golden", "import", "export", "module", "function", "class", "method",
    "argument", "value", "error", "exit", "log", "line",
)
ACCENTED = ("naïve", "café", "Grüße", "señal", "über", "→", "déjà", "日本語", "Ünïcode", "😀",
            "façade", "œuvre", "Ελληνικά", "жизнь")


class Clock:
    """A session's time: moves forward a little at each line."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.steps = (0.2, 4.0)  # seconds between two lines, at least and at most

    def tick(self, rng: random.Random) -> str:
        self.now += timedelta(seconds=rng.uniform(*self.steps))
        return self.stamp()

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.now.microsecond // 1000:03d}Z"


@dataclass
class Context:
    """What every line of a file repeats: where and in which session it was written."""

    cwd: str
    session_id: str
    version: str
    branch: str | None  # None: the line has no gitBranch (before a repository was seen)
    agent_id: str | None = None
    sidechain: bool = False

    def fields(self) -> dict[str, Any]:
        found: dict[str, Any] = {"isSidechain": self.sidechain, "userType": "external",
                                 "cwd": self.cwd, "sessionId": self.session_id,
                                 "version": self.version}
        if self.branch is not None:
            found["gitBranch"] = self.branch
        if self.agent_id is not None:
            found["agentId"] = self.agent_id
        return found


@dataclass
class Transcript:
    """One file's lines, in the order Claude Code writes them."""

    path: Path
    context: Context
    clock: Clock
    kept: bool = True  # written to `path`; a file not kept only progress lines show
    lines: list[bytes] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    parent: str | None = None

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.lines.append(compact(entry))
        self.entries.append(entry)
        return entry


@dataclass
class Generator:
    """Writes the corpus and keeps, apart from the files, what each session spent."""

    root: Path
    rng: random.Random = field(default_factory=lambda: random.Random(20260212))
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    project_of: dict[str, str] = field(default_factory=dict)
    requests: int = 0  # distinct requests in the files
    progress_copies: int = 0  # subagent requests only progress lines show
    files: list[Transcript] = field(default_factory=list)

    # -- ids and text ------------------------------------------------------------------

    def token(self, length: int) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def prose(self, words: int) -> str:
        chosen = [self.rng.choice(ACCENTED) if self.rng.random() < 0.04
                  else self.rng.choice(WORDS) for _ in range(words)]
        text = " ".join(chosen)
        return text[0].upper() + text[1:] + "."

    # -- files -------------------------------------------------------------------------

    def session(self, cwd: str, version: str, branch: str | None, start: str) -> Transcript:
        """A new session's own file in the project of `cwd`."""
        project = self.root / "claude" / "projects" / encoded(Path(cwd))
        context = Context(cwd, self.uuid(), version, branch)
        clock = Clock(datetime.fromisoformat(start).replace(tzinfo=UTC))
        main = Transcript(project / f"{context.session_id}.jsonl", context, clock)
        self.files.append(main)
        self.project_of[context.session_id] = project.name
        self.totals[context.session_id] = dict.fromkeys(FIELDS, 0)
        return main

    def agent(self, main: Transcript, agent_id: str, path: Path | None) -> Transcript:
        """A subagent of `main`'s session writing `path` (None: a file not kept)."""
        context = replace(main.context, agent_id=agent_id, sidechain=True)
        agent = Transcript(path or Path(os.devnull), context, Clock(main.clock.now),
                           kept=path is not None)
        if agent.kept:
            self.files.append(agent)
        return agent

    def write(self) -> None:
        for transcript in self.files:
            transcript.path.parent.mkdir(parents=True, exist_ok=True)
            transcript.path.write_bytes(b"".join(transcript.lines))
            # A recorded session's file was last written at its last line.
            newest = max(e["timestamp"] for e in transcript.entries if "timestamp" in e)
            when = datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp()
            os.utime(transcript.path, (when, when))
        sessions = [{"session_id": session_id, "project_dir": self.project_of[session_id],
                     **counts, "total": sum(counts.values())}
                    for session_id, counts in self.totals.items()]
        note = ("Per-session totals of the generated transcripts under claude/, as the "
                "generator made them: each API request once, subagent files included, "
                "synthetic messages and progress lines not.")
        (self.root / "expected.json").write_text(json.dumps(
            {"note": note, "sessions": sessions}, indent=1, ensure_ascii=False) + "\n")

    # -- lines -------------------------------------------------------------------------

    def base(self, file: Transcript, kind: str, **fields: Any) -> dict[str, Any]:
        """A line of `kind` with the file's context, its own uuid and the next time."""
        uid = self.uuid()
        entry = {"parentUuid": file.parent, **file.context.fields(), "type": kind, **fields,
                 "uuid": uid, "timestamp": file.clock.tick(self.rng)}
        file.parent = uid
        return entry

    def user(self, file: Transcript, text: str | None = None) -> None:
        content = text if text is not None else self.prose(self.rng.randint(8, 30))
        file.add(self.base(file, "user", message={"role": "user", "content": content}))

    def tool_result(self, file: Transcript, tool_id: str, words: int) -> None:
        output = "\n".join(self.prose(self.rng.randint(6, 18))
                           for _ in range(max(1, words // 12)))
        entry = self.base(file, "user", message={"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": output,
             "is_error": False}]})
        entry["toolUseResult"] = {"stdout": output, "stderr": "", "interrupted": False}
        file.add(entry)

    def block(self, kind: str, tool_id: str) -> dict[str, Any]:
        if kind == "thinking":
            return {"type": "thinking", "thinking": self.prose(self.rng.randint(20, 60)),
                    "signature": "[REDACTED_SIGNATURE]"}
        if kind == "tool_use":
            return {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {
                "command": f"make check TARGET={self.token(6)}",
                "description": self.prose(self.rng.randint(8, 16))}}
        return {"type": "text", "text": self.prose(self.rng.randint(10, 50))}

    def counts(self, scale: int) -> dict[str, int]:
        return {"input": self.rng.randint(1, 9) if self.rng.random() < 0.9
                else self.rng.randint(100, 900),
                "output": self.rng.randint(20, 40 * scale),
                "cache_creation": self.rng.randint(0, 600 * scale),
                "cache_read": self.rng.randint(2_000, 9_000 * scale)}

    def request(self, file: Transcript, model: str, kinds: tuple[str, ...],
                counts: dict[str, int] | None = None, *, final_on_every_line: bool = False,
                one_hour_writes: bool = True) -> list[dict[str, Any]]:
        """The lines of one API request, one per content block; early lines carry a
        streaming placeholder in output_tokens unless `final_on_every_line` (2.1.3xx).
        A third of its cache writes are 1-hour ones now and then, if `one_hour_writes`."""
        counts = counts or self.counts(8)
        message_id, request_id = f"msg_01{self.token(22)}", f"req_011C{self.token(20)}"
        chance = 0.2 if one_hour_writes else 0.0
        one_hour = counts["cache_creation"] // 3 if self.rng.random() < chance else 0
        placeholder = min(counts["output"], self.rng.randint(1, 12))
        tool_id = f"toolu_01{self.token(22)}"
        entries = []
        for number, kind in enumerate(kinds):
            last = number == len(kinds) - 1
            usage = {"input_tokens": counts["input"],
                     "cache_creation_input_tokens": counts["cache_creation"],
                     "cache_read_input_tokens": counts["cache_read"],
                     "cache_creation": {"ephemeral_5m_input_tokens":
                                        counts["cache_creation"] - one_hour,
                                        "ephemeral_1h_input_tokens": one_hour},
                     "output_tokens": counts["output"] if last or final_on_every_line
                     else placeholder, "service_tier": "standard"}
            message = {"model": model, "id": message_id, "type": "message",
                       "role": "assistant", "content": [self.block(kind, tool_id)],
                       "stop_reason": "tool_use" if last and kind == "tool_use" else None,
                       "stop_sequence": None, "usage": usage}
            extra = {"apiBlockIndex": number, "requestRef": f"rr-{self.token(8)}",
                     "requestedModel": model} if final_on_every_line else {}
            entries.append(file.add(self.base(file, "assistant", message=message,
                                              requestId=request_id, **extra)))
        if file.kept:
            self.requests += 1
            known = self.totals[file.context.session_id]
            for name in FIELDS:
                known[name] += counts[name]
        else:
            self.progress_copies += 1
        return entries

    def synthetic(self, file: Transcript) -> None:
        """What Claude Code writes when no request was made: no requestId, no usage."""
        message = {"id": self.uuid(), "model": "<synthetic>", "role": "assistant",
                   "stop_reason": "stop_sequence", "type": "message",
                   "usage": dict.fromkeys(("input_tokens", "output_tokens",
                                           "cache_creation_input_tokens",
                                           "cache_read_input_tokens"), 0),
                   "content": [{"type": "text", "text": "No response requested."}]}
        file.add(self.base(file, "assistant", message=message, isApiErrorMessage=False))

    def progress(self, file: Transcript, data: dict[str, Any], tool_use_id: str) -> None:
        file.add(self.base(file, "progress", data=data, toolUseID=tool_use_id,
                           parentToolUseID=tool_use_id))

    def hooks_ran(self, file: Transcript, event: str, count: int) -> None:
        for number in range(count):
            self.progress(file, {"type": "hook_progress", "hookEvent": event,
                                 "hookName": f"{event}:Bash",
                                 "command": f"$HOME/.claude/hooks/hook-{number}.sh"},
                          self.uuid())

    def bash_progress(self, file: Transcript, tool_id: str, count: int) -> None:
        for second in range(count):
            output = self.prose(self.rng.randint(4, 12))
            self.progress(file, {"type": "bash_progress", "output": output,
                                 "fullOutput": output, "elapsedTimeSeconds": second + 1,
                                 "totalLines": second + 1, "timeoutMs": 120000}, tool_id)

    def echo(self, main: Transcript, entry: dict[str, Any], agent_id: str) -> None:
        """The `agent_progress` line in the main file that echoes a subagent's line."""
        inner = {"type": entry["type"], "message": entry["message"], "uuid": entry["uuid"],
                 "timestamp": entry["timestamp"]}
        if "requestId" in entry:
            inner["requestId"] = entry["requestId"]
        self.progress(main, {"message": inner, "normalizedMessages": [],
                             "type": "agent_progress", "prompt": "Explore the module",
                             "agentId": agent_id}, f"agent_msg_01{self.token(22)}")

    def turn(self, file: Transcript, model: str, requests: int, *, hooks: int = 0,
             results: int = 40, scale: int = 8) -> None:
        """A prompt and the requests answering it, each tool call's result after it."""
        self.user(file)
        patterns = (("thinking", "text", "tool_use"), ("text", "tool_use"), ("tool_use",),
                    ("thinking", "tool_use"), ("text",))
        for number in range(requests):
            kinds = patterns[-1] if number == requests - 1 else self.rng.choice(patterns[:-1])
            entries = self.request(file, model, kinds, self.counts(scale))
            if kinds[-1] == "tool_use":
                tool_id = entries[-1]["message"]["content"][0]["id"]
                self.hooks_ran(file, "PreToolUse", hooks // 2)
                self.bash_progress(file, tool_id, self.rng.randint(0, hooks))
                self.tool_result(file, tool_id, self.rng.randint(results // 2, results))
                self.hooks_ran(file, "PostToolUse", hooks - hooks // 2)

    def call_tool(self, file: Transcript, model: str) -> str:
        """A request that ends in a tool call (a Task, when a subagent follows): its id."""
        entries = self.request(file, model, ("text", "tool_use"))
        return str(entries[-1]["message"]["content"][0]["id"])

    def agent_id(self) -> str:
        return "a" + "".join(self.rng.choice("0123456789abcdef") for _ in range(6))

    def subagent(self, main: Transcript, main_model: str, model: str, requests: int,
                 kept: bool = True) -> str:
        """A Task run by a subagent (2.1.2 on): its file `<session>/subagents/agent-<id>
        .jsonl`, kept or not; the main file echoes its lines in `agent_progress` lines,
        all but its last request's when its file is kept (as recorded)."""
        task = self.call_tool(main, main_model)
        agent_id = self.agent_id()
        path = main.path.with_suffix("") / "subagents" / f"agent-{agent_id}.jsonl"
        agent = self.agent(main, agent_id, path if kept else None)
        self.turn(agent, model, requests, results=30)
        answer = agent.entries[-1]["message"]["id"]  # its last request: the final answer
        for entry in agent.entries:
            held_back = kept and entry["type"] == "assistant" \
                and entry["message"]["id"] == answer
            if entry["type"] in ("user", "assistant") and not held_back:
                self.echo(main, entry, agent_id)
        main.clock.now = max(main.clock.now, agent.clock.now)
        self.tool_result(main, task, 20)
        return agent_id

    def flat_subagent(self, main: Transcript, main_model: str, model: str,
                      requests: int) -> None:
        """A Task run by a subagent (2.0.28-2.1.1): its `agent-<id>.jsonl` beside the
        session's file, tied to it by the sessionId of its lines."""
        task = self.call_tool(main, main_model)
        agent_id = self.agent_id()
        agent = self.agent(main, agent_id, main.path.with_name(f"agent-{agent_id}.jsonl"))
        self.turn(agent, model, requests, results=30)
        main.clock.now = max(main.clock.now, agent.clock.now)
        self.tool_result(main, task, 20)

    def inline_subagent(self, file: Transcript, model: str, requests: int) -> None:
        """A Task before 2.0.28: the subagent's lines in the session's own file, marked
        isSidechain."""
        task = self.call_tool(file, model)
        parent, file.parent = file.parent, None
        file.context.sidechain = True
        self.turn(file, model, requests, results=30)
        file.context.sidechain, file.parent = False, parent
        self.tool_result(file, task, 20)

    def compaction(self, main: Transcript, model: str) -> None:
        """An automatic compaction: its request in `agent-acompact-<id>.jsonl`, then the
        boundary and the summary the session goes on from."""
        agent_id = f"acompact-{self.agent_id()[1:]}"
        path = main.path.with_suffix("") / "subagents" / f"agent-{agent_id}.jsonl"
        agent = self.agent(main, agent_id, path)
        for _ in range(3):
            self.user(agent)
        self.request(agent, model, ("text",), self.counts(20))
        main.clock.now = max(main.clock.now, agent.clock.now)
        main.parent = None
        self.system(main, "compact_boundary", content="Conversation compacted",
                    compactMetadata={"trigger": "auto", "preTokens": 170251})
        self.user(main, "This session is being continued from a previous conversation. "
                  + self.prose(40))

    def snapshot(self, file: Transcript) -> None:
        message_id = self.uuid()
        file.add({"type": "file-history-snapshot", "messageId": message_id,
                  "snapshot": {"messageId": message_id, "trackedFileBackups": {},
                               "timestamp": file.clock.tick(self.rng)},
                  "isSnapshotUpdate": False})

    def system(self, file: Transcript, subtype: str, **fields: Any) -> None:
        file.add(self.base(file, "system", subtype=subtype, isMeta=False, level="info",
                           **fields))


# -- the projects ----------------------------------------------------------------------


def write(root: Path) -> Corpus:
    """Generate the corpus into `root`."""
    generator = Generator(root)
    main = main_project(generator)
    big, agent = worktree_project(generator)
    old_project(generator)
    newer_project(generator)
    generator.write()
    return Corpus(
        name="generated", root=root,
        cwds={encoded(Path(cwd)): cwd for cwd in (MAIN_CWD, WORKTREE_CWD, OLD_CWD, NEWER_CWD)},
        main=encoded(Path(MAIN_CWD)), worktree=encoded(Path(WORKTREE_CWD)),
        branch=WORKTREE_BRANCH, big=big, agent=agent, small=main["small"],
        routed=main["routed"], files=len(generator.files), requests=generator.requests,
        progress_copies=generator.progress_copies)


def main_project(g: Generator) -> dict[str, str]:
    """A checkout on master, 2.1.38: a one-request session over five lines, a session
    with a subagent whose file is not kept, a small tool-heavy session."""
    short = g.session(MAIN_CWD, "2.1.38", "master", "2026-02-10T21:11:50")
    g.snapshot(short)
    g.hooks_ran(short, "SessionStart", 1)
    g.user(short, "Où est la configuration lue ? Réponds en une phrase.")
    g.request(short, OPUS, ("thinking", "text", "text", "text", "text"), g.counts(2))
    g.system(short, "turn_duration", durationMs=4200)
    routed = g.session(MAIN_CWD, "2.1.38", "master", "2026-02-10T21:54:15")
    routed.clock.steps = (1.0, 11.0)
    g.snapshot(routed)
    g.turn(routed, OPUS, 5, hooks=2)
    g.subagent(routed, OPUS, SONNET_45, 5, kept=False)
    g.turn(routed, OPUS, 6, hooks=2)
    small = g.session(MAIN_CWD, "2.1.38", None, "2026-02-10T22:57:51")
    g.snapshot(small)
    g.user(small, "Run the tests and fix what fails.")
    small.context.branch = "master"
    g.turn(small, OPUS, 8, hooks=1, results=12, scale=2)
    small.add({"type": "queue-operation", "operation": "enqueue",
               "timestamp": small.clock.tick(g.rng), "sessionId": small.context.session_id,
               "content": "and the linter"})
    g.turn(small, OPUS, 2, results=12, scale=2)
    return {"routed": routed.context.session_id, "small": small.context.session_id}


def worktree_project(g: Generator) -> tuple[str, str]:
    """A linked worktree, 2.1.39: one long session, a subagent with its own file whose
    requests but the last progress lines echo, a compaction with its agent file."""
    big = g.session(WORKTREE_CWD, "2.1.39", WORKTREE_BRANCH, "2026-02-12T16:02:23")
    big.clock.steps = (1.0, 22.5)
    g.snapshot(big)
    g.hooks_ran(big, "SessionStart", 2)
    agent = g.subagent(big, OPUS, SONNET_45, 12)
    for _ in range(10):
        g.turn(big, OPUS, 7, hooks=10)
        g.system(big, "stop_hook_summary", hookCount=4, hookErrors=[])
    g.compaction(big, OPUS)
    big.add({"type": "queue-operation", "operation": "enqueue",
             "timestamp": big.clock.tick(g.rng), "sessionId": big.context.session_id,
             "content": "<task-notification>done</task-notification>"})
    for _ in range(4):
        g.turn(big, OPUS, 7, hooks=10)
    return big.context.session_id, agent


def old_project(g: Generator) -> None:
    """1.0.x, no branch or `main`: subagent lines inline with isSidechain, a summary line,
    cwds below the project's, a synthetic message."""
    first = g.session(OLD_CWD, "1.0.98", "", "2025-09-03T00:47:19")
    g.turn(first, SONNET_4, 8)
    long = g.session(OLD_CWD, "1.0.98", "", "2025-09-03T00:52:31")
    long.add({"type": "summary", "summary": "Kiosk app: état initial ✓", "leafUuid": g.uuid()})
    g.turn(long, SONNET_4, 12, results=120)
    long.context.cwd = f"{OLD_CWD}/app"
    g.inline_subagent(long, SONNET_4, 6)
    g.turn(long, SONNET_4, 14, results=120)
    long.context.cwd = f"{OLD_CWD}/app/types"
    g.turn(long, SONNET_4, 10, results=120)
    g.synthetic(long)
    long.context.cwd = OLD_CWD
    g.turn(long, SONNET_4, 6)
    inline = g.session(OLD_CWD, "1.0.108", "main", "2025-09-07T09:52:03")
    g.turn(inline, SONNET_4, 3)
    g.inline_subagent(inline, SONNET_4, 5)
    g.turn(inline, SONNET_4, 4)


def newer_project(g: Generator) -> None:
    """What the recorded sessions lack: a flat agent file (2.0.28-2.1.1), a session
    resumed from another, a 2.1.3xx session with cost-state lines and no last newline."""
    first = g.session(NEWER_CWD, "2.0.30", "main", "2025-11-14T10:00:00")
    g.turn(first, SONNET_45, 3, hooks=2)
    g.flat_subagent(first, SONNET_45, HAIKU, 4)
    g.turn(first, SONNET_45, 3, hooks=2)
    resumed = g.session(NEWER_CWD, "2.0.30", "main", "2025-11-15T08:30:00")
    resumed.lines.extend(first.lines)  # --resume began a new file with the old lines
    g.turn(resumed, SONNET_45, 5, hooks=2)
    running_totals(g, g.session(NEWER_CWD, "2.1.328", "main", "2026-01-20T14:00:00"))


def running_totals(g: Generator, file: Transcript) -> None:
    """2.1.3xx: every line of a request carries its final counts; after each turn a
    cost-state line with the session's totals so far; the last line never got its
    newline (the session was cut short)."""
    totals: dict[str, dict[str, int]] = {}
    for model in (OPUS, SONNET_45, OPUS):
        g.user(file)
        for _ in range(3):
            counts = g.counts(6)
            # The totals' cache writes are all 5-minute ones (claude_lines), so the lines' too.
            g.request(file, model, ("thinking", "text"), counts, final_on_every_line=True,
                      one_hour_writes=False)
            known = totals.setdefault(model, dict.fromkeys(FIELDS, 0))
            for name in FIELDS:
                known[name] += counts[name]
        file.lines.append(cost_state_line(file.context.session_id, totals))
    g.user(file)
    g.request(file, OPUS, ("thinking", "text", "text"), final_on_every_line=True)
    file.lines[-1] = file.lines[-1].rstrip(b"\n")
