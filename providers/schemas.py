from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from ninja import Schema
from pydantic import Field, StringConstraints, field_validator

from providers.models import Kind

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _check_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class ProviderIn(Schema):
    name: Name
    base_url: str = Field(max_length=500)
    api_key: str = Field(default="", max_length=4096)
    models: list[ModelId] = Field(default_factory=list)
    is_active: bool = True
    kind: Kind | None = None

    _url = field_validator("base_url")(_check_url)


class ProviderPatch(Schema):
    name: Name | None = None
    base_url: str | None = Field(default=None, max_length=500)
    api_key: str | None = Field(default=None, max_length=4096)
    models: list[ModelId] | None = None
    is_active: bool | None = None
    kind: Kind | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)


class ProviderOut(Schema):
    id: int
    name: str
    kind: str
    base_url: str
    models: list[str]
    is_active: bool
    api_key_set: bool
    api_key_hint: str
    status: str
    latency_ms: int | None
    last_tested_at: datetime | None
    consecutive_failures: int
    is_healthy: bool
    cooldown_until: datetime | None
    created_at: datetime
    updated_at: datetime
