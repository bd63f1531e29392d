"""The `tokentag` console script. Hook commands take a path that imports no third-party
package: they run on every tool call of every session, and click plus pydantic alone
would triple their start-up time."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["hook"] and len(args) == 1:
        from tokentag import hook

        sys.exit(hook.run())
    if args[:1] == ["git-hook"]:
        from tokentag import git_hook_entry

        sys.exit(git_hook_entry.run(args[1:]))
    from tokentag.cli import main as cli_main

    cli_main()
