"""The command line: one module per command, each parsing its options, calling the stage
that does the work and printing the answer. `main` is the one handler that turns every
outcome into an exit code (see ExitCode).

A command's module is imported only when that command runs: a repeated `tokentag import`
is mostly start-up, and none of the commands needs the others' imports.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from tokentag import __version__
from tokentag.cli.common import ExitCode
from tokentag.core.errors import TokentagError

# Command name -> module under tokentag.cli holding a click command of that name.
COMMANDS = {
    "install": "install", "uninstall": "install", "hook": "hooks", "git-hook": "hooks",
    "codex-notify": "hooks",
    "status": "status", "report": "report", "log": "log", "show": "show", "record": "record",
    "release": "release", "import": "import_", "sync": "sync", "config": "config",
    "doctor": "doctor", "demo": "demo", "pending": "pending", "dashboard": "dashboard",
    "check": "check", "statusline": "statusline", "mcp": "mcp",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when asked for, by name or for --help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        found = getattr(importlib.import_module(f"tokentag.cli.{module}"),
                        cmd_name.replace("-", "_") + "_command")
        assert isinstance(found, click.Command)
        return found


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tokentag")
def cli() -> None:
    """Tokens and dollars that AI coding agents spend, attributed to git commits and releases."""


def main() -> None:
    """Expected errors become one line (exit 1), usage errors click's message (2), anything
    else one line here and its traceback in the log (3); Ctrl-C is 130."""
    try:
        code = cli.main(standalone_mode=False)
    except click.UsageError as error:
        error.show()
        code = ExitCode.USAGE
    except click.ClickException as error:
        error.show()
        code = ExitCode.ERROR
    except (KeyboardInterrupt, Exception) as error:  # noqa: BLE001 - see `failed`
        code = failed(error)
    sys.exit(int(code) if isinstance(code, int) else ExitCode.OK)


def failed(error: BaseException) -> ExitCode:
    """What a command that raised `error` says and exits with: Ctrl-C is 130, an expected
    error one line (1), anything else one line here and its traceback in the log (3)."""
    if isinstance(error, (click.exceptions.Abort, KeyboardInterrupt)):
        click.echo("tokentag: interrupted", err=True)
        return ExitCode.INTERRUPTED
    if isinstance(error, TokentagError):
        click.echo(f"tokentag: {error}", err=True)
        return ExitCode.ERROR
    return _report_crash(error)


def _report_crash(error: BaseException) -> ExitCode:
    """One line here, the whole traceback in the log: the repository's when tokentag keeps
    one there already (a crash must not create it), else the user's."""
    from tokentag.core import faillog
    from tokentag.git.gitdirs import find_worktree

    worktree = find_worktree(os.getcwd())
    own = worktree.tokentag_dir if worktree and os.path.isdir(worktree.tokentag_dir) else None
    log = faillog.log_failure(own, error, "crash", traceback_lines=1000)
    where = f"traceback in {log}" if log else "no log could be written"
    click.echo(f"tokentag: unexpected {type(error).__name__}: {faillog.one_line(error)} "
               f"({where})", err=True)
    return ExitCode.CRASH
