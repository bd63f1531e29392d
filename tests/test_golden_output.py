"""Golden output of the tables people read: `report` (every --by), `log`, `status` and
`show`, at 60, 100 and 160 columns, piped (COLUMNS) and on a pseudo-terminal (its own
size), from each corpus's sessions committed and tagged through the real hooks: the real
recorded ones (tests/golden/output) and the generated ones (tests/golden/output/generated).

TOKENTAG_UPDATE_GOLDEN=1 rewrites the files (then review the diff).
"""

from __future__ import annotations

import os
import pty
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from fcntl import ioctl
from pathlib import Path
from termios import TIOCSWINSZ

import pytest

from tests import replay
from tests.conftest import git
from tests.corpora import Corpus
from tokentag.cli.report import REPORT_GROUPS

GOLDEN = Path(__file__).parent / "golden" / "output"
UPDATE = os.environ.get("TOKENTAG_UPDATE_GOLDEN") == "1"
WIDTHS = (60, 100, 160)
TOKENTAG = str(Path(sys.executable).with_name("tokentag"))


def golden_dir(corpus: Corpus) -> Path:
    return GOLDEN if corpus.name == "real" else GOLDEN / corpus.name


@pytest.fixture(scope="module")
def recorded(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[tuple[Path, dict[str, str]]]:
    """The sessions of every project but the linked worktree's (six real ones), a commit
    after each on fixed dates, two tags, the last session pending; and the environment
    every command here runs in (times shown in Berlin)."""
    base = tmp_path_factory.mktemp("golden")
    home = base / "home"
    env = {**os.environ, "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".state"),
           "XDG_CACHE_HOME": str(home / ".cache"), "GIT_CONFIG_NOSYSTEM": "1",
           "TZ": "Europe/Berlin", "LC_ALL": "C.UTF-8"}
    for name in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{name}_NAME"], env[f"GIT_{name}_EMAIL"] = "Ada Lovelace", "ada@example.com"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        env.pop(name, None)
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # Replay's helpers read os.environ; the tests pass `env`. Restored before the tests,
    # which pytest may interleave with other modules' tests while this fixture lives.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        repo = _record(corpus, base / "repo", home / ".claude", env, patch)
    yield repo, env


def _record(corpus: Corpus, repo: Path, claude: Path, env: dict[str, str],
            patch: pytest.MonkeyPatch) -> Path:
    replay.make_repo(repo)
    subprocess.run([TOKENTAG, "install"], cwd=repo, env=env, check=True, capture_output=True)
    sessions = [replay.prepare(corpus, project, main.stem, repo, claude)
                for project in corpus.cwds if project != corpus.worktree
                for main in replay.session_mains(corpus, project)]
    for number, session in enumerate(sessions):
        replay.write_whole(session)
        replay.fire(session, "Stop")
        if number == len(sessions) - 1:
            break  # the last session stays pending
        stamp = f"2026-02-{12 + number}T{9 + number // 6:02d}:{number % 6}0:00+00:00"
        patch.setenv("GIT_AUTHOR_DATE", stamp)
        patch.setenv("GIT_COMMITTER_DATE", stamp)
        (repo / f"step{number}.txt").write_text(f"{number}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", f"Step {number}: what the session {session.session_id[:8]}"
                                        f" changed, told at length")
        if number in (1, 3):
            git(repo, "tag", f"v1.{number // 2}")
    return repo


def _commands() -> dict[str, list[str]]:
    commands = {f"report-by-{by}": ["report", "--by", by] for by in REPORT_GROUPS}
    commands["report-by-day-breakdown"] = ["report", "--by", "day", "--breakdown"]
    commands.update({"log": ["log", "-n", "8"], "status": ["status"], "show": ["show", "HEAD~2"]})
    return commands


@pytest.mark.parametrize("name", list(_commands()))
def test_golden_output(corpus: Corpus, recorded: tuple[Path, dict[str, str]], name: str) -> None:
    repo, env = recorded
    argv = [TOKENTAG, *_commands()[name]]
    sections = []
    for width in WIDTHS:
        piped = subprocess.run(argv, cwd=repo, env={**env, "COLUMNS": str(width)},
                               capture_output=True, text=True, check=True).stdout
        sections.append((f"{width} columns, piped", piped))
        sections.append((f"{width} columns, terminal", on_terminal(argv, repo, env, width)))
    for title, text in sections:
        width = int(title.split()[0])
        assert all(_cells(line) <= width for line in _plain(text).splitlines()
                   if not line.startswith("ledger:")), title  # a path is printed whole
    check("".join(f"## {title}\n\n{_normal(text, repo)}\n" for title, text in sections),
          golden_dir(corpus) / f"{name}.txt")


def test_no_color_keeps_the_terminal_s_width_and_unicode(
        recorded: tuple[Path, dict[str, str]]) -> None:
    repo, env = recorded
    argv = [TOKENTAG, "report", "--by", "tag"]
    coloured = on_terminal(argv, repo, env, 100)
    plain = on_terminal(argv, repo, {**env, "NO_COLOR": "1"}, 100)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert plain == _plain(coloured) and "─" in plain
    piped = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True,
                           check=True).stdout
    assert "\x1b[" not in piped and "─" not in piped  # plain ASCII for files and pipes


def on_terminal(argv: list[str], cwd: Path, env: dict[str, str], width: int) -> str:
    """What `argv` shows on a pseudo-terminal `width` columns wide."""
    master, slave = pty.openpty()
    ioctl(slave, TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    child = subprocess.Popen(argv, cwd=cwd, env={**env, "TERM": "xterm-256color"},
                             stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child has closed its end
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert child.wait(timeout=60) == 0, output
    return output.decode().replace("\r\n", "\n")


def check(text: str, path: Path) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"differs from {path}"


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _plain(text: str) -> str:
    return _SGR.sub("", text)


def _cells(line: str) -> int:
    from tokentag.cli.output import cells

    return cells(line)


def _normal(text: str, repo: Path) -> str:
    """Paths and the moment of capture vary between runs; escape codes shown as `<ESC>`."""
    text = text.replace(str(repo), "<repo>").replace("\x1b", "<ESC>")
    return re.sub(r"(last capture: +)\S.*", r"\1<when>", text)
