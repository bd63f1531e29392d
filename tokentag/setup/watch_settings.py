"""The status line and the budget warning in a Claude Code settings file.

A settings file has one `statusLine`. When one is there already, tokentag's command takes
its place and runs it: the original command rides along in the new one, unchanged, as
`tokentag_also=<original>`, and `tokentag statusline --also` runs it with the same input
and joins both lines. Uninstalling puts the original command back, byte for byte, and
every other key of `statusLine` was never touched. A command of ours that finds tokentag
gone runs the original alone.

The budget warning is a Stop hook of its own, `tokentag check --stop-hook`, so the
capture hook that runs on every tool call stays lean; its entries are told apart by their
own marker.
"""

from __future__ import annotations

import copy
import os
import shlex
import sys
from pathlib import Path

from tokentag.setup import claude_settings
from tokentag.setup.claude_settings import JsonObject, load_object, malformed
from tokentag.setup.launch import package_root, python_words

STATUSLINE_MARKER = ": tokentag-statusline;"
WARNING_MARKER = ": tokentag-budget-warning;"
WARNING_TIMEOUT = 60  # seconds: pricing a release once, at the end of a turn
_ORIGINAL = "tokentag_also"
# As the capture hook starts Python (see claude_settings), but with `site`: the status
# line prices through genai-prices when the rates kept beside the index lack a model.
_DRAIN = "cat >/dev/null"


def command(marker: str, args: str, scope: str, fallback: str, prefix: str = "") -> str:
    """The shell command that runs `tokentag ARGS`: this interpreter and tokentag in the
    user's and local files, the `tokentag` on PATH in the project's (committed) file;
    `fallback` when neither is there any more."""
    on_path = f"if command -v tokentag >/dev/null 2>&1; then exec tokentag {args}; fi; "
    if scope == "project":
        return f"{marker} {prefix}{on_path}{fallback}"
    python = shlex.quote(os.path.abspath(sys.executable))
    root = shlex.quote(package_root())
    baked = (f"tokentag_python={python} tokentag_root={root}; "
             'if [ -x "$tokentag_python" ] && [ -f "$tokentag_root/tokentag/_entry.py" ]; '
             f"then exec {python_words(site=True)} {args}; fi; ")
    return f"{marker} {prefix}{baked}{on_path}{fallback}"


# -- the status line --------------------------------------------------------------------


def statusline_command(scope: str, original: str | None = None) -> str:
    if original is None:
        return command(STATUSLINE_MARKER, "statusline", scope, _DRAIN)
    return command(STATUSLINE_MARKER, f'statusline --also "${_ORIGINAL}"', scope,
                   f'exec sh -c "${_ORIGINAL}"', f"{_ORIGINAL}={shlex.quote(original)}; ")


def is_our_statusline(text: object) -> bool:
    return isinstance(text, str) and text.startswith(STATUSLINE_MARKER)


def original_of(text: str) -> str | None:
    """The command ours took the place of, if any."""
    words = shlex.shlex(text, posix=True, punctuation_chars=True)
    words.whitespace_split = True
    for word in words:
        if word.startswith(f"{_ORIGINAL}="):
            return word[len(_ORIGINAL) + 1:]
    return None


def register_statusline(path: Path, scope: str) -> tuple[bool, str | None]:
    """Make `statusLine` run tokentag's, with the one there before if any. Returns
    whether the file changed and the command composed with."""
    original, style = load_object(path)
    data: JsonObject = copy.deepcopy(original) if original is not None else {}
    current = data.get("statusLine")
    if current is None:
        data["statusLine"] = {"type": "command", "command": statusline_command(scope)}
        kept = None
    else:
        text = _command_of(path, current)
        kept = original_of(text) if is_our_statusline(text) else text
        current["command"] = statusline_command(scope, kept)
    if data == original:
        return False, kept
    claude_settings.write_object(path, data, style)
    return True, kept


def unregister_statusline(path: Path) -> bool:
    """Put back the status line ours replaced, or remove ours; whether the file changed."""
    original, style = load_object(path)
    current = original.get("statusLine") if original is not None else None
    if original is None or not isinstance(current, dict) \
            or not is_our_statusline(current.get("command")):
        return False
    data = copy.deepcopy(original)
    kept = original_of(current["command"])
    if kept is None:
        del data["statusLine"]
    else:
        data["statusLine"]["command"] = kept
    claude_settings.write_or_remove(path, data, style)
    return True


def _command_of(path: Path, current: object) -> str:
    """The command of a status line tokentag can run beside its own, or a one-line error."""
    if not isinstance(current, dict) or current.get("type") != "command" \
            or not isinstance(current.get("command"), str):
        raise malformed(path, '"statusLine" is not a status line command tokentag can run '
                              "beside its own")
    text: str = current["command"]
    return text


# -- the budget warning at the end of a turn ------------------------------------------------


def warning_command(scope: str) -> str:
    return command(WARNING_MARKER, "check --stop-hook", scope, _DRAIN)


def is_warning_hook(hook: object, command_text: str | None = None) -> bool:
    return isinstance(hook, dict) and isinstance(hook.get("command"), str) \
        and hook["command"].startswith(WARNING_MARKER)


def register_warning(path: Path, scope: str) -> bool:
    return claude_settings.register_hooks(path, warning_command(scope), ("Stop",),
                                          is_warning_hook, WARNING_TIMEOUT)


def unregister_warning(path: Path) -> bool:
    return claude_settings.unregister_hooks(path, is_warning_hook)
