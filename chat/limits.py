"""Limits: per-key rpm and budgets for /v1, per-user quotas (rpm and a budget per day or
month) for everything a user spends — the console, documents, the playground and every
key they own. Exact across every web worker and instance (coordination.counters)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from chat.errors import GatewayError
from chat.gateway import CallContext, estimated_prompt_tokens
from chat.keys import KeyInfo
from coordination import counters
from routing.engine import Candidate
from usage import quotas, spend
from usage.quotas import QuotaInfo
from usage.recording import Draft

Admission = Callable[[list[Candidate]], Awaitable[None]]

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
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return settings.BUDGET_RESERVE_TOKENS


async def expected_cost(candidates: list[Candidate], prompt_tokens: int, output: int) -> Decimal:
    offers = [(candidate.provider.id, candidate.model) for candidate in candidates]
    return await spend.aexpected_cost(offers, prompt_tokens, output)


async def reserve_budget(key: KeyInfo, draft: Draft, expected: Decimal) -> None:
    """Reserve the request's expected cost on the key's spend, or refuse it (429)."""
    if key.budget_usd is None:
        return
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


def _quota_refusal(message: str, resets_at: datetime) -> GatewayError:
    retry_after = max(1, int((resets_at - timezone.now()).total_seconds() + 0.999))
    return GatewayError(
        429,
        f"{message} It resets at {resets_at.isoformat(timespec='seconds')}.",
        code="quota_exceeded",
        type="insufficient_quota",
        retry_after=retry_after,
    )


async def check_user_rate(quota: QuotaInfo) -> None:
    """A fixed one-minute window per user, over all their traffic."""
    if not quota.rpm_limit:
        return
    now = time.time()
    window = int(now // 60)
    count = await counters.aincr(f"rpm:user:{quota.user_id}:{window}", RPM_WINDOW_TTL_SECONDS)
    if count > quota.rpm_limit:
        resets_at = datetime.fromtimestamp((window + 1) * 60, tz=timezone.get_current_timezone())
        raise _quota_refusal(
            f"Rate quota reached for user '{quota.username}': "
            f"{quota.rpm_limit} requests per minute.",
            resets_at,
        )


async def reserve_quota(quota: QuotaInfo, draft: Draft, expected: Decimal) -> None:
    """Reserve the request's expected cost on the user's spend this period, or refuse it."""
    if quota.budget_usd is None:
        return
    reservation, resets_at = await spend.areserve_user(quota, expected)
    if not reservation.admitted:
        spent = Decimal(reservation.spent) / spend.NANO
        raise _quota_refusal(
            f"Budget quota reached for user '{quota.username}': ${spent:.4f} spent or "
            f"reserved of ${quota.budget_usd:.2f} per {quota.period}.",
            resets_at,
        )
    draft.reservations.append((reservation.key, spend.nano(expected)))


def admission(
    draft: Draft, key: KeyInfo | None, user_id: int | None, body: dict[str, Any], prompt: int
) -> Admission | None:
    """What the attempt loop runs once it knows the candidates (CallContext.admit): the
    key's budget, then the user's quota (rpm and budget). A refusal after the key's
    reservation leaves it on the draft, released when the row is settled. None when
    neither can apply."""
    budgeted = key is not None and key.budget_usd is not None
    if not budgeted and user_id is None:
        return None
    output = output_tokens(body)

    async def admit(candidates: list[Candidate]) -> None:
        quota = await quotas.afor_user(user_id) if user_id is not None else None
        if quota is not None:
            await check_user_rate(quota)
        if not budgeted and (quota is None or quota.budget_usd is None):
            return
        expected = await expected_cost(candidates, prompt, output)
        if key is not None:
            await reserve_budget(key, draft, expected)
        if quota is not None:
            await reserve_quota(quota, draft, expected)

    return admit


def admit_user(ctx: CallContext, body: dict[str, Any]) -> None:
    """Console, playground and document calls spend their user's quota."""
    if ctx.user_id is not None:
        prompt = estimated_prompt_tokens(body)
        ctx.admit = admission(ctx.draft, None, ctx.user_id, body, prompt)
