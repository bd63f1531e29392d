"""The transcript corpora the replaying tests run over: the real sessions recorded in
../shared/transcripts, when that directory is there, and the generated ones
(tests/generated_corpus.py), always. Both are laid out as Claude Code keeps transcripts,
with an expected.json of each session's totals, and share a shape the tests rely on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "shared" / "transcripts"
REAL_MISSING = ("needs ../shared/transcripts (the real sessions); generated fixtures cover "
                "the same logic")


@dataclass(frozen=True)
class Corpus:
    """Where a corpus is, the cwds its sessions ran in, and the sessions and counts the
    tests name."""

    name: str
    root: Path  # holds claude/projects/... and expected.json
    cwds: dict[str, str]  # project dir -> the cwd its sessions ran in (or below)
    main: str  # project dir: a checkout on `master`, its sessions on 2026-02-10
    worktree: str  # project dir: a linked worktree on `branch`, on 2026-02-12
    branch: str
    big: str  # the worktree's session: a compaction, subagent files, progress lines
    agent: str  # big's subagent with a file of 12 requests, 11 of them echoed by progress
    small: str  # main's smallest session with tool calls
    routed: str  # a main session with a subagent whose requests only progress lines echo
    files: int  # *.jsonl files
    requests: int  # distinct requests in those files
    progress_copies: int  # requests only progress lines show

    @property
    def projects(self) -> Path:
        return self.root / "claude" / "projects"


REAL = Corpus(
    name="real", root=TRANSCRIPTS,
    cwds={"-home-USER-projects-spotter-worktrees-spotter-dov":
          "/home/USER/projects/spotter-worktrees/spotter-dov",
          "-home-marco-projects-spotter": "/home/marco/projects/spotter",
          "-path-to-Demo": "/path/to/Demo"},
    main="-home-marco-projects-spotter",
    worktree="-home-USER-projects-spotter-worktrees-spotter-dov", branch="spotter-dov",
    big="4d5611e5-241a-462a-8d15-5122611a9569", agent="a2898e3",
    small="d6e0bada-1959-4eec-a9d2-0bfade768d8f",
    routed="491e126e-1e71-469c-ade2-fcc8af567c74",
    files=9, requests=366, progress_copies=5)
