"""`tokentag config show|set|unset`: the project's settings."""

from __future__ import annotations

import click

from tokentag.cli.common import current_worktree, dump_json


@click.group("config")
def config_command() -> None:
    """Settings: .tokentag.toml, or [tool.tokentag] in pyproject.toml (read only)."""


@config_command.command("show")
@click.option("--json", "as_json", is_flag=True)
def config_show(as_json: bool) -> int:
    """The settings in force, defaults included."""
    from tokentag.setup import config

    data = config.effective(current_worktree().top)
    if as_json:
        dump_json(data)
    else:
        click.echo(config.as_toml(data).rstrip("\n"))
    return 0


@config_command.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> int:
    """Set KEY: notes_file, tag_pattern, task_pattern, or
    prices.<model>.<input_mtok|output_mtok|...>."""
    from tokentag.setup import config

    path, missing = config.set_value(current_worktree().top, key, value)
    click.echo(f"{key} = {value} ({path.name})")
    for name in missing:
        click.echo(f"tokentag: set {name} too: until then the config is incomplete", err=True)
    return 0


@config_command.command("unset")
@click.argument("key")
def config_unset(key: str) -> int:
    """Remove KEY from .tokentag.toml."""
    from tokentag.setup import config

    path = config.unset_value(current_worktree().top, key)
    click.echo(f"{key} removed ({path.name})")
    return 0
