from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
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


# --- health -------------------------------------------------------------------------------


class ProbeOut(Schema):
    status: str
    status_code: int | None
    latency_ms: int | None
    detail: str


class DirectProbeIn(Schema):
    """An unsaved provider to probe; nothing is stored."""

    base_url: str = Field(max_length=500)
    api_key: str = Field(default="", max_length=4096)
    models: list[ModelId] = Field(default_factory=list)
    kind: Kind | None = None
    name: str = Field(default="", max_length=100)

    _url = field_validator("base_url")(_check_url)


class HealthIn(Schema):
    is_healthy: bool


# --- catalog ------------------------------------------------------------------------------

Price = Annotated[Decimal, Field(ge=0, le=99999999, max_digits=20, decimal_places=12)]


class ModelInfoOut(Schema):
    id: int
    provider_id: int
    provider: str
    model_id: str
    name: str
    context_length: int | None
    prompt_price: float | None
    completion_price: float | None
    cache_read_price: float | None
    cache_write_price: float | None
    supports_vision: bool
    is_reasoning: bool
    is_free: bool
    updated_at: datetime

    @staticmethod
    def resolve_provider(obj: Any) -> str:
        return obj.provider.name


class ModelInfoPatch(Schema):
    """Prices in USD per token, as numbers or strings ("0.000003"); null clears one."""

    prompt_price: Price | None = None
    completion_price: Price | None = None
    cache_read_price: Price | None = None
    cache_write_price: Price | None = None
    name: str | None = Field(default=None, max_length=200)
    context_length: int | None = Field(default=None, gt=0)
    supports_vision: bool | None = None
    is_reasoning: bool | None = None


class ModelFilters(Schema):
    search: str | None = Field(default=None, max_length=200)
    provider: str | None = Field(default=None, max_length=100)
    free: bool | None = None
    vision: bool | None = None
    reasoning: bool | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class ModelPage(Schema):
    items: list[ModelInfoOut]
    count: int


class SyncOut(Schema):
    providers: int
    models: int
    created: int
    updated: int
    errors: list[dict[str, str]]
