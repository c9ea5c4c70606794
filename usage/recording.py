"""Writing usage records and keeping the per-key spend that budgets read."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Sum

from config import metrics
from usage.models import UsageLog

if TYPE_CHECKING:
    from providers.catalog import Price

logger = logging.getLogger("switchboard.usage")

MICRO = Decimal(1_000_000)
SPEND_KEY = "usage:spend-micro:{key_id}"


@dataclass(slots=True)
class Draft:
    """What a gateway call has learned so far; written once as a UsageLog."""

    request_id: str
    source: str = "v1"
    api_key_id: int | None = None
    user_id: int | None = None
    session_id: str | None = None
    requested_model: str = ""
    route: str = ""
    provider: str = ""
    provider_id: int | None = None
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Parts of prompt_tokens served from / written to the provider's prompt cache.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False
    latency_ms: int | None = None
    ttft_ms: int | None = None
    status: str = "ok"
    error_code: str = ""
    stream: bool = False
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def price_for(provider_id: int | None, model: str) -> Price | None:
    """Catalog price per token for this provider's model, or None when unknown."""
    if provider_id is None or not model:
        return None
    from providers.catalog import prices_for  # lazily: providers imports usage

    return prices_for(provider_id, model)


def cost_of(draft: Draft, price: Price | None) -> tuple[Decimal, bool]:
    """prompt_tokens includes the cached ones; those are priced at the cache prices when
    the catalog has them, as ordinary prompt tokens when it does not."""
    if price is None:
        return Decimal(0), False
    read = min(draft.cache_read_tokens, draft.prompt_tokens)
    write = min(draft.cache_write_tokens, draft.prompt_tokens - read)
    cost = price.prompt * (draft.prompt_tokens - read - write)
    cost += (price.prompt if price.cache_read is None else price.cache_read) * read
    cost += (price.prompt if price.cache_write is None else price.cache_write) * write
    return cost + price.completion * draft.completion_tokens, True


def row_for(draft: Draft, price: Price | None) -> UsageLog:
    """The unsaved UsageLog for a finished call, priced from the catalog."""
    cost, priced = cost_of(draft, price)
    return UsageLog(
        request_id=draft.request_id,
        source=draft.source,
        api_key_id=draft.api_key_id,
        user_id=draft.user_id,
        session_id=draft.session_id or None,
        requested_model=draft.requested_model[:200],
        route=draft.route,
        provider=draft.provider,
        model=draft.model[:200],
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        cache_read_tokens=draft.cache_read_tokens,
        cache_write_tokens=draft.cache_write_tokens,
        total_tokens=draft.prompt_tokens + draft.completion_tokens,
        cost_usd=cost,
        priced=priced,
        estimated=draft.estimated,
        latency_ms=draft.latency_ms,
        ttft_ms=draft.ttft_ms,
        status=draft.status,
        error_code=draft.error_code,
        stream=draft.stream,
        attempts=draft.attempts,
    )


def record(draft: Draft) -> UsageLog | None:
    """Write one UsageLog now (console and document calls; /v1 batches through
    usage.writer). Never raises: losing a usage row must not turn a served answer into an
    error, so a database failure is logged instead."""
    log = row_for(draft, price_for(draft.provider_id, draft.model))
    try:
        log.save()
    except DatabaseError:
        logger.exception("could not write the usage record", extra={"usage": draft.request_id})
        return None
    counted(log)
    return log


def counted(log: UsageLog) -> None:
    """After a record is written: the key's spend and the token and cost metrics."""
    if log.api_key_id is not None and log.cost_usd:
        add_spend(log.api_key_id, log.cost_usd)
    if log.provider:
        metrics.record_usage(
            log.provider, log.model, log.prompt_tokens, log.completion_tokens, float(log.cost_usd)
        )


def add_spend(key_id: int, cost: Decimal) -> None:
    # Not cached yet (ValueError): the next spent_usd() sums the database, this row included.
    with contextlib.suppress(ValueError):
        cache.incr(SPEND_KEY.format(key_id=key_id), int(cost * MICRO))


def spent_usd(key_id: int) -> Decimal:
    """Total spent by a key, from the cache; summed from the database once when missing.
    A record written between the sum and the set may be counted twice or not at all until
    the cache entry is rebuilt; budgets tolerate that small window."""
    cached = cache.get(SPEND_KEY.format(key_id=key_id))
    if cached is not None:
        return Decimal(cached) / MICRO
    total = UsageLog.objects.filter(api_key_id=key_id).aggregate(s=Sum("cost_usd"))["s"] or 0
    cache.set(SPEND_KEY.format(key_id=key_id), int(Decimal(total) * MICRO), timeout=None)
    return Decimal(total)
