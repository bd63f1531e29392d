"""What a person or an agent watches while the work goes on: `statusline` (one line for
Claude Code's status bar, lean: it runs after every assistant message), `branch` (this
branch's commits since it left the default branch, lean), `budgets` (limits per release,
branch, day and commit, for `tokentag check` and the opt-in warning at the end of a turn)
and `summary` (the totals and events the MCP tools answer with).

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.capture,
tokentag.report, tokentag.release. Lean: `statusline` and `branch`, until a price is
missing from the price cache (see report.rates).
"""
