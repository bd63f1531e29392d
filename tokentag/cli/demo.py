"""`tokentag demo`: the whole pipeline on a built-in sample, in a throwaway repository."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the throwaway directory and print its path.")
def demo_command(keep: bool) -> int:
    """Run the whole pipeline on a built-in sample session in a throwaway repository."""
    from tokentag.setup import demo

    result = demo.run(keep=keep, say=lambda line: click.echo(f"demo: {line}", err=True))
    click.echo(f"Commits:\n\n{result.commits}\n")
    click.echo(f"Release notes (tokentag release {demo.RELEASE_TAG} --stdout):\n")
    click.echo(result.release_notes.rstrip("\n") + "\n")
    click.echo(f"Per commit (tokentag report --by commit):\n\n{result.report.rstrip()}\n")
    click.echo(f"The release notes count {demo.RELEASE_TAG} only: the commits after "
               f"{demo.FIRST_TAG}. The report's Total counts every commit, {demo.FIRST_TAG}'s "
               f"included.")
    if keep:
        click.echo(f"\nkept {result.directory} (repository: {result.directory / 'greeter'})")
    click.echo("\nNext: run `tokentag install` in one of your repositories, work there with "
               "Claude Code and commit; then `tokentag status` and `tokentag report --by "
               "commit` show what it spent.")
    return 0
