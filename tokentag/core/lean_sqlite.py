"""SQLite for the hook paths: the C module `sqlite3` wraps, loaded without `functools`.

`_sqlite3` imports `functools` for one thing, `lru_cache`, which every connection wraps
around its statement cache; `functools` loads `collections`, `operator`, `reprlib`,
`keyword` and `types`, about 3.5 ms of every hook call and commit (bench/README.md) for
code they never run. While `_sqlite3` is first imported, a stand-in `functools` offers the
same cache, built from `_functools._lru_cache_wrapper`, the C type `functools.lru_cache`
itself returns. The stand-in is gone from `sys.modules` at once: whoever imports
`functools` later gets the real one.

Not the `sqlite3` package either: its datetime adapters import `datetime`, 3 ms more, for
conversions tokentag never asks for (it stores text).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any


def load() -> ModuleType:
    """`_sqlite3`, or the `sqlite3` package where the interpreter has no `_sqlite3`."""
    if "_sqlite3" in sys.modules or "functools" in sys.modules:
        return _plain()
    try:
        from _functools import _lru_cache_wrapper  # type: ignore[import-not-found]
    except ImportError:  # another interpreter: the real functools, then
        return _plain()
    stand_in = type(sys)("functools")
    stand_in.lru_cache = _lru_cache_of(_lru_cache_wrapper)  # type: ignore[attr-defined]
    sys.modules["functools"] = stand_in
    try:
        return _plain()
    finally:
        if sys.modules.get("functools") is stand_in:
            del sys.modules["functools"]


def _lru_cache_of(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """`functools.lru_cache(maxsize, typed)`, as `_sqlite3` calls it, made of its C core;
    without `cache_info`, whose named tuple needs `collections`."""
    def lru_cache(maxsize: int | None = 128, typed: bool = False) -> Callable[..., Any]:
        return lambda user_function: wrapper(user_function, maxsize, typed, None)

    return lru_cache


def _plain() -> ModuleType:
    try:
        import _sqlite3
    except ImportError:  # an interpreter that builds sqlite3 another way
        import sqlite3

        return sqlite3
    return _sqlite3
