"""`[budgets]` in the configuration: a limit per scope, in dollars, tokens or both. The
models alone, so that loading the configuration costs no more than pydantic; what each
limit is measured against is in budgets."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCOPES = ("release", "branch", "day", "commit")


class Limit(BaseModel):
    """At most so many dollars, at most so many tokens, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: Decimal | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_at_least(self) -> Limit:
        if self.usd is None and self.tokens is None:
            raise ValueError("set usd, tokens or both")
        return self


class Budgets(BaseModel):
    """`[budgets]`: a limit per scope, each optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: Limit | None = None
    branch: Limit | None = None
    day: Limit | None = None
    commit: Limit | None = None

    def limits(self) -> dict[str, Limit]:
        return {scope: limit for scope in SCOPES if (limit := getattr(self, scope)) is not None}
