"""Per-commit totals in git notes (`refs/notes/tokentag`), so the figures travel with git:
`content` makes, reads and joins a note's JSON, `publish` puts notes into git (`early`
starts a commit's git while the post-commit hook works out its body), `sync` shares the
notes through a remote.

May import: tokentag.core, tokentag.git, tokentag.ledger.
"""

NOTES_REF = "refs/notes/tokentag"
