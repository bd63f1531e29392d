"""Replay a corpus of transcripts (tests/corpora.py) as Claude Code would write them.

The sessions' `cwd` fields are pointed at temporary repositories; everything else in
the files is left as recorded. Files are copied to a temporary Claude config dir at
test time only: the real transcripts never enter the project.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import git, tokentag
from tests.corpora import Corpus

FIELDS = ("input", "output", "cache_creation", "cache_read")


def expected_sessions(corpus: Corpus) -> dict[str, dict[str, int]]:
    """expected.json's totals, which count no progress line, plus the subagent requests
    only progress lines echo: those of subagents whose own file is not in the data."""
    data = json.loads((corpus.root / "expected.json").read_text())
    found = {}
    for session in data["sessions"]:
        extra = progress_only(corpus, session["project_dir"], session["session_id"])
        tokens = {f: session[f] + sum(r[f] for r in extra.values()) for f in FIELDS}
        found[session["session_id"]] = {**tokens, "total": sum(tokens.values())}
    return found


def progress_only(corpus: Corpus, project_dir: str,
                  session_id: str) -> dict[str, dict[str, int]]:
    """An independent count of the requests a session's `agent_progress` lines echo for
    subagents without a file of their own: each (message.id, requestId) once, the largest
    value of each field."""
    found: dict[str, dict[str, int]] = {}
    for key, counts, _, _ in progress_only_lines(corpus, project_dir, session_id):
        known = found.setdefault(key, dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            known[name] = max(known[name], counts[name])
    return found


def progress_only_lines(corpus: Corpus, project_dir: str, session_id: str,
                        ) -> Iterator[tuple[str, dict[str, int], str, str | None]]:
    """(request key, counts, timestamp, branch) of each progress line of a session that
    echoes a request of a subagent whose file is not in the data."""
    source = corpus.projects / project_dir
    with_files = {path.stem.removeprefix("agent-") for path in source.rglob("agent-*.jsonl")}
    for line in (source / f"{session_id}.jsonl").read_bytes().splitlines():
        entry = json.loads(line)
        data = entry.get("data") if entry.get("type") == "progress" else None
        if not isinstance(data, dict) or data.get("type") != "agent_progress" \
                or data.get("agentId") in with_files:
            continue
        inner = data.get("message") or {}
        message = inner.get("message") or {}
        usage = message.get("usage") if inner.get("type") == "assistant" else None
        if usage:
            counts = {f: int(usage.get(name) or 0) for f, name in zip(FIELDS, (
                "input_tokens", "output_tokens", "cache_creation_input_tokens",
                "cache_read_input_tokens"), strict=True)}
            yield (f"{message['id']}/{inner.get('requestId', '')}", counts,
                   inner.get("timestamp") or entry["timestamp"], entry.get("gitBranch"))


def progress_keys(corpus: Corpus, session_id: str) -> set[str]:
    """The keys `progress_only` counts for a session, wherever its project dir."""
    for project_dir in corpus.cwds:
        if (corpus.projects / project_dir / f"{session_id}.jsonl").exists():
            return set(progress_only(corpus, project_dir, session_id))
    return set()


def session_mains(corpus: Corpus, project_dir: str) -> list[Path]:
    """The sessions' own files in a project dir (the flat layout's agent files are not)."""
    return sorted(path for path in (corpus.projects / project_dir).glob("*.jsonl")
                  if not path.name.startswith("agent-"))


def session_files(main: Path) -> list[Path]:
    """A session's own file, its subagents' under `<session>/` and the flat layout's
    agent files beside it whose first line names the session."""
    names_it = f'"sessionId":"{main.stem}"'.encode()
    flat = [path for path in sorted(main.parent.glob("agent-*.jsonl"))
            if names_it in path.read_bytes().split(b"\n", 1)[0]]
    return [main, *sorted(main.with_suffix("").rglob("*.jsonl")), *flat]


@dataclass
class Session:
    """One session's files, rewritten for a temporary repository."""

    session_id: str
    repo: Path
    main: Path
    files: dict[Path, bytes]  # destination path -> full rewritten content

    @property
    def agent_files(self) -> list[Path]:
        return [p for p in self.files if p != self.main]


def prepare(corpus: Corpus, project_dir: str, session_id: str, repo: Path,
            config_dir: Path) -> Session:
    """Rewrite one session's files so their cwd points into `repo`; nothing written yet."""
    source = corpus.projects / project_dir
    target = config_dir / "projects" / str(repo).replace("/", "-").replace("_", "-")
    old = f'"cwd":"{corpus.cwds[project_dir]}'.encode()
    new = f'"cwd":"{repo}'.encode()
    files = {target / path.relative_to(source): path.read_bytes().replace(old, new)
             for path in session_files(source / f"{session_id}.jsonl")}
    return Session(session_id, repo, target / f"{session_id}.jsonl", files)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    return path


def all_sessions(corpus: Corpus, tmp: Path, config_dir: Path) -> list[Session]:
    """Every session of the corpus, each project in its own repository."""
    sessions = []
    for project_dir in corpus.cwds:
        repo = make_repo(tmp / project_dir.strip("-"))
        for main in session_mains(corpus, project_dir):
            sessions.append(prepare(corpus, project_dir, main.stem, repo, config_dir))
    return sessions


def payload_for(session_id: str, transcript: Path, cwd: Path, event: str, **extra: str) -> str:
    return json.dumps({"session_id": session_id, "transcript_path": str(transcript),
                       "cwd": str(cwd), "hook_event_name": event, **extra})


def payload(session: Session, event: str, **extra: str) -> str:
    return payload_for(session.session_id, session.main, session.repo, event, **extra)


def fire(session: Session, event: str, times: int = 1, **extra: str) -> None:
    for _ in range(times):
        result = tokentag("hook", cwd=session.repo, stdin=payload(session, event, **extra))
        assert result.stdout == ""


def write_whole(session: Session) -> None:
    for path, content in session.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def replay_in_chunks(session: Session, chunks: int = 7, times: int = 1) -> None:
    """Grow every file in `chunks` pieces cut mid-line, firing hooks in between, then
    a SubagentStop per subagent file and a Stop, as Claude Code does."""
    for path in session.files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    for step in range(1, chunks + 1):
        for path, content in session.files.items():
            start = cut_mid_line(content, step - 1, chunks)
            end = cut_mid_line(content, step, chunks)
            with path.open("ab") as handle:
                handle.write(content[start:end])
        fire(session, "PostToolUse", times, tool_name="Bash", tool_use_id=f"toolu_{step}")
    for agent in session.agent_files:
        fire(session, "SubagentStop", times, agent_transcript_path=str(agent),
             agent_id=agent.stem.removeprefix("agent-"))
    fire(session, "Stop", times)


def cut_mid_line(content: bytes, step: int, chunks: int) -> int:
    """A position near step/chunks of the content that is never at a line boundary."""
    if step >= chunks:
        return len(content)
    position = len(content) * step // chunks
    while 0 < position < len(content) and content[position - 1:position] == b"\n":
        position += 1
    return position


def session_totals(repo: Path) -> dict[str, dict[str, int]]:
    data = json.loads(tokentag("report", "--by", "session", "--json", cwd=repo).stdout)
    return {row["key"]: row["tokens"] for row in data["rows"]}
