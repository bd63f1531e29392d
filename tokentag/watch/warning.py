"""The opt-in budget warning at the end of a turn (`tokentag install --budget-warnings`).

A Stop hook of its own runs `tokentag check --stop-hook`: it catches up on the turn's
session as the capture hook does (the last requests may not be read yet), measures the
budgets, and when one was exceeded since the last look, prints Claude Code's
`{"systemMessage": ...}`, which the user sees and Claude does not. Nothing else, ever:
no `decision`, no exit 2, nothing that would keep Claude working; silent when no budget
was newly exceeded; failures go to the log. The capture hook on every tool call stays lean.

Which budgets were exceeded at the last look is kept in `budget-warnings.json` in the
tokentag dir: one exceeded again after falling back (a new day, say) warns again.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tokentag.capture import hook
from tokentag.core.fileio import write_atomic
from tokentag.git.gitdirs import Worktree, find_worktree
from tokentag.watch import budgets

WARNED_NAME = "budget-warnings.json"


def run(stdin: Any = None) -> int:
    """Read the Stop payload, print the warning if one is due. Always returns 0."""
    home: Worktree | None = None
    try:
        payload = hook.parse_payload(hook.read_payload(stdin))
        home = find_worktree(payload["cwd"])
        if home is None or not os.path.isdir(home.tokentag_dir):
            return 0  # tokentag never ran here: no budgets to keep
        message = warning(payload, home)
        if message:
            sys.stdout.write(json.dumps({"systemMessage": message}) + "\n")
    except Exception as error:  # noqa: BLE001 - a Stop hook must never fail Claude Code
        hook.log_failure(home, error, "budget warning")
    return 0


def warning(payload: dict[str, Any], home: Worktree) -> str | None:
    """The message for budgets exceeded since the last look, if any."""
    from tokentag.setup import config

    settings = config.load(home.top)
    if not settings.budgets.limits():
        return None
    try:
        hook.catch_up_session(payload, home)
    except Exception as error:  # noqa: BLE001 - measure what was captured all the same
        hook.log_failure(home, error, "budget warning")
    verdicts = budgets.evaluate(home, budgets.Settings(settings.budgets, settings.prices,
                                                       settings.tag_pattern))
    exceeded = budgets.exceeded(verdicts)
    warned = _warned(home)
    _remember(home, [verdict.ident for verdict in exceeded])
    fresh = [verdict for verdict in exceeded if verdict.ident not in warned]
    if not fresh:
        return None
    return "tokentag: budget exceeded: " + "; ".join(verdict.line() for verdict in fresh)


def _warned(home: Worktree) -> set[str]:
    try:
        with open(os.path.join(home.tokentag_dir, WARNED_NAME), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return set()
    return {str(ident) for ident in found} if isinstance(found, list) else set()


def _remember(home: Worktree, idents: list[str]) -> None:
    write_atomic(Path(home.tokentag_dir, WARNED_NAME), json.dumps(idents).encode(),
                 scratch=os.path.join(home.tokentag_dir, "tmp"))
