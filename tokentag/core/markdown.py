"""The one escaper for every text that reaches Markdown (release notes, tables for agents).

Whatever reaches Markdown from outside (commit subjects, tag and model names, text from a
teammate's git note) is shown as written and can do nothing else: no line break (a control
character becomes a visible `\\uXXXX`), no emphasis, link, image, HTML, entity or table
cell of its own, and no URL that GitHub's renderer would turn into a link by itself.
"""

from __future__ import annotations

# Backslash-escaped wherever they stand (CommonMark lets any ASCII punctuation be escaped,
# and the escape is removed on rendering): what opens emphasis, code, links, images, HTML,
# entities, strikethrough and table cells.
_ESCAPES: dict[int, str] = {ord(c): f"\\{c}" for c in "\\`*_[]<>|~&!"}
# Characters that break a line or reorder text when rendered: C0 and C1 controls, DEL,
# line and paragraph separators, the bidirectional overrides and isolates, the BOM.
_INVISIBLE = frozenset({*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029,
                        *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF})
_ESCAPES.update({c: f"\\\\u{c:04x}" for c in _INVISIBLE})
# GitHub links "http://...", "www...." on its own; an escaped ":" or "." keeps them text.
_AUTOLINKS = (("://", 0), ("www.", 3))


def text(value: str) -> str:
    """`value` as inline text, safe anywhere: a paragraph, a heading, a table cell."""
    breaks = _autolink_breaks(value)
    return "".join(f"\\{c}" if i in breaks else c.translate(_ESCAPES)
                   for i, c in enumerate(value))


def code(value: str, in_table: bool = True) -> str:
    """`value` as an inline code span (ids, names, ranges), shown literally; in a table
    cell a `|` is escaped, as GFM tables require even inside code."""
    shown = "".join(f"\\u{ord(c):04x}" if ord(c) in _INVISIBLE else c for c in value)
    if in_table:
        shown = shown.replace("|", "\\|")
    fence = "`" * (_longest_run(shown, "`") + 1)
    padding = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{padding}{shown}{padding}{fence}"


def _autolink_breaks(value: str) -> set[int]:
    """Where the ":" of every "://" and the "." of every "www." stand, in any case."""
    lowered, found = value.lower(), set()
    for needle, offset in _AUTOLINKS:
        start = lowered.find(needle)
        while start != -1:
            found.add(start + offset)
            start = lowered.find(needle, start + 1)
    return found


def _longest_run(value: str, char: str) -> int:
    longest = current = 0
    for c in value:
        current = current + 1 if c == char else 0
        longest = max(longest, current)
    return longest


# What may stand in a link destination as written; anything else is percent-encoded, so a
# URL cannot end the destination, the link or the table cell it is in.
_URL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      "-._~:/?#@!$&'*+,;=%")


def link(label: str, url: str) -> str:
    """A link to `url` (http or https only) showing `label`, Markdown that `text` or
    `code` made; any other URL leaves the label alone."""
    if not url.lower().startswith(("https://", "http://")):
        return label
    encoded = "".join(c if c in _URL_SAFE else "".join(f"%{b:02X}" for b in c.encode())
                      for c in url)
    return f"[{label}]({encoded})"
