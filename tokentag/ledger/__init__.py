"""The record and its index: `records` builds every ledger record, `jsonl` appends and reads
the append-only file under the lock, `index` is the SQLite cache folded from it, with the
state no record holds (transcript cursors) in a file beside it, and with `reads`, its read
side (roll-ups, report queries), the only modules holding SQL; `store` ties the three to
one repository. `filters` (which requests a report covers) and `schema` (pydantic models of
the records) are for commands and tests only.

May import: tokentag.core and tokentag.git.gitdirs. Lean: on every hook path, but for
`reads`, `filters` and `schema`.
"""
