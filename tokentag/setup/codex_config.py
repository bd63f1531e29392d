"""Register `tokentag codex-notify` as OpenAI Codex CLI's `notify` program, remove it, find it.

Codex runs the argv of the top-level `notify` key of `$CODEX_HOME/config.toml` after every
turn, with a JSON payload as one more argument. There is one such key: a program the user
had there is kept, run by ours after the capture (see capture.codex_notify), and given back
by uninstall. The edit touches that one line; every other line of the file stays as it was.

The argv is a small shell script, as the Claude Code hooks' command is: it starts this
interpreter on this tokentag without `site` (a few ms less per turn), falls back to a
`tokentag` on PATH when that one is gone, and otherwise exits 0.
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

from tokentag.core import codex_paths
from tokentag.core.errors import TokentagError
from tokentag.core.fileio import write_atomic
from tokentag.setup import toml_edit
from tokentag.setup.launch import package_root, python_words

KEY = "notify"
MARKER = "tokentag-codex-notify"  # the script's name ($0), and how ours is recognised


def config_path() -> Path:
    return Path(codex_paths.config_path())


def notify_argv(python: str | None = None, root: str | None = None) -> list[str]:
    """Our `notify` argv, before any program it runs after itself."""
    python = shlex.quote(python or os.path.abspath(sys.executable))
    script = (f": {MARKER}; tokentag_python={python} "
              f"tokentag_root={shlex.quote(root or package_root())}; "
              'if [ -x "$tokentag_python" ] && [ -f "$tokentag_root/tokentag/_entry.py" ]; '
              f'then exec {python_words()} codex-notify '
              '"$@"; fi; command -v tokentag >/dev/null 2>&1 && exec tokentag codex-notify "$@"; '
              "exit 0")
    return ["sh", "-c", script, MARKER]


def is_ours(argv: object) -> bool:
    return isinstance(argv, list) and len(argv) >= 4 and argv[:2] == ["sh", "-c"] \
        and isinstance(argv[2], str) and argv[2].startswith(f": {MARKER};") and argv[3] == MARKER


def chained(argv: list[str]) -> list[str]:
    """The program ours runs after itself: what `notify` was before install."""
    return argv[4:] if is_ours(argv) else argv


def register(path: Path) -> bool:
    """Make `notify` run tokentag (then the program it ran before). Whether the file changed."""
    text, current = _read(path)
    wanted = notify_argv() + (chained(current) if current else [])
    if current == wanted:
        return False
    _write(path, _edited(path, lambda: toml_edit.set_key(text, [KEY], wanted)))
    return True


def unregister(path: Path) -> bool:
    """Give `notify` back what it was before install. Whether the file changed; a file
    left with nothing in it is deleted (tokentag made it, or it said nothing)."""
    text, current = _read(path)
    if not is_ours(current):
        return False
    assert current is not None
    before = chained(current)
    edited = _edited(path, lambda: toml_edit.set_key(text, [KEY], before) if before
                     else toml_edit.remove_key(text, [KEY]))
    if edited.strip() or path.is_symlink():
        _write(path, edited)
    else:
        path.unlink()
    return True


def registered(path: Path) -> bool:
    try:
        return is_ours(_read(path)[1])
    except TokentagError:
        return False


def _read(path: Path) -> tuple[str, list[str] | None]:
    """The file's text ("" when there is none) and its `notify` argv."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", None
    except (OSError, UnicodeDecodeError) as error:
        raise TokentagError(f"cannot read {path}: {error}") from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TokentagError(f"{path} is not valid TOML ({error}); fix it, then run this "
                            "again") from None
    current = data.get(KEY)
    if current is not None and not (isinstance(current, list)
                                    and all(isinstance(a, str) for a in current)):
        raise TokentagError(f"{path}: `{KEY}` is not a list of strings; fix it, then run this "
                            "again")
    return text, current


def _edited(path: Path, edit: Any) -> str:
    try:
        result: str = edit()
    except toml_edit.CannotEdit:
        raise TokentagError(f"{path}: `{KEY}` is written over several lines, which tokentag "
                            f"does not edit: put it on one line, then run this again") from None
    return result


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode())
