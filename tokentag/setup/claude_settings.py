"""Register tokentag's Claude Code hooks in a settings file, remove them, and find them.

Claude Code merges the hooks of the user, project and local settings files and of every
enabled plugin, and runs a command registered in two places twice. So the edit here is a
surgical merge: every other key and hook stays where it was, ours is recognised however it
was spelled by an earlier install, and a second install writes nothing at all.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tokentag.core import claude_paths
from tokentag.core.errors import TokentagError
from tokentag.core.fileio import inside, read_limited, write_atomic
from tokentag.setup.launch import package_root, python_words

if TYPE_CHECKING:
    from _typeshed import StrPath

# Every event tokentag listens to. Stop alone is not enough: SessionEnd does not always
# fire, subagents finish on SubagentStop, and a compaction or a failed turn ends a stretch
# of work without a Stop.
HOOK_EVENTS: tuple[str, ...] = ("SessionStart", "UserPromptSubmit", "PostToolUse",
                                "SubagentStop", "Stop", "StopFailure", "PreCompact",
                                "SessionEnd")
HOOK_TIMEOUT = 10
SCOPES: tuple[str, ...] = ("user", "project", "local")
PLUGIN_NAME = "tokentag"

# Tool events need a matcher; "*" means every tool.
_MATCHERS = {"PostToolUse": "*"}

JsonObject = dict[str, Any]


class Style(NamedTuple):
    """How a settings file was written, so a rewrite changes only what we changed."""

    indent: int | str = 2
    # json.dumps escapes non-ASCII by default, JSON.stringify (Claude Code) does not:
    # escape only in a file that is all ASCII already.
    ascii_only: bool = False


def user_config_dir() -> Path:
    """Claude Code's config dir: `$CLAUDE_CONFIG_DIR`, else `~/.claude`."""
    return Path(claude_paths.settings_dir())


def settings_path(scope: str, repo: StrPath | None) -> Path:
    """The settings file of `scope`: user, project (committed) or local (personal)."""
    if scope == "user":
        return user_config_dir() / "settings.json"
    if scope not in SCOPES:
        raise TokentagError(f"unknown settings scope {scope!r}: use user, project or local")
    if repo is None:
        raise TokentagError(f"the {scope} scope needs a repository")
    name = "settings.json" if scope == "project" else "settings.local.json"
    return Path(repo, ".claude", name)


def settings_path_to_write(scope: str, repo: StrPath | None) -> Path:
    """`settings_path`, refused for the project and local files when it resolves out of
    the repository: a link in a cloned repository must not lead tokentag's writes out of
    it (to the user's own settings, say). Reading through such a link stays as Claude
    Code does it."""
    path = settings_path(scope, repo)
    if scope != "user":
        assert repo is not None  # settings_path required it
        inside(repo, os.path.relpath(path, repo), "settings file")
    return path


# The shell code of every command registered: `:` with our name first, so an install from
# anywhere recognises it. It starts Python as the git hooks do (no `site`, no console-script
# wrapper: a few ms on every tool call), falls back to a `tokentag` on PATH when that one
# is gone, and otherwise reads the payload and exits 0: an uninstalled or moved tokentag
# must never make Claude Code report a failing hook.
MARKER = ": tokentag-hook;"
_ON_PATH = "command -v tokentag >/dev/null 2>&1 && exec tokentag hook"
_DRAIN = "while IFS= read -r _; do :; done"
_BAKED = ("tokentag_python={python} tokentag_root={root}; "
          'if [ -x "$tokentag_python" ] && [ -f "$tokentag_root/tokentag/_entry.py" ]; then '
          f"exec {python_words()} hook; fi; ")


def hook_command(scope: str = "user", python: str | None = None, root: str | None = None,
                 ) -> str:
    """The shell command a settings file runs for every event. The project's settings file
    is committed, so its command names no path of this machine: teammates' `tokentag` on
    PATH runs it. The user's and local files name this interpreter and this tokentag."""
    if scope == "project":
        return f"{MARKER} {_ON_PATH}; {_DRAIN}"
    baked = _BAKED.format(python=shlex.quote(python or os.path.abspath(sys.executable)),
                          root=shlex.quote(root or package_root()))
    return f"{MARKER} {baked}{_ON_PATH}; {_DRAIN}"


def baked_paths(command: str) -> tuple[str, str] | None:
    """The interpreter and tokentag dir a command names, if it names them."""
    try:
        words = shlex.split(command.partition("; if ")[0])
    except ValueError:
        return None
    found = dict(word.split("=", 1) for word in words if "=" in word)
    python, root = found.get("tokentag_python"), found.get("tokentag_root")
    return (python, root.rstrip(";")) if python and root else None


# Whether a hook entry is the one being registered or removed: (entry, command) -> bool.
Recognise = Callable[[object, "str | None"], bool]


def is_our_hook(hook: object, command: str | None = None) -> bool:
    """Whether a hook entry is tokentag's: exactly `command`, ours by its marker, or any
    `... tokentag ... hook` command an older install wrote."""
    if not isinstance(hook, dict):
        return False
    text = hook.get("command")
    if not isinstance(text, str):
        return False
    if command is not None and text == command:
        return True
    text = text.strip()
    return text.startswith(MARKER) or (text.endswith(" hook") and "tokentag" in text)


def register_hooks(path: Path, command: str, events: tuple[str, ...] = HOOK_EVENTS,
                   ours: Recognise = is_our_hook, timeout: int = HOOK_TIMEOUT) -> bool:
    """Add `command` for every event in `events` to the settings file at `path`; `ours`
    tells an entry registered earlier (the capture hook's, unless another is given).

    Returns whether the file changed. An entry of ours with another path (a moved venv) is
    updated where it stands rather than duplicated.
    """
    original, style = _load(path)
    data: JsonObject = copy.deepcopy(original) if original is not None else {}
    hooks = data.setdefault("hooks", {})
    for event in events:
        _register_event(hooks.setdefault(event, []), event, command, ours, timeout)
    if data == original:
        return False
    write_object(path, data, style)
    return True


def _register_event(groups: list[Any], event: str, command: str, recognise: Recognise,
                    timeout: int) -> None:
    entry: JsonObject = {"type": "command", "command": command, "timeout": timeout}
    ours = [hook for group in groups for hook in group.get("hooks", [])
            if recognise(hook, command)]
    for hook in ours:
        hook.update(entry)  # dict.update keeps key order, so an unchanged entry stays byte-equal
    if not ours:
        # A group of our own, so uninstalling can drop it without touching anyone else's.
        group: JsonObject = {"matcher": _MATCHERS[event]} if event in _MATCHERS else {}
        group["hooks"] = [entry]
        groups.append(group)


def unregister_hooks(path: Path, ours: Recognise = is_our_hook) -> bool:
    """Remove tokentag's entries from the settings file at `path`; returns whether it changed.

    Matcher groups, event keys and `hooks` go only when removing ours empties them, so an
    install followed by an uninstall gives the original back. A file left holding `{}` is
    deleted: tokentag created it, or it said nothing anyway.
    """
    original, style = _load(path)
    if original is None or not isinstance(original.get("hooks"), dict):
        return False
    data = copy.deepcopy(original)
    hooks: JsonObject = data["hooks"]
    if not _remove_ours(hooks, ours):
        return False
    if not hooks:
        del data["hooks"]
    write_or_remove(path, data, style)
    return True


def write_or_remove(path: Path, data: JsonObject, style: Style) -> None:
    """Write what an uninstall left; a file left holding `{}` is deleted (tokentag created
    it, or it said nothing anyway), unless it is a link to a file kept elsewhere."""
    if data or path.is_symlink():
        write_object(path, data, style)
    else:
        path.unlink()


def _remove_ours(hooks: JsonObject, recognise: Recognise) -> bool:
    removed = False
    for event in list(hooks):
        kept_groups: list[Any] = []
        for group in hooks[event]:
            entries = group.get("hooks", [])
            kept = [hook for hook in entries if not recognise(hook, None)]
            if len(kept) == len(entries):
                kept_groups.append(group)
                continue
            removed = True
            if kept:
                group["hooks"] = kept
                kept_groups.append(group)
        if len(kept_groups) != len(hooks[event]):
            hooks[event] = kept_groups
            if not kept_groups:
                del hooks[event]
    return removed


def holds_our_hooks(data: JsonObject) -> bool:
    """Whether parsed settings register any tokentag hook."""
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return False
    for groups in hooks.values():
        for group in groups if isinstance(groups, list) else []:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(entries, list) and any(is_our_hook(hook) for hook in entries):
                return True
    return False


def registered_in(repo: StrPath | None) -> list[Path]:
    """The settings files (user, then project and local when `repo` is given) that hold our
    hooks. An unreadable file counts as not holding them: doctor checks readability itself."""
    found: list[Path] = []
    for scope in SCOPES:
        if repo is None and scope != "user":
            continue
        path = settings_path(scope, repo)
        data = _load_quietly(path)
        if data is not None and holds_our_hooks(data):
            found.append(path)
    return found


def plugin_active(config_dir: Path, repo: StrPath | None) -> bool:
    """Whether the tokentag plugin is installed and enabled for `repo`.

    Enabled: `enabledPlugins` maps a `tokentag@<marketplace>` key to true, in the user
    settings, else the project's `.claude/settings.json`, else its `.claude/settings.local.json`,
    the later file winning (so a local `false` disables a user `true`). Installed:
    `<config_dir>/plugins/installed_plugins.json` has a `tokentag@...` record, or a copy sits
    in `<config_dir>/plugins/cache/<marketplace>/tokentag`. A `--plugin-dir` session plugin
    leaves no record and is not seen.
    """
    return _plugin_enabled(config_dir, repo) and _plugin_installed(config_dir)


def _plugin_enabled(config_dir: Path, repo: StrPath | None) -> bool:
    files = [config_dir / "settings.json"]
    if repo is not None:
        files += [Path(repo, ".claude", name) for name in ("settings.json", "settings.local.json")]
    state: dict[str, bool] = {}
    for path in files:
        data = _load_quietly(path) or {}
        enabled = data.get("enabledPlugins")
        if isinstance(enabled, dict):
            state.update({key: value is True for key, value in enabled.items()
                          if key.startswith(f"{PLUGIN_NAME}@")})
    return any(state.values())


def _plugin_installed(config_dir: Path) -> bool:
    plugins_dir = config_dir / "plugins"
    data = _load_quietly(plugins_dir / "installed_plugins.json") or {}
    # Version 2 keeps records under "plugins"; tolerate a flat map from older versions.
    records = data.get("plugins", data)
    if isinstance(records, dict) and any(str(key).startswith(f"{PLUGIN_NAME}@")
                                         for key in records):
        return True
    return any(path.is_dir() for path in plugins_dir.glob(f"cache/*/{PLUGIN_NAME}"))


def _load(path: Path) -> tuple[JsonObject | None, Style]:
    """The parsed settings (None if the file is absent) and how the file was written."""
    data, style = load_object(path)
    if data is not None:
        _check_shape(path, data)
    return data, style


def load_object(path: Path) -> tuple[JsonObject | None, Style]:
    """A JSON file that holds an object, as tokentag edits one (settings, `.mcp.json`):
    parsed (None if absent) with how it was written, or a one-line error naming the file
    when it is not JSON or not an object."""
    try:
        text = read_limited(path).decode("utf-8-sig")
    except FileNotFoundError:
        return None, Style()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokentagError(f"cannot read {path}: {_one_line(exc)}") from exc
    if not text.strip():
        return {}, Style()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise malformed(path, f"not valid JSON ({exc.msg} at line {exc.lineno} "
                              f"column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise malformed(path, "the top level is not a JSON object")
    return data, Style(_indent_unit(text), text.isascii())


def _load_quietly(path: Path) -> JsonObject | None:
    try:
        return _load(path)[0]
    except TokentagError:
        return None


def _check_shape(path: Path, data: JsonObject) -> None:
    """Refuse to edit what we do not understand rather than guess and damage it."""
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise malformed(path, '"hooks" is not an object')
    for event, groups in hooks.items():
        name = json.dumps(event)
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise malformed(path, f"hooks.{name} is not a list of objects")
        if not all(isinstance(group.get("hooks", []), list) for group in groups):
            raise malformed(path, f"a hooks list under hooks.{name} is not a list")


def malformed(path: Path, why: str) -> TokentagError:
    return TokentagError(f"{path}: {why}; fix the file by hand, it was left untouched")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _indent_unit(text: str) -> int | str:
    """The indent of the first indented line, which sits one level deep."""
    for line in text.splitlines()[1:]:
        body = line.lstrip(" \t")
        if body and len(body) < len(line):
            lead = line[: len(line) - len(body)]
            return "\t" if lead.startswith("\t") else len(lead)
    return 2


def write_object(path: Path, data: JsonObject, style: Style) -> None:
    """Replace the file atomically, so Claude Code never reads half a settings file; a
    symlinked file (settings kept in a dotfiles repo) is written through the link."""
    text = json.dumps(data, indent=style.indent, ensure_ascii=style.ascii_only) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TokentagError(f"cannot write {path}: {_one_line(exc)}") from exc
    write_atomic(path, text.encode("utf-8"))
