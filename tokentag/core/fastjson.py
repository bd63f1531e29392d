"""`json.loads` and compact `json.dumps` without importing `re`, for the hook paths.

Importing the `json` package compiles its regular expressions, which imports `re` and
`enum`: 7.5 ms of start-up here, a quarter of what a commit with tokentag may cost. The
parsing and encoding are done by CPython's C accelerator `_json` either way; this
module calls it directly, with the settings `json` gives it. Anything the fast path
does not accept whole (leading BOM, a torn line, no `_json` on this interpreter) goes to
`json` itself, so results and errors are `json`'s in every case.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from typing import Any

try:
    from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner

    _ACCELERATED = True
except ImportError:  # another interpreter: plain `json` below
    _ACCELERATED = False

_WHITESPACE = " \t\n\r"  # JSON's whitespace, all that may surround a value


class _DecoderSettings:
    """What `json.JSONDecoder()` hands the C scanner: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__


_scan = make_scanner(_DecoderSettings()) if _ACCELERATED else None  # type: ignore[arg-type]


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`."""
    if _scan is not None and isinstance(data, (bytes, str)):
        try:
            text = (data.decode() if isinstance(data, bytes) else data).strip(_WHITESPACE)
            value, end = _scan(text, 0)
            if end == len(text):
                return value
        except (ValueError, StopIteration, SystemError):
            # `json` says what is wrong, or parses what the fast path does not. (On
            # Python 3.11, `_json` raises its errors through `json.decoder`, and while that
            # is not imported yet it fails with a SystemError instead.)
            pass
    import json

    return json.loads(data)


def loads_object(text: str | None) -> dict[str, Any]:
    """The JSON object `text` holds; {} for none, for bad JSON and for any other value
    (state a reader kept between reads, which a damaged file must not stop)."""
    if not text:
        return {}
    try:
        value = loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


COMPACT = (",", ":")
SPACED = (", ", ": ")  # `json.dumps`'s default


def dumps(value: Any, *, sort_keys: bool = False, separators: tuple[str, str] = COMPACT,
          ensure_ascii: bool = False) -> str:
    """`json.dumps(value, ensure_ascii=..., sort_keys=..., separators=...)`; note the
    defaults: compact, and UTF-8 text left as it is (the ledger's format)."""
    if not _ACCELERATED:
        import json

        return json.dumps(value, separators=separators, ensure_ascii=ensure_ascii,
                          sort_keys=sort_keys)
    escape = encode_basestring_ascii if ensure_ascii else encode_basestring
    if isinstance(value, str):
        return escape(value)  # as `json.JSONEncoder.encode` does
    # A fresh `markers` dict per call, as `json` makes: it detects circular references.
    item_separator, key_separator = separators
    encode = make_encoder({}, _not_serializable, escape, None, key_separator,
                          item_separator, sort_keys, False, True)
    return "".join(encode(value, 0))


def dumps_flat_indented(value: dict[str, Any]) -> str:
    """`json.dumps(value, indent=2)` of an object whose values are not containers: how
    the command line prints a summary."""
    if not value:
        return "{}"
    items = ",\n".join(f"  {dumps(key, ensure_ascii=True)}: {dumps(item, ensure_ascii=True)}"
                        for key, item in value.items())
    return "{\n" + items + "\n}"


def quote(text: str) -> str:
    """`dumps(text)`, for code that lays out JSON itself."""
    return encode_basestring(text) if _ACCELERATED else dumps(text)


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
