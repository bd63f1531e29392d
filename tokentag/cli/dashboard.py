"""`tokentag dashboard`: the repository's figures as one HTML page."""

from __future__ import annotations

import os
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tokentag.cli.common import current_worktree

if TYPE_CHECKING:
    from tokentag.dashboard.figures import Settings
    from tokentag.git.gitdirs import Worktree
    from tokentag.report.zones import Zone

PAGE_NAME = "dashboard.html"  # in the repository's tokentag dir, unless -o names a file


@click.command("dashboard")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Write the page here [default: <git dir>/tokentag/{PAGE_NAME}].")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser.")
@click.option("--serve", is_flag=True,
              help="Serve the page on 127.0.0.1 instead, rebuilt as the ledger changes; "
                   "Ctrl-C stops. Writes a file only with -o.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="With --serve: the port (0 takes a free one).")
@click.option("--tz", "tz_name", metavar="ZONE",
              help="Time zone of days, weeks and months: an IANA name (Europe/Berlin), UTC, "
                   "or local (the default: the system's).")
def dashboard_command(output: Path | None, open_page: bool, serve: bool, port: int,
                      tz_name: str | None) -> int:
    """One self-contained HTML page of tokens and cost: releases, the most expensive
    commits, totals over time and by model, branch, session and work item, and how the
    figures are known. It fetches nothing: open it from disk or publish it from CI."""
    from tokentag.dashboard import page
    from tokentag.report import zones

    if port and not serve:
        raise click.UsageError("--port goes with --serve")
    zone = zones.resolve(tz_name)
    worktree = current_worktree()
    settings = _settings(worktree)  # a configuration error stops here, served or not
    if output is not None or not serve:
        path = _write(worktree, settings, zone, output)
        if page.chart_library() is None:
            click.echo("tokentag: this install has no chart library: the page has tables "
                       "only", err=True)
        click.echo(f"dashboard -> {path}")
        if open_page and not serve:
            _open(path.resolve().as_uri())
    if serve:
        _serve(worktree, zone, port, open_page)
    return 0


def _settings(worktree: Worktree) -> Settings:
    from tokentag.dashboard.figures import Settings
    from tokentag.setup import config

    loaded = config.load(worktree.top)
    return Settings(loaded.prices, loaded.tag_pattern, loaded.spikes.rule())


def _write(worktree: Worktree, settings: Settings, zone: Zone, output: Path | None) -> Path:
    from tokentag.core.fileio import write_atomic
    from tokentag.dashboard import figures, page

    text = page.render(figures.gather(worktree, settings, zone))
    path = output if output is not None else Path(worktree.tokentag_dir, PAGE_NAME)
    # A kill mid-write leaves a stray temporary file in tokentag's dir, not the user's.
    scratch = worktree.tokentag_dir if os.path.isdir(worktree.tokentag_dir) else None
    write_atomic(path, text.encode("utf-8"), scratch)
    return path


def _serve(worktree: Worktree, zone: Zone, port: int, open_page: bool) -> None:
    from tokentag.core import config_files
    from tokentag.dashboard import figures, page, serve

    # Read again for each build: a price changed meanwhile counts from the next one.
    configs = config_files.paths(worktree.top)
    live = serve.LivePage(
        lambda version: page.render(figures.gather(worktree, _settings(worktree), zone),
                                    version),
        lambda: serve.ledger_version(worktree, configs))
    try:
        server = serve.make_server(live, port)
    except OSError as error:
        raise click.ClickException(f"cannot serve on {serve.HOST}:{port}: "
                                   f"{error.strerror}") from None
    with server:
        address = serve.address_of(server)
        click.echo(f"dashboard at {address} (Ctrl-C stops)")
        if open_page:
            _open(address)
        serve.serve_until_interrupted(server)


def _open(address: str) -> None:
    if not webbrowser.open(address):
        click.echo(f"tokentag: no web browser found; open {address}", err=True)
