"""What every stage shares: token counts, JSON, time stamps, errors, paths, files, named
tuples, and SQLite's loading.

May import: the standard library only, and only what the hook paths can afford (no `re`,
`pathlib`, `json`, `typing`, `dataclasses`, `subprocess`, `datetime`, `functools` or
`collections` at import time in the modules the hooks load; see tokentag/__init__.py).
"""
