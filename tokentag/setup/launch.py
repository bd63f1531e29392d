"""How every command tokentag registers (the Claude Code hooks and status line, Codex's
`notify`, the git hooks) starts Python: the interpreter tokentag was installed with, no
console-script wrapper, and tokentag's own dir named on the command line, so nothing on the
way to `tokentag._entry` depends on `site`.

These commands run in the user's repository, and `-c` and `-m` put the current directory
first on `sys.path`: a `contextlib.py` at a repository's top would be imported in place of
the standard library's, that is, run by every commit and tool call, from a repository
just cloned. `-P` (Python 3.11) leaves it off, and `-E` a PYTHONPATH that a project's
Claude Code settings (`env`) may set for its hooks. tokentag's dir goes first, so that
every command, with `site` or without, runs the tokentag that registered it.
"""

from __future__ import annotations

import os

ENTRY = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from tokentag._entry import main; main()")


def python_words(site: bool = False) -> str:
    """Shell words that start tokentag, for a shell that has set `$tokentag_python` and
    `$tokentag_root`; the command's own arguments follow. Without `site` unless asked:
    the hook paths need only the standard library, and `site` costs every call a few ms."""
    flags = "-E -P" if site else "-E -S -P"
    return f'"$tokentag_python" {flags} -c "{ENTRY}" "$tokentag_root"'


def package_root() -> str:
    """The dir from which `import tokentag` finds this tokentag."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
