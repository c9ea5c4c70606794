"""Budget spend as reservations (DESIGN.md "Usage and cost").

Before the upstream call a request reserves its expected cost on its key's spend counter
(coordination.counters: atomic in Redis, or in the one web process); the request is
refused when that would pass the budget. When its usage row is written the reservation
is replaced by the real cost (`settle`). A counter not known yet starts from the sum of
the key's rows, so spend survives a restart and equals what the rows say plus what is in
flight. Amounts are integers of nano-dollars: prices per token go down to 1e-8 USD.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.db.models import Sum

from coordination import changes, counters
from coordination.counters import Reservation
from usage.models import UsageLog
from usage.recording import Draft, price_for

if TYPE_CHECKING:
    from providers.catalog import Price

NANO = Decimal(1_000_000_000)
SPEND_TTL_SECONDS = 7 * 86_400
PRICE_TTL_SECONDS = 60.0


def nano(usd: Decimal) -> int:
    return int(usd * NANO)


def key_counter(key_id: int) -> str:
    return f"spend:key:{key_id}"


def spent_in_rows(key_id: int) -> int:
    total = UsageLog.objects.filter(api_key_id=key_id).aggregate(s=Sum("cost_usd"))["s"]
    return nano(Decimal(total or 0))


class Prices:
    """Catalog prices remembered per process until the catalog changes (a ModelInfo save
    moves the change signal) or for a minute: a budgeted request pays a database read
    only when its model's price is not known yet."""

    def __init__(self) -> None:
        self._known: dict[tuple[int | None, str], tuple[float, Price | None]] = {}
        self._version: int | None = None

    def _follow(self, version: int) -> None:
        if version != self._version:
            self._known = {}
            self._version = version

    def _cached(self, key: tuple[int | None, str]) -> tuple[bool, Price | None]:
        hit = self._known.get(key)
        if hit is None or time.monotonic() - hit[0] > PRICE_TTL_SECONDS:
            return False, None
        return True, hit[1]

    def get(self, provider_id: int | None, model: str) -> Price | None:
        self._follow(changes.current().version)
        known, price = self._cached((provider_id, model))
        if not known:
            price = price_for(provider_id, model)
            self._known[(provider_id, model)] = (time.monotonic(), price)
        return price

    async def aget(self, provider_id: int | None, model: str) -> Price | None:
        self._follow((await changes.acurrent()).version)
        known, price = self._cached((provider_id, model))
        if known:
            return price
        return await sync_to_async(self.get)(provider_id, model)

    def clear(self) -> None:
        self._known = {}
        self._version = None


prices = Prices()


async def aexpected_cost(
    offers: Iterable[tuple[int, str]], prompt_tokens: int, output_tokens: int
) -> Decimal:
    """The dearest of the candidate (provider id, model) pairs at these token counts:
    whichever one ends up serving, the reservation covers it. Unpriced models cost 0."""
    worst = Decimal(0)
    for provider_id, model in offers:
        price = await prices.aget(provider_id, model)
        if price is not None:
            worst = max(worst, price.prompt * prompt_tokens + price.completion * output_tokens)
    return worst


async def areserve_key(key_id: int, budget_usd: Decimal, amount_usd: Decimal) -> Reservation:
    return await counters.areserve(
        key_counter(key_id),
        nano(amount_usd),
        nano(budget_usd),
        SPEND_TTL_SECONDS,
        initial=lambda: spent_in_rows(key_id),
    )


def settle(rows: Iterable[tuple[UsageLog, Draft]]) -> None:
    """After rows are written: each key's counter moves by the real cost minus what its
    requests reserved. Counters that do not exist are left alone; they start from the
    rows (these included) when next needed."""
    deltas: dict[str, int] = {}
    for row, draft in rows:
        for counter_key, amount in draft.reservations:
            deltas[counter_key] = deltas.get(counter_key, 0) - amount
        if row.api_key_id is not None and row.cost_usd:
            reserved_on = next(iter(k for k, _ in draft.reservations), None)
            counter_key = reserved_on or counters.shared.spend_key(key_counter(row.api_key_id))
            deltas[counter_key] = deltas.get(counter_key, 0) + nano(row.cost_usd)
    for counter_key, delta in deltas.items():
        counters.settle(counter_key, delta, SPEND_TTL_SECONDS)


def spent_usd(key_id: int) -> Decimal:
    """What a key's rows add up to (reservations in flight not included)."""
    return Decimal(spent_in_rows(key_id)) / NANO
