"""`tokentag demo`: the whole pipeline on a built-in sample session, for a user with no data.

Everything happens in a throwaway directory holding a repository, a HOME and a Claude
config dir of its own. Every step is a child process given that environment, so the
user's settings, `~/.claude` and git config are never read or written, and the steps are
the real ones: `tokentag install`, `tokentag hook` fed payloads on stdin as Claude Code
sends them while the sample transcript grows, `git commit` through the installed hooks,
`git tag`, `tokentag release`. The directory is removed afterwards, whatever happened.

The sample (`sample_session.jsonl`, written for this demo: made-up ids, text and counts)
is one session of three prompts; its subagent's lines are marked `isSidechain` and go to
`<session>/subagents/agent-<id>.jsonl`, as Claude Code 2.1 lays them out. Each prompt's
work becomes one commit; tags v0.1.0 and v0.2.0 follow the first and the last.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tokentag.core import claude_paths
from tokentag.core.errors import TokentagError
from tokentag.git import gitcmd

SAMPLE = "sample_session.jsonl"
SAMPLE_CWD = "/home/user/greeter"
SAMPLE_SESSION = "5e1f0c2a-7b3d-4c8e-9a61-2f4d8b0c3e17"
FIRST_TAG = "v0.1.0"
RELEASE_TAG = "v0.2.0"
_TIMEOUT = 120  # seconds per child process: a hung child must not hang the demo forever


@dataclass(frozen=True)
class Step:
    """What the agent produced for one prompt: committed as one commit, maybe tagged."""

    message: str
    files: dict[str, str]
    tag: str | None = None


STEPS: tuple[Step, ...] = (
    Step("Add greet()", {
        "greeter.py": 'def greet(name: str) -> str:\n    """A friendly greeting."""\n'
                      '    return f"Hello, {name}!"\n',
        "README.md": "# greeter\n\n`greet(name)` says hello.\n"}, tag=FIRST_TAG),
    Step("Add tests for greet()", {
        "tests/test_greeter.py": 'from greeter import greet\n\n\ndef test_greet() -> None:\n'
                                 '    assert greet("Ada") == "Hello, Ada!"\n'}),
    Step("Add a command line entry point with --name", {
        "cli.py": 'import argparse\n\nfrom greeter import greet\n\n'
                  'parser = argparse.ArgumentParser()\n'
                  'parser.add_argument("--name", default="world")\n'
                  'print(greet(parser.parse_args().name))\n'}, tag=RELEASE_TAG),
)


@dataclass(frozen=True)
class Line:
    """One sample line, and what the replay needs to know about it."""

    raw: bytes
    agent: str | None  # subagent id: the line goes to that agent's file
    prompt: bool  # a prompt the user typed: starts a turn
    tool_result: str | None  # the tool_use_id this line answers
    tool_uses: dict[str, str] = field(default_factory=dict)  # tool_use id -> tool name


@dataclass
class DemoResult:
    directory: Path
    kept: bool
    commits: str = ""
    release_notes: str = ""
    report: str = ""


def sample_bytes() -> bytes:
    return resources.files("tokentag.setup").joinpath(SAMPLE).read_bytes()


def parse_sample(repo: Path) -> list[Line]:
    """The sample's lines, with the recorded project path pointed at `repo`."""
    escaped = json.dumps(str(repo))[1:-1].encode()
    return [_line(raw.replace(SAMPLE_CWD.encode(), escaped) + b"\n")
            for raw in sample_bytes().splitlines() if raw.strip()]


def _line(raw: bytes) -> Line:
    entry: dict[str, Any] = json.loads(raw)
    message = entry.get("message") if isinstance(entry.get("message"), dict) else {}
    content = message.get("content") if message else None
    blocks = content if isinstance(content, list) else []
    agent = entry.get("agentId") if entry.get("isSidechain") is True else None
    results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
    uses = {b["id"]: b["name"] for b in blocks if b.get("type") == "tool_use"}
    prompt = entry.get("type") == "user" and agent is None and isinstance(content, str)
    return Line(raw, agent, prompt, results[0] if results else None, uses)


def turns(lines: list[Line]) -> list[list[Line]]:
    """Lines before the first prompt join the first turn."""
    found: list[list[Line]] = [[]]
    for line in lines:
        if line.prompt and any(other.prompt for other in found[-1]):
            found.append([])
        found[-1].append(line)
    return found


def chunks(turn: list[Line]) -> Iterator[list[Line]]:
    """Pieces that end where a tool finished: where Claude Code fires PostToolUse."""
    chunk: list[Line] = []
    for line in turn:
        chunk.append(line)
        if line.tool_result is not None or line.prompt:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Sandbox:
    """A temp dir with a repository, a HOME and a Claude config dir, and a way to run there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.config = self.home / ".claude"
        self.repo = root / "greeter"
        self.env = _child_env(self.home)
        self.tokentag = _tokentag_command()

    def run(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            result = subprocess.run(argv, cwd=self.repo, env=self.env, input=stdin, text=True,
                                    capture_output=True, check=False, timeout=_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TokentagError(f"demo: {' '.join(argv[-3:])} failed: {error}") from error
        if result.returncode != 0:
            why = " ".join((result.stderr or result.stdout).split()) or f"exit {result.returncode}"
            raise TokentagError(f"demo: {' '.join(argv[-3:])} failed: {why}")
        return result.stdout

    def tt(self, *args: str, stdin: str | None = None) -> str:
        return self.run([*self.tokentag, *args], stdin)

    def git(self, *args: str) -> str:
        return self.run(["git", *args])


def _tokentag_command() -> list[str]:
    """The console script beside this interpreter, else the module: this very tokentag."""
    script = Path(sys.executable).with_name("tokentag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tokentag"]


def _child_env(home: Path) -> dict[str, str]:
    """The user's environment (PATH and such) with everything that locates their config,
    their Claude data or a repository replaced by the sandbox's own."""
    env = gitcmd.git_env()  # no GIT_DIR & co. leaking in from a surrounding git hook
    env.update({
        "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".state"),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "tokentag demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "tokentag demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    })
    return env


class Replay:
    """Grows the sample transcript as Claude Code would, firing the hooks it would fire."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        project = box.config / "projects" / claude_paths.encode_project(box.repo)
        self.main = project / f"{SAMPLE_SESSION}.jsonl"
        self.tool_names: dict[str, str] = {}
        self.left: Counter[str] = Counter()

    def start(self, lines: list[Line]) -> None:
        self.left.update(line.agent for line in lines if line.agent)
        self.main.parent.mkdir(parents=True, exist_ok=True)
        self.main.touch()  # Claude Code has the file by the time its first hook reads it
        self.hook("SessionStart", source="startup")

    def turn(self, lines: list[Line]) -> None:
        for chunk in chunks(lines):
            finished = self.write(chunk)
            last = chunk[-1]
            if last.prompt:
                self.hook("UserPromptSubmit", prompt="(sample prompt)")
            for agent in finished:
                path = self.agent_file(agent)
                self.hook("SubagentStop", agent_id=agent, agent_transcript_path=str(path),
                          stop_hook_active=False)
            if last.tool_result is not None:
                self.hook("PostToolUse", tool_name=self.tool_names.get(last.tool_result, "Bash"),
                          tool_use_id=last.tool_result, tool_input={}, tool_response={})
        self.hook("Stop", stop_hook_active=False)

    def write(self, chunk: list[Line]) -> list[str]:
        """Append each line to its file; return the subagents whose last line this was."""
        finished: list[str] = []
        for line in chunk:
            self.tool_names.update(line.tool_uses)
            path = self.agent_file(line.agent) if line.agent else self.main
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(line.raw)
            if line.agent:
                self.left[line.agent] -= 1
                if not self.left[line.agent]:
                    finished.append(line.agent)
        return finished

    def agent_file(self, agent: str) -> Path:
        return self.main.with_suffix("") / "subagents" / f"agent-{agent}.jsonl"

    def hook(self, event: str, **extra: Any) -> None:
        payload = {"session_id": SAMPLE_SESSION, "transcript_path": str(self.main),
                   "cwd": str(self.box.repo), "permission_mode": "default",
                   "hook_event_name": event, **extra}
        self.box.tt("hook", stdin=json.dumps(payload))


def run(keep: bool = False, say: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the demo in a new temp dir; remove it afterwards unless `keep`."""
    # realpath: Claude Code and tokentag name projects after the resolved path (macOS /var).
    root = Path(os.path.realpath(tempfile.mkdtemp(prefix="tokentag-demo-")))
    result = DemoResult(root, keep)
    try:
        _run_in(Sandbox(root), result, say)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
            if root.exists():
                say(f"could not remove {root} completely: delete it by hand")
    return result


def _run_in(box: Sandbox, result: DemoResult, say: Callable[[str], None]) -> None:
    say(f"throwaway repository {box.repo}, with its own HOME: your settings are not touched")
    box.home.mkdir()
    box.repo.mkdir()
    box.git("init", "-q")
    box.git("symbolic-ref", "HEAD", "refs/heads/main")  # whatever init.defaultBranch says
    say("$ tokentag install")
    box.tt("install")
    _replay(box, say)
    _check_no_failures(box)
    result.commits = box.git("log", "--reverse", "--format=%h %s%d")
    say(f"$ tokentag release {RELEASE_TAG} --stdout")
    result.release_notes = box.tt("release", RELEASE_TAG, "--stdout")
    result.report = box.tt("report", "--by", "commit")


def _replay(box: Sandbox, say: Callable[[str], None]) -> None:
    lines = parse_sample(box.repo)
    sample_turns = turns(lines)
    if len(sample_turns) != len(STEPS):
        raise TokentagError(f"demo: the sample has {len(sample_turns)} prompts, "
                            f"the demo expects {len(STEPS)}")
    say(f"replaying a sample Claude Code session ({len(STEPS)} prompts, one subagent) "
        f"through `tokentag hook`, committing after each prompt")
    replay = Replay(box)
    replay.start(lines)
    for step, turn in zip(STEPS, sample_turns, strict=True):
        replay.turn(turn)
        _commit(box, step)
        say(f"$ git commit -m {step.message!r}" + (f" && git tag {step.tag}" if step.tag else ""))


def _commit(box: Sandbox, step: Step) -> None:
    for name, text in step.files.items():
        path = box.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    box.git("add", "-A")
    box.git("commit", "-q", "-m", step.message)  # the installed post-commit hook attributes
    if step.tag:
        box.git("tag", step.tag)


def _check_no_failures(box: Sandbox) -> None:
    """Hooks never fail loudly, so a capture problem would only show as wrong numbers."""
    common = Path(box.git("rev-parse", "--git-common-dir").strip())
    log = (common if common.is_absolute() else box.repo / common) / "tokentag" / "tokentag.log"
    if log.exists() and log.read_text(encoding="utf-8", errors="replace").strip():
        first = log.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        raise TokentagError(f"demo: a hook failed: {first}")
