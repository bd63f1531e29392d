"""Surgical edits of a small TOML file: one key set or removed, every other line kept as it
was (comments, order, layout). `tomli_w` can only write a whole file from data, which
would drop the user's comments.

Each edit is checked by parsing the result: it must hold exactly the data asked for, or
`CannotEdit` is raised (a key written in a form this does not handle, such as a multi-line
value) and the caller may rewrite the file whole instead.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w


class CannotEdit(Exception):
    """The edit could not be made line by line."""


def set_key(text: str, path: list[str], value: Any) -> str:
    """`text` with `path` (a table's keys, then the key) set to `value`."""
    lines = text.splitlines(keepends=True)
    table, key = path[:-1], path[-1]
    start, end = _table_span(lines, table)
    line = f"{_dotted([key])} = {_value(value)}\n"
    found = _key_line(lines, start, end, key)
    if found is not None:
        lines[found] = line[:-1] + _comment(lines[found]) + _ending(lines[found])
    elif start is not None:
        lines = _ended(lines)
        lines.insert(_after_keys(lines, start, end), line)
    else:
        lines = _ended(lines)
        lines += (["\n"] if lines else []) + [f"[{_dotted(table)}]\n", line]
    return _checked(text, "".join(lines), path, value)


def remove_key(text: str, path: list[str]) -> str:
    """`text` without `path`; a table left with no key loses its header line too."""
    lines = text.splitlines(keepends=True)
    table, key = path[:-1], path[-1]
    start, end = _table_span(lines, table)
    found = _key_line(lines, start, end, key)
    if found is None:
        raise CannotEdit(f"{'.'.join(path)} is not set on a line of its own")
    del lines[found]
    end -= 1
    if table and start is not None and start > 0 and _key_line(lines, start, end, None) is None:
        del lines[start - 1]  # the header, and the blank line that set it apart
        if start >= 2 and not lines[start - 2].strip():
            del lines[start - 2]
    return _checked(text, "".join(lines), path, None)


def _table_span(lines: list[str], table: list[str]) -> tuple[int | None, int]:
    """The lines of `table` (after its header) as [start, end); start None if it has no
    header (the top level starts at 0 and ends at the first header)."""
    start: int | None = 0 if not table else None
    for number, line in enumerate(lines):
        header = _header_of(line)
        if header is None:
            continue
        if start is not None:
            return start, number
        if header == table:
            start = number + 1
    return start, len(lines)


def _header_of(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    try:
        data: Any = tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return None
    keys = []
    while isinstance(data, dict) and len(data) == 1:
        name, data = next(iter(data.items()))
        keys.append(name)
    return keys


def _key_line(lines: list[str], start: int | None, end: int, key: str | None) -> int | None:
    """The line setting `key` (any key when None) between start and end."""
    if start is None:
        return None
    for number in range(start, end):
        try:
            data = tomllib.loads(lines[number])
        except tomllib.TOMLDecodeError:
            continue
        if len(data) == 1 and (key is None or key in data):
            return number
    return None


def _after_keys(lines: list[str], start: int, end: int) -> int:
    """Where a new key goes in a table: after its last key, else first in it (for the top
    level, after the comments a file opens with)."""
    last = None
    for number in range(start, end):
        if _key_line(lines, number, number + 1, None) is not None:
            last = number
    if last is not None:
        return last + 1
    at = start
    while start == 0 and at < end and lines[at].lstrip().startswith("#"):
        at += 1
    return at


def _ended(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _comment(line: str) -> str:
    """A trailing comment of a `key = value` line, kept when its value changes."""
    body = line.rstrip("\r\n")
    for at in range(len(body)):
        if body[at] == "#":
            try:
                tomllib.loads(body[:at])
            except tomllib.TOMLDecodeError:
                continue
            return "  " + body[at:].strip()
    return ""


def _ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"


def _dotted(keys: list[str]) -> str:
    return ".".join(k if k.replace("_", "").replace("-", "").isalnum() and k.isascii()
                    else _value(k) for k in keys)


def _value(value: Any) -> str:
    """`value` in TOML on one line: a long array too, which tomli_w would spread over
    several (and an edit here is of one line)."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def _checked(before: str, after: str, path: list[str], value: Any) -> str:
    expected = tomllib.loads(before)
    table = expected
    for part in path[:-1]:
        table = table.setdefault(part, {})
    if value is None:
        table.pop(path[-1], None)
        _drop_empty(expected, path[:-1])
    else:
        table[path[-1]] = value
    try:
        if tomllib.loads(after) == expected:
            return after
    except tomllib.TOMLDecodeError:
        pass
    raise CannotEdit(f"{'.'.join(path)} could not be edited line by line")


def _drop_empty(data: dict[str, Any], tables: list[str]) -> None:
    for depth in range(len(tables), 0, -1):
        parent = data
        for part in tables[:depth - 1]:
            parent = parent.get(part, {})
        if parent.get(tables[depth - 1]) == {}:
            del parent[tables[depth - 1]]
