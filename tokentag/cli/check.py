"""`tokentag check`: exit 1 when a configured budget is exceeded, naming it (a CI gate)."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json


@click.command("check")
@click.option("--release", "tag", metavar="TAG",
              help="Measure this release rather than the one HEAD is in.")
@click.option("--json", "as_json", is_flag=True, help="Print every budget and its spend.")
@click.option("--stop-hook", is_flag=True, hidden=True,
              help="Read a Claude Code Stop payload; warn the user of a budget newly exceeded.")
def check_command(tag: str | None, as_json: bool, stop_hook: bool) -> int:
    """Measure the budgets in the config ([budgets.release|branch|day|commit], usd and/or
    tokens) and exit 1 when one is exceeded, 0 otherwise."""
    if stop_hook:
        from tokentag.watch import warning

        return warning.run()
    from tokentag.setup import config
    from tokentag.watch import budgets

    worktree = current_worktree()
    settings = config.load(worktree.top)
    verdicts = budgets.evaluate(worktree, budgets.Settings(settings.budgets, settings.prices,
                                                           settings.tag_pattern), tag)
    exceeded = budgets.exceeded(verdicts)
    if as_json:
        dump_json({"exceeded": bool(exceeded), "budgets": [v.as_json() for v in verdicts]})
    elif not settings.budgets.limits():
        click.echo("no budgets configured (see `tokentag config set budgets.<scope>.usd N`)")
    else:
        for verdict in verdicts:
            click.echo(f"{'EXCEEDED' if verdict.over else 'ok':<9}{verdict.line()}")
        if exceeded:
            click.echo(f"tokentag: {len(exceeded)} budget(s) exceeded", err=True)
    return 1 if exceeded else 0
