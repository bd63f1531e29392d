"""`tokentag hook` on what a hostile or unlucky machine hands it: it exits 0, prints
nothing, never waits without a bound, reads each byte once, and logs only real failures."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.claude_lines import Session, compact
from tests.conftest import git, tokentag
from tests.test_statusline import status_input
from tokentag.capture import catch_up, transcript
from tokentag.core import faillog
from tokentag.git.gitdirs import find_worktree
from tokentag.ledger.store import Store


def tokentag_exe() -> str:
    return str(Path(sys.executable).with_name("tokentag"))


def totals(repo: Path) -> dict[str, int]:
    report = json.loads(tokentag("report", "--json", cwd=repo).stdout)
    return {k: v for k, v in report["totals"]["tokens"].items()}


def log_of(repo: Path) -> str:
    log = repo / ".git" / "tokentag" / "tokentag.log"
    return log.read_text() if log.exists() else ""


@pytest.fixture
def installed(repo: Path) -> Path:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    return repo


def test_a_git_file_naming_any_dir_makes_no_repository(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "HEAD").write_text("ref: refs/heads/main\n")  # half a git dir, not one
    planted = tmp_path / "cloned"
    planted.mkdir()
    (planted / ".git").write_text(f"gitdir: {elsewhere}\n")
    result = tokentag("status", cwd=planted, check=False)
    assert (result.returncode, result.stderr) == (1, f"tokentag: not a git repository: "
                                                     f"{elsewhere}\n")
    session = Session(planted)
    session.add()
    hooked = tokentag("hook", cwd=planted, stdin=session.payload("Stop"))
    assert hooked.returncode == 0 and hooked.stdout == hooked.stderr == ""
    assert sorted(p.name for p in elsewhere.iterdir()) == ["HEAD"]


def test_an_unterminated_tail_longer_than_a_line_can_be_is_read_once_and_skipped(
        tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    session = Session(tmp_path)
    usage = session.request_lines()
    path.write_bytes(usage + b'{"type":"user","toolUseResult":"' + b"x" * 5000)
    lines = transcript.Lines(path, 0, limit=1000)
    assert [line + b"\n" for line, _ in lines] == usage.splitlines(keepends=True)
    assert lines.end == path.stat().st_size  # past the huge tail: never read again
    more = session.request_lines()
    with path.open("ab") as handle:
        handle.write(b'"}\n' + more)
    again = transcript.Lines(path, lines.end, limit=1000)
    found = [line for line, _ in again]
    assert found[0] == b'"}'  # the tail of the skipped line: no request
    assert transcript.parse_request(found[0]) is None
    assert [line + b"\n" for line in found[1:]] == more.splitlines(keepends=True)
    assert again.end == path.stat().st_size


def test_a_long_line_that_ends_within_one_read_is_skipped_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    session = Session(tmp_path)
    usage = session.request_lines()
    path.write_bytes(b'{"type":"user","x":"' + b"y" * 5000 + b'"}\n' + usage)
    lines = transcript.Lines(path, 0, limit=1000)
    assert [line + b"\n" for line, _ in lines] == usage.splitlines(keepends=True)


def test_a_fifo_named_like_a_subagent_file_does_not_hold_up_the_stop_hook(
        installed: Path) -> None:
    session = Session(installed)
    session.add()
    subagents = session.path.with_suffix("") / "subagents"
    subagents.mkdir(parents=True)
    os.mkfifo(subagents / "agent-fifo.jsonl")
    os.mkfifo(session.path.parent / "agent-flat.jsonl")
    result = subprocess.run([tokentag_exe(), "hook"], cwd=installed, capture_output=True,
                            input=session.payload("Stop").encode(), timeout=30, check=False)
    assert result.returncode == 0 and result.stdout == result.stderr == b""
    assert totals(installed) == session.totals()


def test_a_hook_started_with_stdin_closed_exits_0_silently(installed: Path) -> None:
    result = subprocess.run(f"{tokentag_exe()} hook <&-", shell=True, cwd=installed,
                            capture_output=True, timeout=30, check=False)
    assert result.returncode == 0 and result.stdout == result.stderr == b""


def test_a_payload_beyond_the_limit_is_drained_so_the_writer_never_fails(
        installed: Path) -> None:
    huge = b'{"cwd":"' + str(installed).encode() + b'","x":"' + b"a" * (17 << 20) + b'"}'
    process = subprocess.Popen([tokentag_exe(), "hook"], cwd=installed, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(huge, timeout=60)  # BrokenPipeError here if not drained
    assert process.returncode == 0 and out == err == b""
    user_log = Path(faillog.log_dirs(None)[0], faillog.LOG_NAME)  # no cwd read: no repository
    assert "payload larger than" in user_log.read_text()


@pytest.mark.parametrize("field", ["cwd", "transcript_path", "session_id"])
def test_a_lone_surrogate_in_the_payload_is_logged_not_a_crash(installed: Path,
                                                               field: str) -> None:
    session = Session(installed)
    session.add()
    payload = json.loads(session.payload("Stop"))
    payload[field] = payload[field] + "\ud800"
    body = json.dumps(payload)  # ASCII, with the escape \ud800 in it
    result = tokentag("hook", cwd=installed, stdin=body)
    assert result.returncode == 0 and result.stdout == result.stderr == ""


def test_hooks_before_the_transcript_exists_are_not_failures(installed: Path) -> None:
    """SessionStart and UserPromptSubmit fire before Claude Code writes the file, and a
    compaction's SubagentStop names an agent file that is never written."""
    session = Session(installed)
    session.hook("SessionStart", source="startup")
    session.hook("UserPromptSubmit", prompt="hi")
    session.add()
    missing = session.path.with_suffix("") / "subagents" / "agent-acompact-1.jsonl"
    session.hook("SubagentStop", agent_id="acompact-1", agent_transcript_path=str(missing))
    session.hook("Stop")
    assert log_of(installed) == ""
    assert totals(installed) == session.totals()
    status = json.loads(tokentag("status", "--json", cwd=installed).stdout)
    assert status["logged_failures"] == 0


def test_a_byte_that_is_not_utf8_in_a_lines_text_costs_nothing(installed: Path) -> None:
    session = Session(installed)
    lines = session.request_lines()
    session.append(lines.replace(b'"text":"block 0"', b'"text":"caf\xe9 \xff"'))
    session.hook("Stop")
    assert totals(installed) == session.totals()


def test_capture_attribution_and_release_work_in_any_locale(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """ASCII as the locale's encoding, and a repository path and texts that are not ASCII."""
    repo = tmp_path / "répo ünïcode"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setenv("PYTHONUTF8", "0")
    session = Session(repo)
    accented = b'"text":"\xc3\xa9t\xc3\xa9"'
    session.append(session.request_lines().replace(b'"text":"block 0"', accented))
    session.hook("Stop")
    (repo / "fichier.txt").write_text("é")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Ajoute l'été ☀")
    shown = json.loads(tokentag("show", "--json", cwd=repo).stdout)
    assert shown["tokens"] == session.totals() and shown["source"] == "ledger"
    notes = tokentag("release", "v1", "--stdout", cwd=repo).stdout
    assert "Ajoute l'été ☀" in notes and "1 request" in notes
    assert log_of(repo) == ""


def test_a_final_line_without_its_newline_counts_once_the_file_is_final(tmp_path: Path) -> None:
    session = Session(tmp_path)
    whole = session.request_lines()
    last = whole.rstrip(b"\n")  # a session cut short: its last line never got its newline
    path = tmp_path / "t.jsonl"
    path.write_bytes(last)
    written = [line for line, _ in transcript.Lines(path, 0)]
    assert written == last.split(b"\n")[:-1]  # the last one still being written, it seems
    final = transcript.Lines(path, 0, final=True)
    assert [line for line, _ in final] == last.split(b"\n")
    assert final.end == len(last)
    path.write_bytes(last[:-5])  # torn for good: not a whole object, so not taken
    assert list(transcript.Lines(path, 0, final=True)) == [
        (line, offset) for line, offset in transcript.Lines(path, 0)]


def test_import_counts_the_unterminated_last_request_of_an_old_transcript(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    session = Session(repo)
    session.add()
    session.append(session.request_lines().rstrip(b"\n"))
    old = session.path.stat().st_mtime - 3600  # untouched for an hour: the session is over
    os.utime(session.path, (old, old))
    tokentag("import", cwd=repo)
    assert totals(repo) == session.totals()


def test_import_routes_no_request_by_a_relative_cwd(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    session = Session(repo)
    session.add()
    relative = session.request_lines().replace(f'"cwd":"{repo}"'.encode(), b'"cwd":"."')
    session.append(relative)
    summary = json.loads(tokentag("import", "--json", cwd=repo).stdout)
    assert summary["new"] == 1 and summary["other_repository"] == 1


def test_a_held_lock_makes_the_hook_wait_a_bounded_time_and_lose_nothing(
        installed: Path) -> None:
    """Another process holds the ledger's lock (a stopped import, a hook on a slow disk)."""
    session = Session(installed)
    session.add()
    lock = installed / ".git" / "tokentag" / "lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        result = subprocess.run([tokentag_exe(), "hook"], cwd=installed, text=True,
                                input=session.payload("PostToolUse"), capture_output=True,
                                timeout=catch_up.LOCK_WAIT + 30, check=False)
        waited = time.monotonic() - started
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert catch_up.LOCK_WAIT <= waited < catch_up.LOCK_WAIT + 10
    assert "stayed locked" in log_of(installed)
    session.hook("Stop")  # the lock is free again: nothing was lost
    assert totals(installed) == session.totals()


def test_requests_for_a_repository_that_cannot_take_them_do_not_hold_the_cursor_back(
        installed: Path, tmp_path: Path) -> None:
    """The session `cd`s into another repository whose tokentag dir cannot be made."""
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / ".git" / "tokentag").write_text("a file where the dir would go")
    session = Session(installed)
    session.add()
    elsewhere = Session(other, session_id=session.session_id)
    session.append(elsewhere.request_lines())
    session.hook("Stop")
    assert totals(installed) == session.totals()  # this repository's request only
    assert "not recorded" in log_of(installed) and str(other) in log_of(installed)
    with Store.of(find_worktree(installed)).reading() as index:  # type: ignore[arg-type]
        cursor = index.cursors_of([str(session.path)]).get(str(session.path))
    assert cursor is not None and cursor.offset == session.path.stat().st_size


def _with_ids(lines: bytes, message_id: str, request_id: str) -> bytes:
    entries = [json.loads(line) for line in lines.splitlines()]
    for entry in entries:
        entry["message"]["id"], entry["requestId"] = message_id, request_id
    return b"".join(compact(entry) for entry in entries)


@pytest.mark.parametrize("reader", ["hook", "import"])
def test_ids_that_join_to_the_same_text_are_two_requests(installed: Path, reader: str) -> None:
    session = Session(installed)
    first = _with_ids(session.request_lines(output=100), "msg_a/b", "c")
    second = _with_ids(session.request_lines(output=7), "msg_a", "b/c")
    session.append(first + second)
    if reader == "hook":
        session.hook("Stop")
    else:
        tokentag("import", cwd=installed)
    assert totals(installed) == session.totals()
    log = json.loads(tokentag("log", "--json", cwd=installed).stdout)["requests"]
    keys = {row["request"] for row in log}
    assert keys == {"msg_a%2Fb/c", "msg_a/b%2Fc"}


def test_counts_no_request_can_have_never_overflow_the_sums(installed: Path) -> None:
    """Two counts of 2^63 - 1 once overflowed SQLite's sum(): every report failed for good.
    A count of 2^32 or more is no count, in a transcript and in the ledger file alike."""
    session = Session(installed)
    session.add(input=2**63 - 1)
    session.add(input=2**32)
    session.hook("Stop")
    ledger = installed / ".git" / "tokentag" / "ledger.jsonl"
    line = json.loads(ledger.read_bytes().splitlines()[-1])
    with ledger.open("ab") as out:  # a hand-edited ledger line
        out.write(compact({**line, "key": "msg_x/req_x", "output": 2**63 - 1}))
    session.requests = {key: {**counts, "input": 0} for key, counts in session.requests.items()}
    for command in (["report", "--by", "model"], ["status"], ["release", "v1", "--stdout"]):
        tokentag(*command, cwd=installed)
    assert totals(installed) == session.totals()
    status = tokentag("status", "--json", cwd=installed).stdout
    assert json.loads(status)["invalid_lines"] == 1


def _read_only_run(directory: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`tokentag command` with `directory` mounted read-only in a mount namespace of its own."""
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(directory),
                           tokentag_exe(), *command], cwd=cwd, capture_output=True, text=True)


def _read_only_mounts_work(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        result = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" '
                                 '&& ! touch "$1/x" 2>/dev/null', "sh", str(probe)],
                                capture_output=True)
    except FileNotFoundError:
        return False
    return result.returncode == 0


@pytest.mark.parametrize("command", [["report", "--json"], ["report", "--by", "day", "--json"],
                                     ["status", "--json"], ["log", "--json"], ["show", "--json"],
                                     ["release", "v1", "--json"], ["pending", "--json"]])
def test_a_read_only_tokentag_dir_is_read_not_a_crash(installed: Path, tmp_path: Path,
                                                      command: list[str]) -> None:
    if not _read_only_mounts_work(tmp_path):
        pytest.skip("needs a read-only bind mount: unshare -m and mount (root)")
    session = Session(installed)
    session.add()
    session.hook("Stop")
    (installed / "f").write_text("x")
    git(installed, "add", "f")
    git(installed, "commit", "-q", "-m", "x")
    session.add()
    session.hook("Stop")
    directory = installed / ".git" / "tokentag"
    ledger = directory / "ledger.jsonl"
    line = json.loads(ledger.read_bytes().splitlines()[-1])  # appended by someone else since
    with ledger.open("ab") as out:                           # the index was last brought up
        out.write(compact({**line, "key": "msg_late/req_late", "message_id": "msg_late",
                           "request_id": "req_late"}))
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    read_only = _read_only_run(directory, *command, cwd=installed)
    assert read_only.returncode == 0 and read_only.stderr == ""
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    assert read_only.stdout == tokentag(*command, cwd=installed).stdout
    assert _read_only_run(directory, "report", "--json", cwd=installed).stdout == \
        tokentag("report", "--json", cwd=installed).stdout


def test_a_repository_path_that_is_not_utf8_is_captured_and_attributed(tmp_path: Path) -> None:
    """Claude Code (Node.js) writes such a path's cwd with U+FFFD for the bytes that are not
    UTF-8: tokentag finds the directory those names stand for."""
    real = os.path.join(os.fsencode(tmp_path), b"caf\xe9 \xff")
    os.mkdir(real)
    repo = Path(os.fsdecode(real))
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    session = Session(Path(real.decode("utf-8", "replace")))
    session.add()
    hooked = tokentag("hook", cwd=repo, stdin=session.payload("Stop"))
    assert (hooked.stdout, hooked.stderr) == ("", "")
    assert totals(repo) == session.totals()
    (repo / "f").write_text("x")
    git(repo, "add", "f")
    git(repo, "commit", "-q", "-m", "x")
    shown = json.loads(tokentag("show", "--json", cwd=repo).stdout)
    assert shown["tokens"] == session.totals()
    tokentag("import", cwd=repo)  # the same requests, from the transcript's own cwd lines
    assert totals(repo) == session.totals() and log_of(repo) == ""


# Modules the hook paths import that are not built into the interpreter.
STANDARD_NAMES = ("contextlib", "fcntl", "errno", "_json", "__future__", "collections",
                  "functools", "operator", "encodings")


def test_no_file_at_the_repositorys_top_stands_in_for_a_standard_module(
        repo: Path, isolated_home: Path) -> None:
    """The commands tokentag registers run inside the repository, and one just cloned may
    hold a `contextlib.py`: neither a hook, a commit nor the status line may run it."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", "--statusline", cwd=repo)
    ran = repo.parent / "ran"
    for name in STANDARD_NAMES:
        (repo / f"{name}.py").write_text(f"open({str(ran)!r}, 'a').write({name!r})\n")
    settings = json.loads((isolated_home / ".claude" / "settings.json").read_text())
    [hook] = settings["hooks"]["Stop"][0]["hooks"]
    session = Session(repo)
    session.add()
    shells = [(hook["command"], session.payload("Stop")),
              (settings["statusLine"]["command"], status_input(repo, session))]
    # A project's Claude Code settings may set PYTHONPATH for its hooks (`env`).
    env = {**os.environ, "PYTHONPATH": str(repo)}
    for command, payload in shells:
        result = subprocess.run(["sh", "-c", command], cwd=repo, input=payload, text=True,
                                capture_output=True, timeout=60, check=False, env=env)
        assert (result.returncode, result.stderr) == (0, "")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a commit through the installed hooks")
    assert not ran.exists()
    assert totals(repo) == session.totals()
    assert git(repo, "notes", "--ref", "tokentag", "list", "HEAD").strip()
    assert log_of(repo) == ""
