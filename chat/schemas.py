"""Payloads of the keys API (/api/keys)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ScopeName = Literal["chat", "admin"]
Budget = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
# The longest overlap a rotation offers: long enough to redeploy, short enough to end.
MAX_GRACE_SECONDS = 30 * 86_400


def chat_only() -> list[ScopeName]:
    return ["chat"]


class KeyIn(Schema):
    name: Name
    scopes: list[ScopeName] = Field(default_factory=chat_only, min_length=1)
    budget_usd: Budget | None = None
    rpm_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    expires_at: datetime | None = None
    owner_id: int | None = None  # operators only; a user's own keys are theirs


class KeyPatch(Schema):
    name: Name | None = None
    scopes: list[ScopeName] | None = Field(default=None, min_length=1)
    budget_usd: Budget | None = None
    rpm_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    expires_at: datetime | None = None
    is_active: bool | None = None
    owner_id: int | None = None


class RotateIn(Schema):
    grace_seconds: int = Field(default=0, ge=0, le=MAX_GRACE_SECONDS)


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    budget_usd: Decimal | None
    rpm_limit: int | None
    expires_at: datetime | None
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None
    owner_id: int | None
    owner: str | None
    previous_valid_until: datetime | None
    spent_usd: Decimal
    requests: int


class KeyCreated(KeyOut):
    key: str  # the secret: in this response only, never again
