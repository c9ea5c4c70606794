"""Provider health: active probes, passive signals from real traffic, and the circuit.

A probe is one cheap authenticated `GET {base_url}/models` per provider kind. Probes of
all providers run concurrently, so a round takes about as long as the slowest provider.
Results are applied with conditional UPDATEs (no locks); every change is sent as
`provider_state_changed` (the routing snapshot), pushed to the console's live channel
and logged on "switchboard.health".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

import redaction
from providers.models import Kind, Provider, detect_kind
from providers.signals import provider_state_changed
from providers.url_policy import PolicyTransport, URLRefused

logger = logging.getLogger("switchboard.health")

HEALTH_GROUP = "provider_health"
ONLINE, DEGRADED, TIMEOUT, UNREACHABLE, ERROR = (
    "online",
    "degraded",
    "timeout",
    "unreachable",
    "error",
)
ANTHROPIC_VERSION = "2023-06-01"
DETAIL_LIMIT = 300
# An unsaved provider's probe (test-direct) may point anywhere the policy allows,
# internal services included: it says how they answered, not what they said.
DIRECT_DETAIL_LIMIT = 120


@dataclass(frozen=True)
class Target:
    """What a probe needs, detached from the ORM so probing can run in any event loop."""

    base_url: str
    api_key: str
    kind: str
    provider_id: int | None = None
    name: str = ""
    detail_limit: int = DETAIL_LIMIT

    @classmethod
    def of(cls, provider: Provider) -> Target:
        key = provider.api_key if isinstance(provider.api_key, str) else ""
        kind = provider.kind or detect_kind(provider.name, provider.base_url)
        return cls(provider.base_url, key, kind, provider.pk, provider.name)


def direct_target(provider: Provider) -> Target:
    """The target of an unsaved provider's probe (test-direct): a shorter detail."""
    return replace(Target.of(provider), detail_limit=DIRECT_DETAIL_LIMIT)


@dataclass(frozen=True)
class ProbeResult:
    status: str
    status_code: int | None
    latency_ms: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == ONLINE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- probing --------------------------------------------------------------------------


def auth_headers(kind: str, api_key: str) -> dict[str, str]:
    """The headers each provider kind authenticates with (DESIGN.md "Adapters")."""
    headers = {"Accept": "application/json"}
    if kind == Kind.ANTHROPIC:
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            headers["x-api-key"] = api_key
        return headers
    if kind == Kind.GEMINI:
        if api_key:
            headers["x-goog-api-key"] = api_key
        return headers
    if kind == Kind.OPENROUTER:
        headers["HTTP-Referer"] = "https://github.com/switchboard"
        headers["X-Title"] = "Switchboard"
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def models_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/models"


def scrub(text: str, api_key: str, limit: int = DETAIL_LIMIT) -> str:
    """Upstream error bodies sometimes echo the key ("Incorrect API key provided: sk-...");
    every key this process decrypted is scrubbed too (see remember_provider_keys)."""
    return redaction.scrub(text, (api_key,), limit=limit)


def remember_provider_keys() -> None:
    """Decrypt every stored provider key once, which registers them with redaction: an
    upstream may quote another provider's key (a shared proxy, a copied config)."""
    for _key in Provider.objects.values_list("api_key", flat=True):
        pass


def same_origin(first: str, second: str) -> bool:
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def fetch_models(client: httpx.AsyncClient, target: Target) -> httpx.Response:
    """GET {base_url}/models, following at most one redirect and only to the same origin,
    so a provider URL can never bounce the key to another host."""
    url = models_url(target.base_url)
    headers = auth_headers(target.kind, target.api_key)
    response = await client.get(url, headers=headers)
    if response.is_redirect:
        location = urljoin(url, response.headers.get("location", ""))
        if not same_origin(url, location):
            raise RedirectRefused(location)
        response = await client.get(location, headers=headers)
        if response.is_redirect:
            raise RedirectRefused(urljoin(location, response.headers.get("location", "")))
    return response


class RedirectRefused(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(f"redirect to {urlsplit(location).netloc or location} not followed")


def describe_response(response: httpx.Response, target: Target) -> str:
    if response.is_success:
        return f"HTTP {response.status_code}"
    body = " ".join(response.text[:65536].split())
    text = f"HTTP {response.status_code} {response.reason_phrase}: {body}".strip()
    return scrub(text, target.api_key, target.detail_limit)


async def probe(client: httpx.AsyncClient, target: Target) -> ProbeResult:
    """One probe, bounded end to end by HEALTH_CHECK_TIMEOUT_SECONDS (httpx's own timeouts
    are per phase, so a server trickling bytes could otherwise hold it longer)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(settings.HEALTH_CHECK_TIMEOUT_SECONDS):
            response = await fetch_models(client, target)
    except (TimeoutError, httpx.TimeoutException):
        return ProbeResult(TIMEOUT, None, None, "no answer within the health check timeout")
    except httpx.ConnectError as exc:
        return ProbeResult(UNREACHABLE, None, None, scrub(f"cannot connect: {exc}", target.api_key))
    except (RedirectRefused, URLRefused) as exc:
        return ProbeResult(ERROR, None, None, str(exc))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", target.api_key)
        return ProbeResult(ERROR, None, None, detail)
    latency = round((time.perf_counter() - started) * 1000)
    status = ONLINE if response.is_success else DEGRADED
    return ProbeResult(status, response.status_code, latency, describe_response(response, target))


def probe_client() -> httpx.AsyncClient:
    # A client of its own, not chat.http's shared one: probes want a fresh connection (that
    # is what they test), the health timeout, and they run in short-lived loops.
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    # PolicyTransport: every address the host resolves to is checked (PROVIDER_URL_POLICY).
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), follow_redirects=False, transport=PolicyTransport()
    )


async def probe_many(targets: list[Target]) -> list[ProbeResult]:
    async with probe_client() as client:
        return list(await asyncio.gather(*(probe(client, target) for target in targets)))


def probe_now(targets: list[Target]) -> list[ProbeResult]:
    """Probe from sync code (views, tasks): all targets concurrently."""
    if not targets:
        return []
    remember_provider_keys()
    return async_to_sync(probe_many)(targets)


# --- applying results -----------------------------------------------------------------


def record_probe(provider: Provider, result: ProbeResult) -> Provider:
    """Store a probe result for `provider` (as loaded before the probe) and announce it."""
    now = timezone.now()
    rows = Provider.objects.filter(pk=provider.pk)
    if result.ok:
        rows.update(
            status=ONLINE,
            latency_ms=result.latency_ms,
            last_tested_at=now,
            consecutive_failures=0,
            is_healthy=True,
        )
    else:
        rows.update(
            status=result.status,
            latency_ms=result.latency_ms,
            last_tested_at=now,
            consecutive_failures=F("consecutive_failures") + 1,
        )
        open_circuit(provider.pk)
    updated = Provider.objects.filter(pk=provider.pk).first()
    if updated is None:  # deleted while the probe ran: nothing to announce
        return provider
    announce(updated, before=provider, push_always=True, detail=result.detail)
    return updated


def open_circuit(provider_id: int) -> bool:
    """Claim the healthy → unhealthy transition; True for the one caller that made it."""
    threshold = settings.HEALTH_CHECK_FAILURE_THRESHOLD
    return (
        Provider.objects.filter(
            pk=provider_id, is_healthy=True, consecutive_failures__gte=threshold
        ).update(is_healthy=False)
        == 1
    )


def probe_providers(providers: Iterable[Provider]) -> list[tuple[Provider, ProbeResult]]:
    """Probe these providers concurrently and record every result."""
    loaded = list(providers)
    results = probe_now([Target.of(provider) for provider in loaded])
    return [
        (record_probe(provider, result), result)
        for provider, result in zip(loaded, results, strict=True)
    ]


def check_all() -> dict[str, int]:
    """The scheduled job: probe every active provider."""
    outcomes = probe_providers(Provider.objects.filter(is_active=True))
    online = sum(1 for _, result in outcomes if result.ok)
    return {"probed": len(outcomes), "online": online, "failing": len(outcomes) - online}


def set_health(provider_id: int, is_healthy: bool) -> Provider:
    """Manual override: holds until the next probe or real request changes it."""
    before = Provider.objects.get(pk=provider_id)
    changes: dict[str, Any] = {"is_healthy": is_healthy, "consecutive_failures": 0}
    if is_healthy:
        changes["cooldown_until"] = None  # an operator saying "use it" means now
    Provider.objects.filter(pk=provider_id).update(**changes)
    updated = Provider.objects.get(pk=provider_id)
    announce(updated, before=before, push_always=True, detail="manual override")
    return updated


# --- passive health: called by the gateway after real traffic -------------------------


def mark_success(provider_id: int, latency_ms: int | None = None) -> None:
    """A request succeeded: close the circuit. This runs per request, so it reads nothing
    first and announces only when the conditional UPDATE actually changed the state."""
    recovered = (
        Provider.objects.filter(pk=provider_id)
        .filter(~Q(status=ONLINE) | Q(is_healthy=False) | Q(consecutive_failures__gt=0))
        .update(status=ONLINE, is_healthy=True, consecutive_failures=0, latency_ms=latency_ms)
    )
    if recovered:
        announce(Provider.objects.get(pk=provider_id), before=None)
    elif latency_ms is not None:
        # Latency alone is not routing state: no signal, no push.
        Provider.objects.filter(pk=provider_id).update_quietly(latency_ms=latency_ms)


def mark_failure(provider_id: int, status: str = ERROR) -> None:
    """A request failed on this provider: count it; the threshold opens the circuit."""
    before = Provider.objects.filter(pk=provider_id).first()
    if before is None:
        return
    Provider.objects.filter(pk=provider_id).update(
        status=status, consecutive_failures=F("consecutive_failures") + 1
    )
    open_circuit(provider_id)
    announce(Provider.objects.get(pk=provider_id), before=before, send_always=True)


def start_cooldown(provider_id: int, seconds: float, status: str = "rate_limited") -> None:
    """Skip this provider until `seconds` from now; never shortens a longer cooldown."""
    until = timezone.now() + timedelta(seconds=max(0.0, seconds))
    before = Provider.objects.filter(pk=provider_id).first()
    if before is None:
        return
    extended = (
        Provider.objects.filter(pk=provider_id)
        .filter(Q(cooldown_until__isnull=True) | Q(cooldown_until__lt=until))
        .update(cooldown_until=until, status=status)
    )
    if extended:
        announce(Provider.objects.get(pk=provider_id), before=before, send_always=True)


# --- announcing -----------------------------------------------------------------------


def announce(
    provider: Provider,
    *,
    before: Provider | None,
    push_always: bool = False,
    send_always: bool = False,
    detail: str = "",
) -> None:
    """Tell routing (signal), the console (channel group) and the log what changed."""
    changed = before is None or (before.status, before.is_healthy, before.cooldown_until) != (
        provider.status,
        provider.is_healthy,
        provider.cooldown_until,
    )
    if changed or send_always:
        # Routing rebuilds its snapshot on this; a steady probe result is not news to it.
        provider_state_changed.send(sender=Provider, provider_id=provider.pk)
    if changed:
        log_change(provider, before, detail)
    if changed or push_always:
        push(provider)


def log_change(provider: Provider, before: Provider | None, detail: str) -> None:
    logger.info(
        "provider %s health %s -> %s (healthy %s -> %s)",
        provider.name,
        before.status if before else "?",
        provider.status,
        before.is_healthy if before else "?",
        provider.is_healthy,
        extra={
            "provider_id": provider.pk,
            "status": provider.status,
            "is_healthy": provider.is_healthy,
            "consecutive_failures": provider.consecutive_failures,
            "detail": detail,
        },
    )


def health_event(provider: Provider) -> dict[str, Any]:
    tested = provider.last_tested_at
    return {
        "type": "provider.health",
        "provider": {
            "id": provider.pk,
            "name": provider.name,
            "status": provider.status,
            "is_healthy": provider.is_healthy,
            "latency_ms": provider.latency_ms,
            "last_tested_at": tested.isoformat() if tested else None,
        },
    }


# Set while a health update runs for async code (run_update): pushes wait in it for the
# event loop instead of going back to that loop through async_to_sync from the thread.
_waiting_pushes: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "waiting_health_pushes", default=None
)


async def run_update(func: Callable[..., Any], *args: Any) -> Any:
    """Run a health update (mark_success, record_probe, ...) from async code: its
    database work in a thread, then its console pushes on this loop.

    Pushed from the thread, async_to_sync would hand the push back to this loop and
    wait for it; a loop that shuts down meanwhile (a worker stopping, a request's loop
    under Django's sync test client) never runs it, and the thread waits forever. Here a
    cancelled update only loses its push, which is best effort anyway."""
    waiting: list[dict[str, Any]] = []
    token = _waiting_pushes.set(waiting)
    try:
        result = await sync_to_async(func)(*args)
    finally:
        _waiting_pushes.reset(token)
    for event in waiting:
        await send(event)
    return result


def push(provider: Provider) -> None:
    """Best effort: a console that cannot be told must not fail a health update."""
    event = health_event(provider)
    waiting = _waiting_pushes.get()
    if waiting is not None:
        waiting.append(event)
    else:
        async_to_sync(send)(event)


async def send(event: dict[str, Any]) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(HEALTH_GROUP, event)
    except (OSError, RedisError) as exc:
        name = event["provider"]["name"]
        logger.warning("could not push health of %s to the console: %s", name, exc)
