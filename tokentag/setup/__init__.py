"""Putting tokentag in place and checking it: `install` (git hooks, Claude Code hooks and
Codex's notify), `git_hooks`, `claude_settings`, `codex_config`, `launch` (how each
registered command starts Python), `doctor`, `demo` and the project's `config`.

May import: any stage below the command line.
"""
