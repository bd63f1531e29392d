"""`tokentag record`: usage no transcript shows, stated by hand or by another tool."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tokentag.cli.common import current_worktree
from tokentag.core.errors import TokentagError

if TYPE_CHECKING:
    from tokentag.importer.estimates import Event

_COUNT_OPTIONS = ("tokens_in", "tokens_out", "cache_read", "cache_write")


@click.command("record")
@click.option("--tokens-in", metavar="N", help="Uncached input tokens.")
@click.option("--tokens-out", metavar="N", help="Output tokens.")
@click.option("--cache-read", metavar="N", help="Cache-read input tokens.")
@click.option("--cache-write", metavar="N", help="Cache-write input tokens.")
@click.option("--model", metavar="M", help="The model, for its price (unpriced without).")
@click.option("--agent", metavar="A", help="The agent or tool that spent them.")
@click.option("--session", "session_id", metavar="S", help="Its session id.")
@click.option("--commit", metavar="REV", help="The commit they belong to.")
@click.option("--task", metavar="ID", help="The work item they belong to (no commit's).")
@click.option("--note", metavar="TEXT")
@click.option("--id", "id", metavar="ID", help="Its id: the same id again records nothing.")
@click.option("--from-file", metavar="FILE",
              help="JSON lines, one event each (tokens_in, tokens_out, cache_read, "
                   "cache_write, model, agent, session_id, commit, task, note, id); - is stdin.")
def record_command(from_file: str | None, **options: str | None) -> int:
    """Record token usage by hand, as `estimated`: for a commit (--commit), a work item
    (--task), or else the pending requests the next commit here takes."""
    from tokentag.importer import estimates

    worktree = current_worktree()
    given = {name: value for name, value in options.items() if value is not None}
    if from_file is not None:
        if given:
            raise TokentagError("--from-file takes its events from the file: no other options")
        events, where = _events_in(from_file)
    else:
        events, where = [_event_of_options(given)], None
    done = estimates.record(worktree, events, where)
    click.echo(f"recorded {len(done.written)} estimated request(s)"
               + (f", {len(done.known)} already recorded" if done.known else "")
               + (f"; notes of {len(done.commits)} commit(s) updated" if done.commits else ""))
    return 0


def _event_of_options(given: dict[str, str]) -> Event:
    from tokentag.importer.estimates import event_from

    values: dict[str, Any] = dict(given)
    for name in _COUNT_OPTIONS:
        if name in values:
            values[name] = _whole_number(name, values[name])
    return event_from(values, _flag)


def _flag(name: str) -> str:
    """The option that sets an event's field."""
    return "--session" if name == "session_id" else f"--{name.replace('_', '-')}"


def _whole_number(name: str, text: str) -> int:
    digits = text.strip().removeprefix("-")
    if digits.isascii() and digits.isdigit():
        return int(text)  # a negative count is refused with its name by event_from
    raise TokentagError(f"{_flag(name)} must be a whole number, not {text!r}")


def _events_in(path: str) -> tuple[list[Event], list[str]]:
    """Every event in a JSON-lines file, or a one-line error naming the first bad line."""
    import json

    from tokentag.importer.estimates import event_from

    events, where = [], []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
            if not isinstance(values, dict):
                raise TokentagError("not a JSON object")
            events.append(event_from(values))
        except ValueError as error:
            raise TokentagError(f"{path}: line {number}: not JSON: {error}") from None
        except TokentagError as error:
            raise TokentagError(f"{path}: line {number}: {error}") from None
        where.append(f"{path}: line {number}")
    return events, where


def _lines(path: str) -> list[str]:
    try:
        if path == "-":
            return sys.stdin.read().splitlines()
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TokentagError(f"cannot read {path}: {error}") from None
