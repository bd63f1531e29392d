"""`tokentag doctor`: check every link of the capture chain and say how to fix each break.

The chain: a git repository -> our git hooks (attribution) -> Claude Code hooks registered
once (capture) -> a hook command that still exists -> a writable ledger -> transcripts for
this repository -> recent captures -> no fresh failures in the log. Doctor only reads: it
never creates the ledger dir in a repository that has none.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokentag.core import claude_paths
from tokentag.core.errors import TokentagError
from tokentag.core.fileio import read_limited
from tokentag.core.timefmt import epoch_of
from tokentag.git import gitrepo
from tokentag.git.gitdirs import Worktree, find_worktree, unusable_git_dir
from tokentag.ledger import jsonl
from tokentag.ledger.index import INDEX_NAME, STATE_NAME
from tokentag.ledger.store import Store
from tokentag.notes import NOTES_REF
from tokentag.report import queries
from tokentag.setup import claude_settings, git_hooks

INSTALL = "tokentag install"


@dataclass(frozen=True)
class Check:
    """One link of the chain. `warning`: not ok, but capture and attribution still work."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(cwd: str | None = None) -> list[Check]:
    """Every check, in the order data flows. Outside a repository only the user-level ones."""
    worktree = find_worktree(cwd or os.getcwd())
    if worktree is None:
        return [_repository(None, cwd or os.getcwd()), *_claude_checks(None)]
    top = Path(worktree.top)
    return [_repository(worktree, cwd or os.getcwd()),
            _guarded("config", lambda: _config(top)),
            _guarded("git hooks", lambda: _git_hooks(top)),
            _guarded("notes on rewrite", lambda: _notes_rewrite(top)),
            *_claude_checks(top),
            _guarded("ledger", lambda: _ledger(worktree)),
            _guarded("transcripts", lambda: _transcripts(worktree)),
            *_capture_checks(worktree)]


def all_ok(checks: list[Check]) -> bool:
    return all(check.ok for check in checks)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that cannot even run (git missing, a file unreadable) is itself a problem."""
    try:
        return check()
    except (TokentagError, OSError) as error:
        return Check(name, False, f"could not check: {error}")


def _repository(worktree: Worktree | None, cwd: str) -> Check:
    if worktree is None:
        unusable = unusable_git_dir(cwd)
        if unusable is not None:  # a worktree whose git dir was deleted, a planted .git file
            return Check("git repository", False, f"{cwd}: not a git repository: {unusable}",
                         "run `git status` there to see what git makes of it")
        return Check("git repository", False, f"{cwd} is not inside a git repository",
                     "cd into your project, or run `git init` there")
    try:
        gitrepo.open_repo(worktree.top)
    except TokentagError as error:  # e.g. a worktree whose git dir was deleted
        return Check("git repository", False, f"{worktree.top}: {error}",
                     "run `git status` there to see what git makes of it")
    return Check("git repository", True, str(worktree.top))


def _config(top: Path) -> Check:
    from tokentag.setup import config

    try:
        settings = config.load(top)
    except TokentagError as error:
        return Check("config", False, str(error), "fix the file by hand (see `tokentag config "
                     "show` once it loads)")
    if settings.incomplete_prices:
        model, missing = next(iter(settings.incomplete_prices.items()))
        lacks = "; ".join(f"prices.{m} lacks {', '.join(f)}"
                          for m, f in settings.incomplete_prices.items())
        return Check("config", False, f"{lacks}: unpriced until set",
                     f"tokentag config set prices.{model}.{missing[0]} <USD per million tokens>")
    return Check("config", True, "valid")


# --- git side: attribution ------------------------------------------------------------------


def _git_hooks(top: Path) -> Check:
    directory = git_hooks.hooks_dir(top)
    configured = gitrepo.run(gitrepo.open_repo(top).git, "config", "--path", "--get",
                             "core.hooksPath", check=False)
    where = f"{directory} (core.hooksPath={configured})" if configured else str(directory)
    states = git_hooks.git_hook_status(top)
    bad = {hook: state for hook, state in states.items() if state != "ours"}
    if not bad:
        return Check("git hooks", True, f"{', '.join(states)} installed in {where}")
    detail = ", ".join(f"{hook} {_HOOK_WORDS.get(s, s)}" for hook, s in bad.items())
    return Check("git hooks", False, f"{detail} in {where}",
                 _git_hooks_fix(directory, configured, bad))


_HOOK_WORDS = {"missing": "not installed", "foreign": "replaced by another tool's hook",
               "ours (stale python)": "points at an interpreter or template that is gone"}


def _git_hooks_fix(directory: Path, configured: str, bad: dict[str, str]) -> str:
    if configured and not directory.is_dir():
        # install refuses a configured hooks dir that does not exist rather than guess.
        return f"mkdir -p {shlex.quote(str(directory))} && {INSTALL}"
    blocked = [hook for hook, state in bad.items() if state == "foreign"
               and (directory / (hook + git_hooks.CHAINED_SUFFIX)).exists()]
    if blocked:
        # install would refuse: it cannot chain a second foreign hook over the first.
        first = directory / blocked[0]
        return (f"merge {first} and {first}{git_hooks.CHAINED_SUFFIX} into one (or delete one), "
                f"then run `{INSTALL}`")
    # install chains a foreign hook (kept and run first), so one command fixes every case.
    return INSTALL


def _notes_rewrite(top: Path) -> Check:
    refs = gitrepo.run(gitrepo.open_repo(top).git, "config", "--get-all", "notes.rewriteRef",
                       check=False).split()
    if NOTES_REF in refs:
        return Check("notes on rewrite", True, f"notes.rewriteRef includes {NOTES_REF}")
    # post-rewrite still moves the attribution; only git's own copying of notes is missing.
    return Check("notes on rewrite", False, f"notes.rewriteRef lacks {NOTES_REF}",
                 INSTALL, warning=True)


# --- Claude Code side: capture --------------------------------------------------------------


def _claude_checks(top: Path | None) -> list[Check]:
    broken = _unreadable_settings(top)
    checks = [Check("Claude settings", False, f"{path}: {why}; Claude Code cannot use it",
                    f"fix {path} by hand, then run `{INSTALL}`") for path, why in broken]
    files = claude_settings.registered_in(top)
    plugin = claude_settings.plugin_active(claude_settings.user_config_dir(), top)
    checks.append(_registration(top, files, plugin))
    if files or plugin:
        checks.append(_guarded("hook command", lambda: _hook_command(top, files, plugin)))
    return checks


def _scope_paths(top: Path | None) -> dict[str, Path]:
    return {scope: claude_settings.settings_path(scope, top) for scope in claude_settings.SCOPES
            if top is not None or scope == "user"}


def _unreadable_settings(top: Path | None) -> list[tuple[Path, str]]:
    broken: list[tuple[Path, str]] = []
    for path in _scope_paths(top).values():
        try:
            text = read_limited(path).decode("utf-8-sig")
            if text.strip() and not isinstance(json.loads(text), dict):
                broken.append((path, "the top level is not a JSON object"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, ValueError) as error:
            broken.append((path, " ".join(str(error).split())))
    return broken


def _scope_of(path: Path, top: Path | None) -> str:
    return next((s for s, p in _scope_paths(top).items() if p == path), "user")


def _install_for(scope: str) -> str:
    return INSTALL if scope == "user" else f"{INSTALL} --scope {scope}"


def _registration(top: Path | None, files: list[Path], plugin: bool) -> Check:
    name = "Claude Code hooks"
    where = ", ".join(str(path) for path in files)
    if files and plugin:
        # The plugin's command differs from ours, so Claude Code does not merge the two.
        undo = " && ".join(f"tokentag uninstall --scope {_scope_of(p, top)}" for p in files)
        return Check(name, False, f"registered in {where} AND the tokentag plugin is active: "
                     "every hook runs twice (counted once, but twice as slow); or disable the "
                     "plugin instead", f"{undo} && {INSTALL}", warning=True)
    if files:
        return Check(name, True, f"registered in {where}")
    if plugin:
        return Check(name, True, "the tokentag plugin is active")
    return Check(name, False, "not registered in any Claude Code settings file, and the tokentag "
                 "plugin is not active: nothing is captured",
                 f"{INSTALL}   (or `{INSTALL} --scope project` to share it with the repository)")


def _hook_command(top: Path | None, files: list[Path], plugin: bool) -> Check:
    commands = {command: path for path in files for command in _our_commands(path)}
    if not commands:
        on_path = shutil.which("tokentag")
        return Check("hook command", True, f"plugin script runs {on_path or 'its own copy'}"
                     if plugin else "no command found")
    for command, path in commands.items():
        broken = _runs_nothing(command)
        if broken is not None:
            portable = command.startswith(claude_settings.MARKER) and \
                claude_settings.baked_paths(command) is None
            return Check("hook command", False, f"{command!r} in {path}: {broken}",
                         "put `tokentag` on PATH (./install.sh links it into ~/.local/bin)"
                         if portable else _install_for(_scope_of(path, top)))
        if _outdated(command):
            return Check("hook command", False, f"{command!r} in {path}: written by an older "
                         "tokentag, which let files at a repository's top stand in for "
                         "Python's own modules", _install_for(_scope_of(path, top)),
                         warning=True)
    if len(commands) > 1:
        # Claude Code merges identical commands only; different ones each run on every event.
        keep, *others = dict.fromkeys(_scope_of(path, top) for path in commands.values())
        undo = " && ".join(f"tokentag uninstall --scope {scope}" for scope in others)
        return Check("hook command", False, f"{len(commands)} different commands registered "
                     f"({', '.join(map(repr, commands))}): each hook runs once per command",
                     f"{undo} && {_install_for(keep)}" if others else None, warning=True)
    [command] = commands
    return Check("hook command", True, _described(command))


def _outdated(command: str) -> bool:
    """A command naming an interpreter and a tokentag dir that `install` would now write
    otherwise."""
    baked = claude_settings.baked_paths(command)
    return baked is not None and command != claude_settings.hook_command("user", *baked)


def _described(command: str) -> str:
    if not command.startswith(claude_settings.MARKER):
        return command
    baked = claude_settings.baked_paths(command)
    if baked is None:
        return f"`tokentag hook` from PATH ({shutil.which('tokentag') or 'not found'})"
    return f"{baked[0]} with tokentag from {baked[1]} (else `tokentag` on PATH)"


def _our_commands(path: Path) -> list[str]:
    try:
        data = json.loads(read_limited(path).decode("utf-8-sig"))
    except (OSError, ValueError):
        return []
    hooks = data.get("hooks") if isinstance(data, dict) else None
    found: list[str] = []
    for groups in hooks.values() if isinstance(hooks, dict) else []:
        for group in groups if isinstance(groups, list) else []:
            for hook in group.get("hooks", []) if isinstance(group, dict) else []:
                if claude_settings.is_our_hook(hook) and hook["command"] not in found:
                    found.append(hook["command"])
    return found


def _runs_nothing(command: str) -> str | None:
    """Why a registered command would capture nothing, or None if it runs tokentag."""
    on_path = shutil.which("tokentag")
    if command.startswith(claude_settings.MARKER):
        baked = claude_settings.baked_paths(command)
        if baked is not None and os.access(baked[0], os.X_OK) and \
                os.path.isfile(os.path.join(baked[1], "tokentag", "_entry.py")):
            return None
        if on_path:
            return None  # the command falls back to it
        return ("the interpreter it names is gone (moved or deleted virtualenv?) and no "
                "`tokentag` is on PATH: it exits quietly, capturing nothing") if baked else (
                "no `tokentag` is on PATH: it exits quietly, capturing nothing")
    if _executable(command) is None:
        return "the program is gone (moved or deleted virtualenv?)"
    return None


def _executable(command: str) -> str | None:
    """The program a hook command starts, if it exists and may be run."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    program = words[0] if os.sep in words[0] else shutil.which(words[0])
    if program and os.path.isfile(program) and os.access(program, os.X_OK):
        return program
    return None


# --- the ledger and what reached it ---------------------------------------------------------


def _ledger(worktree: Worktree) -> Check:
    directory = Path(worktree.tokentag_dir)
    if not directory.exists():
        writable = os.access(worktree.common_dir, os.W_OK | os.X_OK)
        detail = f"{directory} does not exist yet (the first capture or install creates it)"
        return Check("ledger", writable, detail if writable else
                     f"{worktree.common_dir} is not writable", _permissions_fix(
                         Path(worktree.common_dir)) if not writable else None)
    for name in (jsonl.LOCK_NAME, jsonl.LEDGER_NAME, INDEX_NAME, STATE_NAME):
        path = directory / name
        try:
            # Open for writing and append nothing: proves the hooks can write, changes nothing.
            os.close(os.open(path, os.O_RDWR | os.O_APPEND | (os.O_CREAT if name ==
                                                             jsonl.LOCK_NAME else 0)))
        except FileNotFoundError:
            continue
        except OSError as error:
            return Check("ledger", False, f"{path}: {error.strerror}", _permissions_fix(directory))
    return Check("ledger", True, f"{directory} is writable")


def _permissions_fix(directory: Path) -> str:
    quoted = shlex.quote(str(directory))
    try:
        owner = directory.stat().st_uid
    except OSError:
        return f"chmod -R u+rwX {quoted}"
    if owner != os.getuid():  # typically a `sudo git commit` left root-owned files behind
        return f'sudo chown -R "$(id -un)" {quoted}'
    return f"chmod -R u+rwX {quoted}"


def _session_files(worktree: Worktree) -> list[Path]:
    return [path for directory in claude_paths.project_dirs(worktree.top)
            for path in Path(directory).glob("*.jsonl")]


def _transcripts(worktree: Worktree) -> Check:
    files = _session_files(worktree)
    if not files:
        where = Path(claude_paths.config_dirs()[0], "projects",
                     claude_paths.encode_project(worktree.top))
        return Check("transcripts", True, f"none yet: Claude Code writes them to {where} "
                     f"once a session runs in {worktree.top}")
    newest = max(path.stat().st_mtime for path in files)
    count = f"{len(files)} session{'s' if len(files) != 1 else ''}"
    return Check("transcripts", True, f"{count}, last written {_ago(newest)}")


def _capture_checks(worktree: Worktree) -> list[Check]:
    store = Store.of(worktree)
    if not os.path.exists(store.directory):  # reading would create it
        return [Check("capture", True, "nothing captured yet")]
    try:
        status = queries.status(store)
    except (TokentagError, OSError) as error:
        return [Check("capture", False, f"cannot read the ledger: {error}", INSTALL)]
    return [_guarded("capture", lambda: _capture(worktree, store, status)),
            _guarded("failures", lambda: _failures(store, status))]


def _capture(worktree: Worktree, store: Store, status: queries.Status) -> Check:
    detail = (f"last capture {_iso_ago(status.last_capture)}; {status.requests} requests, "
              f"{status.pending} pending (not committed yet)" if status.last_capture
              else "nothing captured yet")
    unseen = _unseen_sessions(worktree, store)
    if not unseen:
        return Check("capture", True, detail)
    # A session started before install keeps the hooks it loaded at start: none of ours.
    return Check("capture", False, f"{detail}; {len(unseen)} session(s) written since the last "
                 "commit never ran a tokentag hook", f"restart `claude` in {worktree.top} "
                 "(hooks load at session start); your next commit still picks up their usage",
                 warning=True)


def _unseen_sessions(worktree: Worktree, store: Store) -> list[Path]:
    with store.reading() as index:
        since_ns = index.last_flush_ns()
        seen = set(index.cursors())
    if not since_ns:
        return []
    return [path for path in _session_files(worktree)
            if path.stat().st_mtime_ns > since_ns and os.path.realpath(path) not in seen]


def _failures(store: Store, status: queries.Status) -> Check:
    if not status.last_failure:
        return Check("failures", True, f"none logged in {store.log_path}")
    # The log is append-only, so its mtime is when the last failure happened.
    failed_at = os.stat(store.log_path).st_mtime
    captured_at = epoch_of(status.last_capture) if status.last_capture else None
    if captured_at is not None and captured_at > failed_at:
        return Check("failures", True, f"{status.logged_failures} logged, none since the last "
                     f"capture (last: {status.last_failure})")
    return Check("failures", False, f"{status.logged_failures} logged, the last {_ago(failed_at)}"
                 f": {status.last_failure}", f"tail -n 20 {shlex.quote(str(store.log_path))}")


def _iso_ago(text: str) -> str:
    moment = epoch_of(text)
    return text if moment is None else f"{text} ({_ago(moment)})"


def _ago(moment: float) -> str:
    seconds = max(0, int(time.time() - moment))
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return f"{seconds} s ago"


def render(checks: list[Check], unicode: bool | None = None) -> list[str]:
    """One line per check, and the fix under each problem."""
    if unicode is None:
        unicode = _can_encode("✓✗")
    marks = ("✓", "✗", "!") if unicode else ("ok", "XX", "!!")
    width = max(len(check.name) for check in checks)
    lines: list[str] = []
    for check in checks:
        mark = marks[0] if check.ok else marks[2] if check.warning else marks[1]
        lines.append(f"{mark} {check.name:<{width}}  {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"  {'':<{width}}  fix: {check.fix}")
    problems = sum(not check.ok for check in checks)
    lines.append("all checks passed" if not problems else f"{problems} problem(s) found")
    return lines


def _can_encode(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all_ok(checks), "checks": [check.as_json() for check in checks]}
