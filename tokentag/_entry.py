"""The `tokentag` console script. Hook commands take a path that imports no third-party
package: they run on every tool call of every session, and click plus pydantic alone
would triple their start-up time. So does the status line, after every assistant message."""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> None:
    # What Claude Code, Codex and git run lives for milliseconds and ends in `os._exit`:
    # the cyclic collector's passes over the objects its imports make cost the git-hook
    # path ~0.8 ms, a hook call 0.2-0.3 ms (bench/README.md), to free what the exit frees.
    gc.disable()
    in_utf8_mode()
    args = sys.argv[1:]
    if args[:1] == ["hook"] and len(args) == 1:
        from tokentag.capture import hook

        exit_now(hook.run())
    if args[:1] == ["git-hook"]:
        from tokentag.attribution import git_hook

        exit_now(git_hook.run(args[1:]))
    if args[:1] == ["codex-notify"]:
        from tokentag.capture import codex_notify

        exit_now(codex_notify.run(args[1:]))
    if args[:1] == ["statusline"] and "--help" not in args and "-h" not in args:
        from tokentag.watch import statusline  # after every assistant message: lean too

        exit_now(statusline.run(args[1:]))
    if args[:1] == ["import"] and set(args[1:]) <= {"--json"}:
        answer_unchanged_import(as_json="--json" in args)
    gc.enable()  # a command a person runs may run long: a server, an import with work
    from tokentag.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as done:
        exit_now(_status(done.code))
    exit_now(0)


def answer_unchanged_import(as_json: bool) -> None:
    """A repeated `tokentag import` mostly finds nothing new, and that answer needs
    neither click nor the modules that read and write (half of its time, bench/README.md).
    Anything to do goes on to the command line, with the plan made here; an error is
    reported as the command line reports it."""
    from tokentag.git.gitdirs import find_worktree
    from tokentag.importer import run

    try:
        worktree = find_worktree(os.getcwd())
        summary = run.nothing_new(worktree) if worktree is not None else None
        if summary is None:
            return
        if as_json:
            from tokentag.core import fastjson

            print(fastjson.dumps_flat_indented(summary.as_json()))
        else:
            print("\n".join(summary.lines()))
        if sys.stdout is not None:  # None when started with it closed: nothing to say
            sys.stdout.flush()  # a write error is the command's, as click's echo makes it
    except BrokenPipeError:  # the reader left (`| head`): as click ends then, silently
        exit_now(1)
    except (KeyboardInterrupt, Exception) as error:  # noqa: BLE001 - reported as by the CLI
        from tokentag.cli import failed

        exit_now(failed(error))
    exit_now(0)


def in_utf8_mode() -> None:
    """Run in Python's UTF-8 mode whatever the locale says: transcripts, the ledger, git's
    output and paths are UTF-8, and with `LC_ALL=C PYTHONUTF8=0` or a Latin-1 locale the
    standard streams, file names and subprocess pipes would be ASCII or Latin-1 (requests
    were dropped, releases failed). Only such a locale pays the re-exec."""
    if sys.flags.utf8_mode or sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return
    os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.orig_argv[1:]])


def exit_now(code: int) -> NoReturn:
    """End the process without Python's teardown of every module and object, which costs a
    command 1-6 ms (more the more it imported) for nothing: every file tokentag writes
    is closed by then, by its `with` block, and the standard streams are flushed here."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None when the process was started with it closed
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`tokentag report | head`)
            code = code or 120  # as Python itself exits then
    os._exit(code)


def _status(code: object) -> int:
    """`sys.exit`'s argument as the exit status it stands for."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
