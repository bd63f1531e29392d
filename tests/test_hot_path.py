"""The hook paths' imports, and the stand-ins that keep costly modules off them: fastjson
against the `json` module on every line of each corpus of transcripts, now_iso and
epoch_of against `datetime`."""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.claude_lines import Session
from tests.conftest import cli_json, git, tokentag
from tests.corpora import Corpus
from tokentag.capture import transcript
from tokentag.capture.catch_up import request_record
from tokentag.cli import report as report_cli
from tokentag.core import fastjson, timefmt
from tokentag.core.errors import TokentagError
from tokentag.core.timefmt import epoch_of, now_iso, parse_iso
from tokentag.core.tuples import tuple_type
from tokentag.git import gitcmd
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.importer import run
from tokentag.importer.options import Options
from tokentag.notes.content import note_text
from tokentag.release import report_rows
from tokentag.report import grouping, workitems

ROOT = Path(__file__).resolve().parents[1]


def transcript_lines(corpus: Corpus) -> list[bytes]:
    files = sorted(corpus.projects.rglob("*.jsonl"))
    lines = [line for path in files for line in path.read_bytes().splitlines() if line]
    assert len(lines) > 1000  # every session, subagents included
    return lines


def outcome(parse: object, data: object) -> str:
    """What a parser makes of `data`: the value, or the error it raises and its message
    (as text: NaN is not equal to itself)."""
    try:
        return f"value {parse(data)!r}"  # type: ignore[operator]
    except Exception as error:  # noqa: BLE001 - the error is the result compared
        return f"error {type(error)} {error}"


def test_every_transcript_line_parses_as_json_parses_it(corpus: Corpus) -> None:
    for line in transcript_lines(corpus):
        assert fastjson.loads(line) == json.loads(line)
        assert fastjson.loads(line.decode()) == json.loads(line.decode())


@pytest.mark.parametrize("data", [
    b'{"type":"assistant","message":{"usage":{"input_tokens":3', b"", b"  \n", b"\n{}\n",
    b' {"a": [1, 2.5e3, -0, null, true]} ', b'{"a":1} trailing', b'{"a":1}{"b":2}',
    b"\xef\xbb\xbf{\"a\":1}", b'{"a":"\xff"}', '{"a":"é"}'.encode("utf-16"),
    b'{"a":NaN,"b":-Infinity}', b'{"a":"\x01"}', b'"text"', b"12", b"[", b"nul",
    "{\"café\":\"\\u00e9\\ud83d\\ude00\"}".encode(),
    '{"a":"\udcff"}'.encode(errors="surrogatepass"),
])
def test_odd_and_broken_input_gets_json_s_value_or_json_s_error(data: bytes) -> None:
    assert outcome(fastjson.loads, data) == outcome(json.loads, data)
    for other_type in (bytearray(data), memoryview(data)):
        assert outcome(fastjson.loads, other_type) == outcome(json.loads, other_type)
    text = data.decode(errors="replace")
    assert outcome(fastjson.loads, text) == outcome(json.loads, text)


def test_records_and_notes_encode_byte_for_byte_as_json_does(corpus: Corpus) -> None:
    tree = Worktree("/work/ünïcode tree", "/work/ünïcode tree/.git", "/work/ünïcode tree/.git")
    records = [request_record(request, tree, "/t/s.jsonl", "2026-01-01T00:00:00.000Z", "hook")
               for line in transcript_lines(corpus)
               if (request := transcript.parse_request(line)) is not None]
    assert len(records) > corpus.requests  # a line per content block of each request
    odd: list[object] = [{"f": 0.1, "g": 1e300, "h": -0.0, "s": 'q"\\\n\t\u2028😀', "n": None},
                         "text", 7, [], {}, {"z": 1, "a": [{"y": True, "b": False}]}]
    for value in [*records, *odd]:
        assert fastjson.dumps(value) == json.dumps(value, separators=(",", ":"),
                                                   ensure_ascii=False)
        assert fastjson.dumps(value, sort_keys=True, separators=fastjson.SPACED) == \
            json.dumps(value, sort_keys=True, ensure_ascii=False)
        assert fastjson.dumps(value, sort_keys=True, separators=fastjson.SPACED,
                              ensure_ascii=True) == json.dumps(value, sort_keys=True)
    # Notes are what `json.dumps(note, sort_keys=True)` has always written: `sync` compares
    # blobs, and one escaped differently would look like a changed note.
    note = {"b": 1, "a": ["é", "claude-ü"], "session_ids": ["s😀"]}
    assert note_text(note) == json.dumps(note, sort_keys=True) + "\n"


def test_what_json_cannot_encode_fails_as_json_fails() -> None:
    for value in ({"p": Path("/x")}, {1.5: "float key"}, {"c": {1, 2}}):
        assert outcome(fastjson.dumps, value) == outcome(
            lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False), value)


# Each costs milliseconds on every commit and every tool call (bench/README.md); the
# third-party ones tens of milliseconds (GitPython about 80, tokentag/git/__init__.py).
# `functools` and `collections`: core/lean_sqlite.py and core/tuples.py. The index's read
# side is 0.2 ms that only reading commands need.
COSTLY = ("re", "pathlib", "json", "typing", "dataclasses", "subprocess", "datetime",
          "contextlib", "functools", "collections", "tokentag.ledger.reads", "git", "click",
          "pydantic", "genai_prices")


def costly_after(code: str, *, site: bool = False, cwd: Path | None = None,
                 stdin: str = "") -> tuple[list[str], list[str]]:
    """What `code` printed and the costly modules in sys.modules after it ran in a fresh
    interpreter: with -S (no site-packages on the path) unless `site`, which the
    third-party ones need for their absence to mean anything."""
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}\n"
              f"print(' '.join(m for m in {COSTLY!r} if m in sys.modules))")
    flags = [] if site else ["-S"]
    lines = subprocess.run([sys.executable, *flags, "-c", script], capture_output=True,
                           text=True, check=True, cwd=cwd, input=stdin).stdout.splitlines()
    return lines[:-1], lines[-1].split()


# Coverage's own .pth (which newer coverage wheels install) would start coverage, and
# its imports, in the site-enabled interpreter: measured, the hook paths never run so.
@pytest.mark.without_coverage
@pytest.mark.parametrize("module", ["tokentag.attribution.git_hook", "tokentag.capture.hook",
                                    "tokentag.capture.codex_notify"])
def test_the_hook_paths_import_none_of_the_costly_modules(module: str) -> None:
    assert costly_after(f"import {module}") == ([], [])
    assert costly_after(f"import {module}", site=True) == ([], [])


def entry_run(*args: str, collector: bool = False) -> str:
    """Code that runs the console script's entry with `args`, printing its exit status
    (and with `collector`, whether the cyclic garbage collector was on at the end)."""
    said = "'exit', code, 'gc', __import__('gc').isenabled()" if collector else "'exit', code"
    return ("import sys\nfrom tokentag import _entry\n"
            f"def stop(code):\n    print({said})\n    raise SystemExit\n"
            f"_entry.exit_now = stop\nsys.argv = ['tokentag', *{args!r}]\n"
            "try:\n    _entry.main()\nexcept SystemExit:\n    pass")


@pytest.mark.without_coverage
def test_the_lean_paths_run_without_the_cyclic_collector_and_the_cli_with_it(
        repo: Path) -> None:
    """A hook lives for milliseconds and ends in os._exit: the collector's passes over what
    its imports make would cost it about 1 ms, to free what the exit frees. A command a
    person runs may run long (a server, an import) and keeps the collector."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    tokentag("import", cwd=repo)  # a repeated one is answered on the quick path
    payload = json.dumps({"cwd": str(repo), "transcript_path": str(repo / "none.jsonl"),
                          "hook_event_name": "PostToolUse", "session_id": "s"})
    notify = json.dumps({"type": "agent-turn-complete", "thread-id": "none", "cwd": str(repo)})
    for args, stdin in ((["hook"], payload), (["git-hook", "post-commit"], ""),
                        (["statusline"], payload), (["codex-notify", notify], ""),
                        (["import"], "")):
        printed, _ = costly_after(entry_run(*args, collector=True), site=True, cwd=repo,
                                  stdin=stdin)
        assert printed[-1] == "exit 0 gc False", args
    printed, _ = costly_after(entry_run("status", "--json", collector=True), site=True,
                              cwd=repo)
    assert printed[-1] == "exit 0 gc True" and json.loads("\n".join(printed[:-1]))


@pytest.mark.without_coverage
def test_codex_s_notify_runs_on_the_lean_path(repo: Path) -> None:
    """Codex runs it after every turn: the entry's dispatch, without click, and a capture
    that imports nothing costly either."""
    payload = ('{"type":"agent-turn-complete","thread-id":"none","cwd":' f'"{repo}"' "}")
    assert costly_after(entry_run("codex-notify", payload), site=True, cwd=repo) == (
        ["exit 0"], [])


def test_the_pre_push_hook_decides_without_gitpython(repo: Path, tmp_path: Path) -> None:
    """It runs inside the push, which waits: only the detached sync it starts may pay
    for GitPython."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    git(repo, "notes", "--ref", "tokentag", "add", "-m", "{}", "HEAD")
    pushed = f"refs/heads/main {git(repo, 'rev-parse', 'HEAD')} refs/heads/main {'0' * 40}\n"
    code = ("from tokentag.attribution import git_hook\n"
            "from tokentag.notes import sync\n"
            "sync.start_background = lambda argv, cwd: print('would start', *argv[1:])\n"
            "git_hook.run(['pre-push', 'origin', 'url'])")
    printed, loaded = costly_after(code, site=True, cwd=repo, stdin=pushed)
    assert printed == ["would start -E -P -m tokentag.notes.sync origin"]  # it went all the way
    assert not {"git", "click", "pydantic", "genai_prices"} & set(loaded)


def test_now_iso_is_datetime_s_utc_now_in_milliseconds() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = now_iso()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert before <= datetime.fromisoformat(stamp) <= after


def stamps(count: int) -> list[str]:
    """Time stamps in the written form, odd dates and fractions among them, and a few
    that only look like it."""
    rng = random.Random(7)
    made = ["2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00Z", "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999999Z",
            "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567Z",
            "2026-01-01T24:00:00Z", "2026-1-01T00:00:00.000Z", "2026-01-01 00:00:00.000Z",
            "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:00", "2026-01-01",
            "2026-01-01T00:00:0٣.000Z", "2026-01-01T00:00:00.-12Z", ""]
    for _ in range(count):
        year = rng.choice([rng.randint(1, 9999), rng.randint(1969, 2101)])
        fraction = rng.choice(["", ".5", ".25", f".{rng.randint(0, 999):03d}",
                               f".{rng.randint(0, 999_999):06d}"])
        made.append(f"{year:04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}T"
                    f"{rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:"
                    f"{rng.randint(0, 60):02d}{fraction}Z")
    return made


def test_the_written_form_is_read_as_datetime_reads_it() -> None:
    """Without datetime, as on the hook paths; with it, epoch_of is datetime's."""
    for stamp in stamps(50_000):
        moment = parse_iso(stamp)
        expected = moment.timestamp() if moment else None
        assert timefmt._written_form_epoch(stamp) in (expected, None), stamp
        written = stamp[10:11] == "T" and stamp[-1:] == "Z" and len(stamp) in (20, *range(22, 28))
        if written and expected is not None:
            assert timefmt._written_form_epoch(stamp) == expected, stamp
        assert epoch_of(stamp) == expected, stamp


def test_a_commit_that_takes_requests_runs_on_the_lean_path(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    tokentag("install", cwd=repo)
    session = Session(repo)
    session.add()
    session.hook()
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", "two")
    code = ("from tokentag.attribution import git_hook\n"
            "print(git_hook.run(['post-commit']))")
    assert costly_after(code, cwd=repo) == (["0"], [])
    assert git(repo, "notes", "--ref", "tokentag", "list", "HEAD").strip()


def test_a_hook_that_captures_runs_on_the_lean_path(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    session = Session(repo)
    session.add()
    code = "from tokentag.capture import hook\nprint(hook.run())"
    assert costly_after(code, cwd=repo, stdin=session.payload("PostToolUse")) == (["0"], [])
    logged = cli_json(repo, "log", "--all")["requests"]
    assert [row["session"] for row in logged] == [session.session_id]


def test_output_of_gives_what_run_gives_and_git_s_error_when_it_fails(repo: Path,
                                                                       tmp_path: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    git(repo, "branch", "feature/x")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = ("for-each-ref", "--format=%(objectname) %(refname:short)", "refs/heads/")
    assert gitcmd.output_of(repo, scratch, *args) == gitcmd.run(repo, *args)
    assert len(gitcmd.output_of(repo, scratch, *args).splitlines()) == 2
    with pytest.raises(TokentagError, match=r"git rev-parse failed: fatal: "):
        gitcmd.output_of(repo, scratch, "rev-parse", "--verify", "no-such-ref")
    assert gitcmd.output_of(repo, scratch, "rev-parse", "--verify", "no-such-ref",
                            check=False) == ""
    assert list(scratch.iterdir()) == []  # no error file left behind
    missing = tmp_path / "not yet made"  # a repository no tokentag command has written to
    assert gitcmd.output_of(repo, missing, *args) == gitcmd.run(repo, *args)


def through_click(*args: str, cwd: Path) -> list[str]:
    """What the command line prints for `args`, its click command run whatever the entry
    would do."""
    code = f"import sys; sys.argv = ['tokentag', *{args!r}]\nfrom tokentag.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=cwd).stdout.splitlines()


@pytest.mark.without_coverage
def test_a_repeated_import_that_finds_nothing_new_answers_on_the_lean_path(repo: Path) -> None:
    """Without click or the reading modules, and as the command line answers; anything
    new, a transcript that grew or a branch that moved, goes the whole way."""
    before = {**os.environ, "GIT_COMMITTER_DATE": "@1700000000 +0000"}  # before every request
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "root"],
                   check=True, env=before)
    session = Session(repo)  # its requests stay pending: no commit follows them yet
    session.add()
    tokentag("import", cwd=repo)
    for args in (["import"], ["import", "--json"]):
        assert costly_after(entry_run(*args), site=True, cwd=repo) == (
            [*through_click(*args, cwd=repo), "exit 0"], [])
    assert cli_json(repo, "import")["files"] == 1
    session.add()
    printed, loaded = costly_after(entry_run("import", "--json"), site=True, cwd=repo)
    assert json.loads("\n".join(printed[:-1]))["new"] == 1 and "click" in loaded
    git(repo, "commit", "-q", "--allow-empty", "-m", "takes them")  # the branch moved
    printed, loaded = costly_after(entry_run("import", "--json"), site=True, cwd=repo)
    assert "click" in loaded and json.loads("\n".join(printed[:-1]))["inferred"] == 2
    assert costly_after(entry_run("import"), site=True, cwd=repo)[1] == []  # settled again
    git(repo, "commit", "-q", "--allow-empty", "-m", "with nothing pending")
    assert "click" in costly_after(entry_run("import"), site=True, cwd=repo)[1]
    assert costly_after(entry_run("import"), site=True, cwd=repo)[1] == []


def test_an_import_with_work_takes_the_plan_its_check_made(repo: Path) -> None:
    """Once, and for the same import only: listing thousands of transcripts twice would
    cost it tens of milliseconds."""
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    session = Session(repo)
    worktree = find_worktree(repo)
    assert worktree is not None

    def sizes(options: Options) -> list[int]:
        return [job.size for job in run.plan_for(worktree, options).jobs]

    session.add()
    assert run.nothing_new(worktree) is None  # the transcript is new
    checked = session.path.stat().st_size
    session.add()  # after the check
    assert sizes(Options()) == [checked] and sizes(Options()) == [session.path.stat().st_size]
    assert run.nothing_new(worktree) is None
    session.add()
    grown = session.path.stat().st_size
    assert sizes(Options(all_projects=True)) == [grown] and sizes(Options()) == [grown]


def test_a_repeated_import_with_nowhere_to_print_ends_as_the_command_line_does(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    Session(repo).add()
    tokentag("import", cwd=repo)
    exe = Path(sys.executable).with_name("tokentag")
    read_end, write_end = os.pipe()
    os.close(read_end)  # `tokentag import | head` once head has gone
    ended = subprocess.run([str(exe), "import"], cwd=repo, stdout=write_end,
                           capture_output=False, stderr=subprocess.PIPE, check=False)
    os.close(write_end)
    assert (ended.returncode, ended.stderr) == (1, b"")
    closed = subprocess.run(["sh", "-c", f"'{exe}' import >&-"], cwd=repo, capture_output=True,
                            check=False)  # started with no stdout at all: nothing to say
    assert (closed.returncode, closed.stderr) == (0, b"")


def test_a_summary_prints_as_json_prints_it() -> None:
    for value in ({}, {"files": 3, "new": 0}, {"é\"\n": "\u2028", "n": None, "x": 1.5}):
        assert fastjson.dumps_flat_indented(value) == json.dumps(value, indent=2)


@pytest.mark.without_coverage
def test_the_cli_imports_only_what_its_command_needs() -> None:
    """A repeated `tokentag import` is mostly start-up: the CLI module must not pull in
    the report, pricing or index modules before a command asks for them."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tokentag.cli; "
            "print(' '.join(m for m in ('tokentag.report.grouping', 'tokentag.report.queries', "
            "'tokentag.ledger.index', 'tokentag.report.costs', 'pydantic', 'genai_prices', "
            "'traceback', 'tokentag.cli.report', 'tokentag.cli.import_') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []
    assert [*grouping.GROUP_KEYS, "tag", *workitems.WORK_ITEM_KEYS] == \
        list(report_cli.REPORT_GROUPS)
    assert report_cli.WORK_ITEM_GROUPS == workitems.WORK_ITEM_KEYS
    assert report_cli.REPOSITORY == report_rows.REPOSITORY
    assert report_rows.WORK_ITEM_KEYS == workitems.WORK_ITEM_KEYS


@pytest.mark.parametrize("closed", ["1", "2"])
def test_a_hook_started_without_stdout_or_stderr_still_exits_0(closed: str,
                                                                tmp_path: Path) -> None:
    """The entry flushes the streams itself before os._exit; a closed one is None."""
    script = tmp_path / "run.sh"
    script.write_text(f'"{sys.executable}" -c "from tokentag._entry import main; main()" '
                      f'hook {closed}>&- < /dev/null\n')
    result = subprocess.run(["sh", str(script)], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_a_tuple_type_behaves_as_the_namedtuple_it_stands_for() -> None:
    from collections import namedtuple

    theirs = namedtuple("Point", ("x", "y", "label"), defaults=("none",))
    ours = tuple_type("Point", ("x", "y", "label"), defaults=("none",))
    for args, kwargs in (((1, 2), {}), ((1,), {"y": 2}), ((), {"x": 1, "y": 2, "label": "a"}),
                         ((1, 2, "b"), {})):
        expected, made = theirs(*args, **kwargs), ours(*args, **kwargs)
        assert made == expected and hash(made) == hash(expected) and tuple(made) == expected
        assert (made.x, made.y, made.label) == (expected.x, expected.y, expected.label)
        assert repr(made) == repr(expected) and made._asdict() == expected._asdict()
        assert made._replace(y=5) == expected._replace(y=5)
        assert type(made._replace(y=5)) is ours
    assert ours._fields == theirs._fields and ours.__match_args__ == theirs.__match_args__
    assert ours._field_defaults == theirs._field_defaults
    for args, kwargs in (((), {}), ((1,), {}), ((1, 2, 3, 4), {}), ((1, 2), {"x": 1}),
                         ((1, 2), {"z": 1})):
        assert outcome(lambda a: ours(*a[0], **a[1]), (args, kwargs)).startswith(
            "error <class 'TypeError'>")
        assert outcome(lambda a: theirs(*a[0], **a[1]), (args, kwargs)).startswith(
            "error <class 'TypeError'>")
    with pytest.raises(ValueError, match="unexpected field names"):
        ours(1, 2)._replace(z=3)
    with pytest.raises(AttributeError):
        ours(1, 2).x = 3  # type: ignore[attr-defined]


class _Sized(tuple_type("_SizedFields", ("width", "height"))):  # type: ignore[misc]
    __slots__ = ()

    @property
    def area(self) -> int:
        return int(self.width * self.height)


def test_a_subclass_of_a_tuple_type_keeps_its_methods_and_pickles() -> None:
    sized = _Sized(2, height=3)
    assert sized.area == 6 and isinstance(sized._replace(width=4), _Sized)
    assert pickle.loads(pickle.dumps(sized)) == sized
    assert type(pickle.loads(pickle.dumps(sized))) is _Sized
    assert not hasattr(sized, "__dict__")


@pytest.mark.without_coverage
def test_sqlite_loads_without_functools_and_leaves_the_real_one_to_import() -> None:
    code = ("from tokentag.core import lean_sqlite\n"
            "sqlite3 = lean_sqlite.load()\n"
            "print('functools' in sys.modules, 'collections' in sys.modules)\n"
            "db = sqlite3.connect(':memory:', cached_statements=16)\n"
            "db.execute('CREATE TABLE t (n INTEGER)')\n"
            "for n in range(2000):\n"
            "    db.execute(f'INSERT INTO t VALUES ({n % 40})')\n"
            "    db.execute('INSERT INTO t VALUES (?)', (n,))\n"
            "print(*db.execute('SELECT count(*), sum(n) FROM t').fetchone())\n"
            "import functools\n"
            "print(functools.reduce(lambda a, b: a + b, [1, 2, 3]), "
            "sqlite3 is lean_sqlite.load())")
    printed, _ = costly_after(code)
    assert printed == ["False False", f"4000 {sum(n % 40 for n in range(2000)) + 1999000}",
                       "6 True"]
