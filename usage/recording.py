"""Writing usage records: the Draft a call fills in, its price, and its row."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError
from django.utils import timezone

from config import metrics
from usage.models import UsageLog

if TYPE_CHECKING:
    from providers.catalog import Price

logger = logging.getLogger("switchboard.usage")


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
    # When the request arrived: the row's created_at, whenever it is written.
    created_at: datetime = field(default_factory=timezone.now)
    # (counter key, nano-USD) reserved against budgets; settled when the row is written.
    reservations: list[tuple[str, int]] = field(default_factory=list)


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
        created_at=draft.created_at,
    )


def record(draft: Draft) -> UsageLog | None:
    """Write one UsageLog now (console and document calls; /v1 batches through
    usage.writer). Never raises: losing a usage row must not turn a served answer into an
    error, so a database failure is logged instead."""
    from usage import spend

    log = row_for(draft, spend.prices.get(draft.provider_id, draft.model))
    try:
        log.save()
    except DatabaseError:
        logger.exception("could not write the usage record", extra={"usage": draft.request_id})
        return None
    written([(log, draft)])
    return log


def written(rows: list[tuple[UsageLog, Draft]]) -> None:
    """After rows are written: settle their budget reservations, stamp their keys' use,
    count their tokens and cost."""
    from usage import spend

    spend.settle(rows)
    key_use.stamp((row.api_key_id, row.created_at) for row, _ in rows if row.api_key_id)
    for row, _ in rows:
        if row.provider:
            metrics.record_usage(
                row.provider,
                row.model,
                row.prompt_tokens,
                row.completion_tokens,
                float(row.cost_usd),
            )


class KeyUse:
    """`ApiKey.last_used_at`, written at most once a minute per key by this process."""

    EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        self._stamped: dict[int, datetime] = {}

    def forget(self) -> None:
        self._stamped.clear()

    def stamp(self, uses: Any) -> None:
        latest: dict[int, datetime] = {}
        for key_id, at in uses:
            if key_id not in latest or at > latest[key_id]:
                latest[key_id] = at
        due = {
            key_id: at
            for key_id, at in latest.items()
            if key_id not in self._stamped
            or (at - self._stamped[key_id]).total_seconds() >= self.EVERY_SECONDS
        }
        if not due:
            return
        from chat.models import ApiKey

        for key_id, at in due.items():
            try:
                ApiKey.objects.filter(pk=key_id).update_quietly(last_used_at=at)
            except DatabaseError:
                logger.warning("could not stamp last_used_at of key %s", key_id)
                return
            self._stamped[key_id] = at


key_use = KeyUse()
