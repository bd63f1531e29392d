"""Named tuples for the lean modules, without `collections`.

`collections.namedtuple` costs the hook paths the import of `collections` (with `operator`,
`reprlib` and `keyword`, about 1.8 ms of every tool call and commit; bench/README.md),
and each tuple it makes compiles its own source (0.05-0.1 ms). These are the same
tuples as far as tokentag uses them: items by name and position, keyword arguments and
defaults, `_fields`, `_replace`, `_asdict`, a named-field repr, pickling. The type checker
sees a `typing.NamedTuple` in their place (see tokentag/__init__.py).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no `typing` at run time: see tokentag/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

try:
    # The C descriptor namedtuple's fields are made of; `_collections` is built in.
    from _collections import _tuplegetter  # type: ignore[import-not-found]
except ImportError:  # another interpreter
    from operator import itemgetter

    def _tuplegetter(index: int, doc: str) -> property:
        return property(itemgetter(index), doc=doc)


def tuple_type(name: str, fields: Sequence[str], defaults: Sequence[object] = ()) -> type:
    """A tuple class with `fields`, the last `len(defaults)` of them optional; subclass it
    (with `__slots__ = ()`) for methods."""
    fields = tuple(fields)
    namespace: dict[str, Any] = {
        "__slots__": (), "_fields": fields, "__match_args__": fields,
        "_field_defaults": dict(zip(fields[len(fields) - len(defaults):], defaults, strict=True)),
        "__new__": _new_of(name, fields, tuple(defaults)),
        "_replace": _replace, "_asdict": _asdict, "__repr__": _repr,
        "__getnewargs__": _getnewargs,
        "__module__": sys._getframe(1).f_globals.get("__name__", __name__),
    }
    for index, field in enumerate(fields):
        namespace[field] = _tuplegetter(index, f"Alias for field number {index}")
    return type(name, (tuple,), namespace)


def _new_of(name: str, fields: tuple[str, ...], defaults: tuple[object, ...]
            ) -> Callable[..., Any]:
    count, optional_from = len(fields), len(fields) - len(defaults)

    def __new__(cls: type, *values: object, **named: object) -> Any:
        if named or len(values) != count:
            values = _completed(values, named)
        return tuple.__new__(cls, values)

    def _completed(values: tuple[object, ...], named: dict[str, object]) -> tuple[object, ...]:
        if len(values) > count:
            raise TypeError(f"{name}() takes {count} arguments but {len(values)} were given")
        out = list(values)
        for index in range(len(values), count):
            if fields[index] in named:
                out.append(named.pop(fields[index]))
            elif index >= optional_from:
                out.append(defaults[index - optional_from])
            else:
                raise TypeError(f"{name}() missing required argument {fields[index]!r}")
        if named:
            raise TypeError(f"{name}() got an unexpected or repeated argument "
                            f"{next(iter(named))!r}")
        return tuple(out)

    return __new__


def _replace(self: Any, **changes: object) -> Any:
    values = [changes.pop(field, value) for field, value in zip(self._fields, self, strict=True)]
    made = tuple.__new__(type(self), values)
    if changes:
        raise ValueError(f"got unexpected field names: {list(changes)!r}")
    return made


def _asdict(self: Any) -> dict[str, Any]:
    return dict(zip(self._fields, self, strict=True))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{field}={value!r}" for field, value in zip(self._fields, self, strict=True))
    return f"{type(self).__name__}({shown})"


def _getnewargs(self: Any) -> tuple[Any, ...]:
    return tuple(self)
