"""tokentag: token and cost attribution for AI coding agents, per commit and per release.

The package is laid out along the pipeline; each subpackage says in its docstring what it
holds and which others it may import, always ones listed before it here:

    core         counts, JSON, time stamps, errors, paths, the log, the lock (stdlib only)
    git          the door to git: lean subprocess helpers, and GitPython for people
    ledger       records, the append-only JSONL file, the SQLite index, persistent state
    notes        per-commit totals in git notes, and their sync with a remote
    capture      transcripts to records; the Claude Code hook
    attribution  records to commits; the git hooks
    importer     past transcripts to records and past commits
    report       totals, prices, reports, status, log, show
    release      release ranges, their totals, the release notes file
    dashboard    one HTML page of every total, and a local server for it
    watch        the status line, budgets, the MCP server an agent asks
    setup        install, uninstall, doctor, demo, configuration
    cli          parses the command line, calls the stages, prints

The hook paths (`tokentag hook` on every Claude Code tool call, `tokentag git-hook` on
every commit) start from `_entry` and import only the standard library and the lean modules
of core, git (gitdirs, gitcmd), ledger, notes (content), capture and attribution; so does
a repeated `tokentag import` that finds nothing new (importer: options, discovery, run). They
avoid even some of the standard library at import time, each measured on this project's
hook paths: `typing` (about 2.5 ms), `dataclasses` (which pulls in `inspect`; with `typing`
about 9 ms), `re` (5.7 ms), `pathlib` (3.8 ms), `json` (7.5 ms, hence core.fastjson),
`datetime` (3 ms), `subprocess` (6 ms), `contextlib` (0.6 ms), and `functools` with
`collections` (3.5 ms). Hence `TYPE_CHECKING = False` in place of `from typing import
TYPE_CHECKING`, named tuples typed for the checker only and made by core.tuples, SQLite
loaded by core.lean_sqlite, string paths, and `with` blocks written as classes.
Third-party packages are for the commands a person runs, and are imported only on their
paths: click, pydantic, genai-prices, regex, and GitPython, through git.gitrepo (80-100 ms
to import, measured, two `git version` runs included; see tokentag/git).
Git is reached by path: the hook paths through git.gitcmd, a person's commands through
git.gitrepo. tests/test_hot_path.py enforces the rule, third-party packages included.
"""

from __future__ import annotations

__version__ = "0.1.0"
