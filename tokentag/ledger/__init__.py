"""The record and its index: `records` builds every ledger record, `jsonl` appends and reads
the append-only file under the lock, `index` is the SQLite cache folded from it and the
only module holding SQL, `store` ties the three to one repository.

May import: tokentag.core and tokentag.git.gitdirs. Lean: on every hook path.
"""
