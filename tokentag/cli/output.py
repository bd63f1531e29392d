"""How the commands print: tables that fit the terminal, CSV and JSON, counts with their
nouns. Every table a person reads is laid out here, so the commands only say what is in it.

No table library: the ones measured (rich, tabulate, prettytable, texttable) add 13-52 ms
to every command's start-up, for what this module does in a few functions. The width is `COLUMNS`
when set, else the terminal's; piped output without `COLUMNS` is never cut. Colour and
Unicode only on a terminal; `NO_COLOR` (any value) turns colour off, `FORCE_COLOR` on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., int])

FORMATS = ("table", "csv", "json")
GAP = 2  # spaces between columns
# Characters a terminal would act on (escape sequences, line breaks, reordering): shown
# as a visible `\uXXXX`, so text from a ledger, a note or a commit cannot draw on the screen.
_CONTROL = frozenset({*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029,
                      *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF})
_VISIBLE = {c: f"\\u{c:04x}" for c in _CONTROL}
_SGR = {"bold": "1", "dim": "2"}


# NamedTuples and a plain class, not dataclasses: each dataclass costs every command
# about a millisecond to define, and `status` is mostly start-up.
class Terminal(NamedTuple):
    """What the output stream can show: its width (None: no limit), colour, Unicode."""

    width: int | None = None
    color: bool = False
    unicode: bool = False

    @classmethod
    def of(cls, stream: TextIO | None = None) -> Terminal:
        stream = stream or sys.stdout
        tty = _isatty(stream)
        return cls(_width(stream, tty), _color(tty), tty and _utf8(stream))

    def style(self, text: str, *names: str) -> str:
        codes = ";".join(_SGR[name] for name in names if name)
        return f"\x1b[{codes}m{text}\x1b[0m" if self.color and codes and text else text

    def line(self, text: str) -> str:
        """A line of free text, safe to print and cut to the width."""
        shown = visible(text)
        return cut(shown, self.width, self.ellipsis) if self.width else shown

    @property
    def ellipsis(self) -> str:
        return "…" if self.unicode else "..."

    @property
    def branch(self) -> str:
        """What leads a breakdown line under its row."""
        return "└─ " if self.unicode else "- "

    @property
    def rule(self) -> str:
        return "─" if self.unicode else "-"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def _width(stream: TextIO, tty: bool) -> int | None:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not tty:
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None


def _color(tty: bool) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "0") not in ("", "0"):
        return True
    return tty and os.environ.get("TERM") != "dumb"


def _utf8(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return encoding == "utf8"


# -- text -----------------------------------------------------------------------------------


def visible(text: str) -> str:
    """`text` safe to print: control and reordering characters as `\\uXXXX`."""
    return text.translate(_VISIBLE)


def cells(text: str) -> int:
    """Terminal cells `text` takes: wide East Asian characters two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cut(text: str, width: int, ellipsis: str) -> str:
    """`text` in at most `width` cells, ending in `ellipsis` when shortened."""
    if cells(text) <= width:
        return text
    room, taken = width - cells(ellipsis), []
    for char in text:
        room -= cells(char)
        if room < 0:
            break
        taken.append(char)
    return "".join(taken) + ellipsis if width >= cells(ellipsis) else ellipsis[:width]


def number(value: int) -> str:
    return f"{value:,}"


def counted(value: int, noun: str, plural: str | None = None) -> str:
    """`1 session`, `2 sessions`, `1,024 requests`."""
    return f"{value:,} {noun if value == 1 else plural or noun + 's'}"


_AGES = ((86_400, "day", "days"), (3600, "hour", "hours"), (60, "min", "min"))


def ago(seconds: float) -> str:
    """`just now`, `3 min ago`, `1 hour ago`, `2 days ago`."""
    if seconds < 60:
        return "just now"
    size, noun, plural = next(unit for unit in _AGES if seconds >= unit[0])
    return f"{counted(int(seconds // size), noun, plural)} ago"


# -- tables -----------------------------------------------------------------------------


class Column(NamedTuple):
    """A table column. `priority` 0 is never dropped; when the table is too wide the
    column with the highest priority goes first. A `flex` column is shortened with an
    ellipsis, down to `min_width`, before any column is dropped."""

    header: str
    right: bool = False
    priority: int = 0
    flex: bool = False
    min_width: int = 8


class Row(NamedTuple):
    """One line of a table. `style`: "" (plain), "total", "sub" (a breakdown line under
    the row above) or "quiet" (pending, unknown)."""

    cells: Sequence[str]
    style: str = ""


class Table:
    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        self.rows: list[Row] = []

    def add(self, *values: str, style: str = "") -> None:
        self.rows.append(Row(values, style))

    def render(self, terminal: Terminal) -> list[str]:
        texts = [[visible(v) for v in row.cells] for row in self.rows]
        shown, widths = _fit(self.columns, texts, terminal.width)
        lines = [_line([self.columns[i].header for i in shown], shown, widths, self.columns,
                       terminal, "bold")]
        lines.append(terminal.style(_rule(widths, terminal), "dim"))
        for row, text in zip(self.rows, texts, strict=True):
            if row.style == "total":
                lines.append(terminal.style(_rule(widths, terminal), "dim"))
            style = {"total": "bold", "sub": "dim", "quiet": "dim"}.get(row.style, "")
            lines.append(_line([text[i] for i in shown], shown, widths, self.columns,
                               terminal, style))
        return lines

    def echo(self, terminal: Terminal | None = None) -> None:
        for line in self.render(terminal or Terminal.of()):
            click.echo(line)


def _fit(columns: Sequence[Column], texts: list[list[str]],
         width: int | None) -> tuple[list[int], list[int]]:
    """The columns shown and their widths: all at their natural width when they fit;
    else flex columns shortened, then columns dropped by priority."""
    natural = [max([cells(c.header), *(cells(r[i]) for r in texts)])
               for i, c in enumerate(columns)]
    shown = list(range(len(columns)))
    while True:
        widths = [natural[i] for i in shown]
        if width is None:
            return shown, widths
        excess = sum(widths) + GAP * (len(shown) - 1) - width
        for place, i in sorted(enumerate(shown), key=lambda p: -natural[p[1]]):
            if excess <= 0:
                break
            if columns[i].flex:
                floor = min(natural[i], max(columns[i].min_width, cells(columns[i].header)))
                taken = min(excess, widths[place] - floor)
                widths[place] -= taken
                excess -= taken
        droppable = [i for i in shown if columns[i].priority > 0]
        if excess <= 0 or not droppable:
            return shown, widths
        shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))


def _line(values: Sequence[str], shown: Sequence[int], widths: Sequence[int],
          columns: Sequence[Column], terminal: Terminal, style: str) -> str:
    parts = []
    for value, i, width in zip(values, shown, widths, strict=True):
        text = cut(value, width, terminal.ellipsis)
        pad = " " * (width - cells(text))
        parts.append(pad + text if columns[i].right else text + pad)
    return terminal.style((" " * GAP).join(parts).rstrip(), style)


def _rule(widths: Sequence[int], terminal: Terminal) -> str:
    return (" " * GAP).join(terminal.rule * w for w in widths)


# -- machine formats ----------------------------------------------------------------------


def format_options(func: F) -> F:
    """--format table|csv|json, and --json for --format json."""
    func = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(func)
    return click.option("--format", "output_format", type=click.Choice(FORMATS),
                        default="table", show_default=True,
                        help="A table to read, CSV for a spreadsheet, JSON for scripts.")(func)


def chosen_format(output_format: str, as_json: bool) -> str:
    if as_json and output_format not in ("table", "json"):
        raise click.UsageError(f"--json and --format {output_format} contradict each other")
    return "json" if as_json else output_format


def dump_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    sys.stdout.flush()


def _csv_value(value: object) -> object:
    """None as an empty cell; text as written (a spreadsheet may still treat a leading
    `=` as a formula: prefix it, as OWASP advises for CSV exports)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
