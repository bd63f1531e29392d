"""What every stage shares: token counts, JSON, time stamps, errors, paths, files.

May import: the standard library only, and only what the hook paths can afford (no `re`,
`pathlib`, `json`, `typing`, `dataclasses`, `subprocess` or `datetime` at import time in
the modules the hooks load; see tokentag/__init__.py).
"""
