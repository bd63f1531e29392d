"""The ledger's record kinds as pydantic models: the schema, checkable.

The hook writes plain dicts (importing pydantic would double its start-up time), so
nothing on the hot path uses these. They exist to state the schema in one place and
to let tests and `validate_ledger` prove that every line ever written matches it.
Validation is strict: a count written as "12" or 12.0 or true is a writer bug, not
something to coerce quietly, and an unknown field means the schema drifted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from tokentag.ledger.records import SCHEMA_VERSION

Count = Annotated[int, Field(ge=0)]
# A rewrite pair is written as a JSON array of two commit ids, never a tuple.
CommitPair = Annotated[list[str], Field(min_length=2, max_length=2)]


class _RecordBase(BaseModel):
    """What every record shares: the schema version. Each kind adds its `kind` literal,
    which tells the union below which model a line is."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    v: int

    @field_validator("v")
    @classmethod
    def _current_version(cls, value: int) -> int:
        # Records of another version may have other fields: these models describe this one.
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema version {value} is not {SCHEMA_VERSION}")
        return value


class _Counts(BaseModel):
    """One request's counts, in ccusage's vocabulary (see tokentag.core.usage.USAGE_FIELDS)."""

    input: Count
    output: Count
    cache_creation: Count
    cache_creation_5m: Count
    cache_creation_1h: Count
    cache_read: Count


class RequestRecord(_RecordBase, _Counts):
    """One API request, counted once per repository: ids, context and counts, no text."""

    kind: Literal["request"]
    key: str = Field(min_length=1)
    message_id: str = Field(min_length=1)
    request_id: str
    session_id: str
    agent_id: str | None
    model: str
    ts: str
    cwd: str
    worktree: str
    branch: str | None
    version: str | None
    transcript: str
    captured_at: str
    via: str

    @model_validator(mode="after")
    def _key_names_the_request(self) -> RequestRecord:
        # Dedup, corrections and attribution all join on `key`: it must be the pair.
        if self.key != f"{self.message_id}/{self.request_id}":
            raise ValueError(f"key {self.key!r} is not message_id/request_id")
        return self


class CorrectionRecord(_RecordBase, _Counts):
    """Raised counts for a request already recorded; readers take field-wise maxima."""

    kind: Literal["correction"]
    key: str = Field(min_length=1)
    captured_at: str


class SessionRecord(_RecordBase):
    """Where a session's main transcript lives, so commits can flush it later."""

    kind: Literal["session"]
    session_id: str = Field(min_length=1)
    transcript: str
    cwd: str | None
    worktree: str
    seen_at: str


class AttributionRecord(_RecordBase):
    """Pending requests given to a commit."""

    kind: Literal["attribution"]
    commit: str = Field(min_length=1)
    worktree: str
    keys: list[str]
    how: str
    at: str


class RewriteRecord(_RecordBase):
    """Commits replaced by an amend or a rebase: attribution follows the new ids."""

    kind: Literal["rewrite"]
    type: str
    pairs: list[CommitPair]
    at: str


LedgerRecord = Annotated[
    RequestRecord | CorrectionRecord | SessionRecord | AttributionRecord | RewriteRecord,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[LedgerRecord] = TypeAdapter(LedgerRecord)


def validate_record(record: dict[str, Any]) -> LedgerRecord:
    """The model for one decoded ledger line; raises pydantic.ValidationError."""
    return _ADAPTER.validate_python(record)


def validate_ledger(path: Path) -> tuple[int, list[str]]:
    """Check every line of a ledger: (valid records, one problem string per bad line).

    Unlike the index, which skips a torn last line silently because a writer may still
    be appending it, this reports it: run it on a ledger nobody is writing to.
    """
    valid = 0
    problems: list[str] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            problem = _line_problem(line)
            if problem is None:
                valid += 1
            else:
                problems.append(f"line {number}: {problem}")
    return valid, problems


def _line_problem(line: bytes) -> str | None:
    if not line.endswith(b"\n"):
        return "torn (no newline)"
    try:
        decoded = json.loads(line)
    except ValueError as error:
        return f"not JSON: {error}"
    if not isinstance(decoded, dict):
        return "not a JSON object"
    try:
        validate_record(decoded)
    except ValidationError as error:
        return _one_line(error)
    return None


def _one_line(error: ValidationError) -> str:
    """Pydantic's message spans lines; a problem list wants one line per bad record."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                     for e in error.errors())
