"""Per-key limits for /v1: requests per minute and spending budgets."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async

import usage
from chat import counters
from chat.errors import GatewayError
from chat.keys import KeyInfo

BUDGET_RETRY_AFTER_SECONDS = 3600


async def check_rate(key: KeyInfo) -> None:
    """A fixed one-minute window per key, shared through the cache."""
    if not key.rpm_limit:
        return
    now = time.time()
    window = int(now // 60)
    count = await counters.incr(f"rpm:{key.id}:{window}", ttl_seconds=90)
    if count > key.rpm_limit:
        retry_after = max(1, int(60 - now % 60))
        raise GatewayError(
            429,
            f"Rate limit reached for key '{key.name}': {key.rpm_limit} requests per minute.",
            code="rate_limit_exceeded",
            type="rate_limit_error",
            retry_after=retry_after,
        )


async def check_budget(key: KeyInfo) -> None:
    if key.budget_usd is None:
        return
    spent = await sync_to_async(usage.spent_usd)(key.id)
    if spent >= key.budget_usd:
        raise GatewayError(
            429,
            f"Budget exhausted for key '{key.name}': ${spent:.4f} spent of ${key.budget_usd:.2f}.",
            code="budget_exceeded",
            type="insufficient_quota",
            retry_after=BUDGET_RETRY_AFTER_SECONDS,
        )
