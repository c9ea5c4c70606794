"""Per-key limits for /v1: requests per minute and spending budgets, exact across every
web worker and instance (coordination.counters)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from django.conf import settings

from chat.errors import GatewayError
from chat.keys import KeyInfo
from coordination import counters
from routing.engine import Candidate
from usage import spend
from usage.recording import Draft

BUDGET_RETRY_AFTER_SECONDS = 3600
RPM_WINDOW_TTL_SECONDS = 90


async def check_rate(key: KeyInfo) -> None:
    """A fixed one-minute window per key."""
    if not key.rpm_limit:
        return
    now = time.time()
    window = int(now // 60)
    count = await counters.aincr(f"rpm:key:{key.id}:{window}", RPM_WINDOW_TTL_SECONDS)
    if count > key.rpm_limit:
        retry_after = max(1, int(60 - now % 60))
        raise GatewayError(
            429,
            f"Rate limit reached for key '{key.name}': {key.rpm_limit} requests per minute.",
            code="rate_limit_exceeded",
            type="rate_limit_error",
            retry_after=retry_after,
        )


def output_tokens(body: dict[str, Any]) -> int:
    """What the request may produce: its own cap, else BUDGET_RESERVE_TOKENS."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return settings.BUDGET_RESERVE_TOKENS


async def reserve_budget(
    key: KeyInfo, draft: Draft, candidates: list[Candidate], prompt_tokens: int, output: int
) -> None:
    """Reserve the request's expected cost on the key's spend, or refuse it (429)."""
    if key.budget_usd is None:
        return
    offers = [(candidate.provider.id, candidate.model) for candidate in candidates]
    expected = await spend.aexpected_cost(offers, prompt_tokens, output)
    reservation = await spend.areserve_key(key.id, key.budget_usd, expected)
    if not reservation.admitted:
        spent = Decimal(reservation.spent) / spend.NANO
        raise GatewayError(
            429,
            f"Budget exhausted for key '{key.name}': ${spent:.4f} spent or reserved "
            f"of ${key.budget_usd:.2f}.",
            code="budget_exceeded",
            type="insufficient_quota",
            retry_after=BUDGET_RETRY_AFTER_SECONDS,
        )
    draft.reservations.append((reservation.key, spend.nano(expected)))
