"""Token counts of one API request, in ccusage's vocabulary."""

from __future__ import annotations

from tokentag.core.tuples import tuple_type

# Anthropic's `input_tokens` is the *uncached* input; cache writes and reads are separate.
USAGE_FIELDS = ("input", "output", "cache_creation", "cache_creation_5m", "cache_creation_1h",
                "cache_read")
# A request's count, or an estimate's, is below this, or it is no count: 2^32 is thousands
# of times the largest context window, and keeps the index's 64-bit sums of four such
# counts from overflowing short of 2^29 rows (a sum that overflows fails the whole query).
MAX_COUNT = 1 << 32


# The hook path imports neither `dataclasses` (which pulls in `inspect` and `ast`) nor
# `typing`: together about 9 ms of every hook call and every commit. The type checker
# sees a typed NamedTuple; the interpreter builds the same tuple with core.tuples.
# `typing` costs ~2.5 ms to import; mypy treats a name TYPE_CHECKING as its own flag.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    class _UsageFields(NamedTuple):
        input: int = 0
        output: int = 0
        cache_creation: int = 0
        cache_creation_5m: int = 0
        cache_creation_1h: int = 0
        cache_read: int = 0
else:
    _UsageFields = tuple_type("_UsageFields", USAGE_FIELDS, defaults=(0,) * len(USAGE_FIELDS))


class Usage(_UsageFields):
    """Counts of one request (or a sum of requests). `cache_creation` is the total of writes;
    `cache_creation_5m` and `cache_creation_1h` split it by cache lifetime when known."""

    __slots__ = ()

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read

    @property
    def prompt(self) -> int:
        """The whole prompt: what the long-context tier and most price tables call input."""
        return self.input + self.cache_creation + self.cache_read

    def __add__(self, other: tuple[object, ...]) -> Usage:
        """Field-wise sum (not tuple concatenation)."""
        assert isinstance(other, Usage)
        return Usage(*(a + b for a, b in zip(self, other, strict=True)))

    def maximum(self, other: Usage) -> Usage:
        return Usage(*(max(a, b) for a, b in zip(self, other, strict=True)))

    def as_totals(self) -> dict[str, int]:
        """The contract's `tokens` object."""
        return {"input": self.input, "output": self.output,
                "cache_creation": self.cache_creation, "cache_read": self.cache_read,
                "total": self.total}
