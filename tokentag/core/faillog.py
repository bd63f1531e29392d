"""The one failure log: `tokentag.log` in the repository's tokentag dir, else in the user's
state dir (`$XDG_STATE_HOME/tokentag`, by default `~/.local/state/tokentag`).

Hooks never fail Claude Code or git, so what goes wrong there is written here instead, one
line per failure (a few traceback lines follow an unexpected one). Lines are bounded, since
a failure may quote its input (a hostile payload's `cwd` can be megabytes), and the file is
rotated once it passes MAX_BYTES, keeping one older generation.
"""

from __future__ import annotations

import os

from tokentag.core.timefmt import now_iso

LOG_NAME = "tokentag.log"
MAX_LINE = 500  # characters of one failure's message
MAX_BYTES = 1 << 20
TRACEBACK_LINES = 3


def log_failure(tokentag_dir: str | None, error: BaseException, where: str,
                expected: bool = False, traceback_lines: int = TRACEBACK_LINES) -> str | None:
    """Append one failure; returns the log written, or None when no log could be written.
    `expected` failures (bad input, a missing file) get no traceback."""
    text = f"{now_iso()} {where} {type(error).__name__}: {_bounded(one_line(error))}\n"
    if not expected and traceback_lines:
        import traceback  # only for the unexpected: every hook call would pay its import

        frames = traceback.format_exception(error)[-traceback_lines:]
        text += "".join("  " + _bounded(line.rstrip("\n")) + "\n" for line in frames)
    for directory in log_dirs(tokentag_dir):
        try:
            return _append(os.path.join(directory, LOG_NAME), text)
        except OSError:
            continue
    return None


def log_dirs(tokentag_dir: str | None) -> list[str]:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                             ".local", "state")
    fallback = os.path.join(state, "tokentag")
    return [tokentag_dir, fallback] if tokentag_dir else [fallback]


def failures(path: str) -> list[str]:
    """The failure lines of a log (not their traceback lines), oldest first."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    return [line for line in text.splitlines() if line and not line.startswith(" ")]


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + f"... ({len(text):,} chars)"


def _append(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        if os.stat(path).st_size > MAX_BYTES:
            os.replace(path, path + ".1")
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as log:
        log.write(text)
    return path
