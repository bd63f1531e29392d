"""Transcripts in, ledger records out: `transcript` reads Claude Code's JSONL files (new
bytes only, one usage figure per API request), `reconcile` what a session's own running
totals hold beyond them, `codex` reads OpenAI Codex CLI's rollouts, `catch_up` records what
a session's files gained since their cursors (read before the lock, written under one),
`hook` is what Claude Code runs on every hook event, `codex_notify` what Codex runs after
every turn.

May import: tokentag.core, tokentag.git.gitdirs, tokentag.ledger, tokentag.notes (content,
publish).
Lean: `hook` runs on every tool call.
"""
