"""Putting tokentag in place and checking it: `install` (git hooks and Claude Code hooks),
`git_hooks`, `claude_settings`, `doctor`, `demo` and the project's `config`.

May import: any stage below the command line.
"""
