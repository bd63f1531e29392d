"""What a person or an agent watches while the work goes on: `statusline` (one line for
Claude Code's status bar, lean: it runs after every assistant message), `branch` (this
branch's commits since it left the default branch, lean), `limits` and `budgets` (limits
per release, branch, day and commit, and what each is measured against, for `tokentag
check`), `warning` (the opt-in message at the end of a turn), `summary` (the totals and
requests the MCP tools answer with) and `mcp_server` (the server, with the SDK).

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.capture,
tokentag.report, tokentag.release. Lean: `statusline` and `branch`, until a price is
missing from the rates kept beside the index (see report.ratebook).
"""
