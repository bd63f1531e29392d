"""`tokentag doctor`: every link of the chain checked, with the fix for each problem."""

from __future__ import annotations

import click

from tokentag.cli.common import dump_json


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor_command(as_json: bool) -> int:
    """Check every link from Claude Code to the ledger and git; print the fix for each problem."""
    from tokentag.setup import doctor

    checks = doctor.run_checks()
    if as_json:
        dump_json(doctor.as_json(checks))
    else:
        for line in doctor.render(checks):
            click.echo(line)
    return 0 if doctor.all_ok(checks) else 1
