"""`tokentag statusline`: what Claude Code shows in its status bar. `_entry` takes the lean
path to it without click; this serves `python -m tokentag` and --help."""

from __future__ import annotations

import click


@click.command("statusline")
@click.option("--also", metavar="CMD",
              help="Another status line command: run on the same input, its output first.")
def statusline_command(also: str | None) -> int:
    """Read Claude Code's status-line JSON on stdin and print one line: this branch's spend
    since it left the default branch, what is pending since the last commit, and today's
    total (the local day). Exits 0 whatever happens; failures go to the log."""
    from tokentag.watch import statusline

    return statusline.run(["--also", also] if also is not None else [])
