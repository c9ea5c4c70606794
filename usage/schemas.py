from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Schema


class UsageOut(Schema):
    id: int
    request_id: str
    source: str
    key: str | None
    user: str | None
    session_id: UUID | None
    route: str
    provider: str
    model: str
    requested_model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    priced: bool
    estimated: bool
    latency_ms: int | None
    ttft_ms: int | None
    status: str
    error_code: str
    stream: bool
    attempts: int
    created_at: datetime


class UsagePage(Schema):
    items: list[UsageOut]
    count: int
