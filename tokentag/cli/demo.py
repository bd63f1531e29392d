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
    click.echo(f"Per commit (tokentag report --by commit):\n\n{result.report.rstrip()}")
    if keep:
        click.echo(f"\nkept {result.directory} (repository: {result.directory / 'greeter'})")
    return 0
