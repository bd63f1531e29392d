"""Captured requests to commits: `attribute` holds the rules run by post-commit, post-merge
and post-rewrite, `git_hook` is what the installed git hooks call.

May import: tokentag.core, tokentag.git (not gitrepo), tokentag.ledger, tokentag.notes
(not sync), tokentag.capture. Lean: runs on every commit.
"""
