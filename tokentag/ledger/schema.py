"""The ledger's record kinds as pydantic models, made from `records.FIELDS`: the schema,
checkable.

The hook writes plain dicts (importing pydantic would double its start-up time), so
nothing on the hot path uses these. They let tests and `validate_ledger` prove that every
line ever written matches the schema records.py states. Validation is strict: a count
written as "12" or 12.0 or true is a writer bug, not something to coerce quietly, and an
unknown field means the schema drifted.
"""

from __future__ import annotations

import json
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from tokentag.ledger import records
from tokentag.ledger.records import SCHEMA_VERSION

# A rewrite pair is written as a JSON array of two commit ids, never a tuple.
_CommitPair = Annotated[list[str], Field(min_length=2, max_length=2)]
_TYPES: dict[str, Any] = {
    records.TEXT: str,
    records.ID: Annotated[str, Field(min_length=1)],
    records.TEXT_OR_NULL: str | None,
    records.COUNT: Annotated[int, Field(ge=0)],
    records.TEXTS: list[str],
    records.PAIRS: list[_CommitPair],
}


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


def _key_names_the_request(record: Any) -> Any:
    # Dedup, corrections and attribution all join on `key`: it must be the pair.
    # Keys written before ids were escaped joined them as they were: still the pair.
    if record.key not in (records.request_key(record.message_id, record.request_id),
                          f"{record.message_id}/{record.request_id}"):
        raise ValueError(f"key {record.key!r} is not message_id/request_id")
    return record


def _key_is_namespaced(record: Any) -> Any:
    # An estimate's key must never meet a transcript's: see records.ESTIMATE_PREFIX.
    if not record.key.startswith(records.ESTIMATE_PREFIX) or \
            len(record.key) == len(records.ESTIMATE_PREFIX):
        raise ValueError(f"key {record.key!r} is not {records.ESTIMATE_PREFIX}<id>")
    return record


_VALIDATORS: dict[str, dict[str, Any]] = {
    "request": {"key_names_the_request": model_validator(mode="after")(_key_names_the_request)},
    "estimate": {"key_is_namespaced": model_validator(mode="after")(_key_is_namespaced)},
}


def _model(kind: str) -> type[BaseModel]:
    fields: dict[str, Any] = {name: (_TYPES[spec], ...) for name, spec in records.FIELDS[kind]}
    fields["kind"] = (Literal[kind], ...)  # which model a line is: see _ADAPTER
    return create_model(f"{kind.capitalize()}Record", __base__=_RecordBase,
                        __validators__=_VALIDATORS.get(kind), **fields)


MODELS = {kind: _model(kind) for kind in records.KINDS}
RequestRecord = MODELS["request"]
CorrectionRecord = MODELS["correction"]
SessionRecord = MODELS["session"]
AttributionRecord = MODELS["attribution"]
RewriteRecord = MODELS["rewrite"]
EstimateRecord = MODELS["estimate"]
_ANY_RECORD: Any = Annotated[reduce(or_, MODELS.values()), Field(discriminator="kind")]
_ADAPTER: TypeAdapter[BaseModel] = TypeAdapter(_ANY_RECORD)


def validate_record(record: dict[str, Any]) -> BaseModel:
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
