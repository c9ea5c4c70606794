"""Prometheus metrics: the metric objects every part of Switchboard updates, and /metrics.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty, writable directory,
cleared before start): prometheus-client then keeps each process's values in files there
and /metrics aggregates them. Without it every process reports only its own counts, which
is exact for the default single web worker.

The gateway updates these directly, for example::

    metrics.UPSTREAM_ATTEMPTS.labels(provider, model, outcome).inc()
    metrics.UPSTREAM_LATENCY.labels(provider, model).observe(seconds)
    metrics.GATEWAY_OVERHEAD.observe(seconds)
    metrics.TOKENS.labels(provider, model, "prompt").inc(n)   # kind: prompt | completion
    metrics.COST.labels(provider, model).inc(usd)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Requests are labelled by the resolved URL pattern (`api/providers/<int:provider_id>`),
# never by the raw path, so cardinality stays bounded by the URLconf.
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "switchboard_http_requests",
    "HTTP requests answered, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "switchboard_http_request_duration_seconds",
    "Time from request to response (to the end of the body for streams), by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPSTREAM_ATTEMPTS = Counter(
    "switchboard_upstream_attempts",
    "Attempts on upstream providers, by provider, model and outcome (ok, timeout, http_503...).",
    ["provider", "model", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "switchboard_upstream_latency_seconds",
    "Upstream time per attempt (to the first byte for streams), by provider and model.",
    ["provider", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
GATEWAY_OVERHEAD = Histogram(
    "switchboard_gateway_overhead_seconds",
    "Time spent inside Switchboard per /v1 request, upstream time excluded.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
TOKENS = Counter(
    "switchboard_tokens",
    "Tokens processed, by provider, model and kind (prompt or completion).",
    ["provider", "model", "kind"],
)
COST = Counter(
    "switchboard_cost_usd",
    "Cost in US dollars, by provider and model.",
    ["provider", "model"],
)


def record_attempt(provider: str, model: str, outcome: str, latency_seconds: float) -> None:
    """Count one upstream attempt and its latency in one call."""
    UPSTREAM_ATTEMPTS.labels(provider, model, outcome).inc()
    UPSTREAM_LATENCY.labels(provider, model).observe(latency_seconds)


def record_usage(
    provider: str, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float
) -> None:
    TOKENS.labels(provider, model, "prompt").inc(max(prompt_tokens, 0))
    TOKENS.labels(provider, model, "completion").inc(max(completion_tokens, 0))
    COST.labels(provider, model).inc(max(cost_usd, 0.0))


class ProviderHealthCollector(Collector):
    """Provider health read from the database at scrape time.

    Health is written by probes and by real traffic in whichever process saw it; reading
    the rows when Prometheus scrapes gives every process the same, current answer and
    needs no multiprocess gauge bookkeeping. One small query per scrape.
    """

    def collect(self) -> Iterator[Metric]:
        from providers.models import Provider

        healthy = GaugeMetricFamily(
            "switchboard_provider_healthy",
            "1 when the provider is active, healthy and not cooling down, else 0.",
            labels=["provider", "status"],
        )
        latency = GaugeMetricFamily(
            "switchboard_provider_latency_ms",
            "Latency of the provider's last health probe in milliseconds.",
            labels=["provider"],
        )
        try:
            providers = list(Provider.objects.order_by("name"))
        except DatabaseError:
            providers = []
        for provider in providers:
            usable = provider.is_active and provider.is_healthy and not provider.is_cooling_down
            healthy.add_metric([provider.name, provider.status], 1.0 if usable else 0.0)
            if provider.latency_ms is not None:
                latency.add_metric([provider.name], float(provider.latency_ms))
        yield healthy
        yield latency


def registry() -> CollectorRegistry:
    """The registry to expose: an aggregate of every process's files in multiprocess mode,
    the default process registry otherwise; provider health added to either."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape = CollectorRegistry()
        scrape.register(_DefaultRegistry())
    scrape.register(ProviderHealthCollector())
    return scrape


class _DefaultRegistry(Collector):
    """Everything registered in the process-wide registry (our metrics, process and
    platform collectors), re-exposed through a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_refusal(request: HttpRequest) -> HttpResponse | None:
    """/metrics takes `Authorization: Bearer <METRICS_TOKEN>`, an admin-scope key, or a login
    holding console.view_monitoring; None when the caller is one of those."""
    from chat.models import Scope, find_key  # the apps import this module: no cycle at load
    from config.auth import holds

    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if token and settings.METRICS_TOKEN and constant_time_compare(token, settings.METRICS_TOKEN):
        return None
    key = find_key(token) if token else None
    if key is not None and key.has_scope(Scope.ADMIN):
        return None
    if holds(request, "console.view_monitoring"):
        return None
    user = getattr(request, "user", None)
    if token or user is None or not user.is_authenticated:
        refusal = HttpResponse(
            "Send METRICS_TOKEN or an admin key as a Bearer token.\n", status=401
        )
        refusal["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refusal
    return HttpResponse("This needs the 'console.view_monitoring' permission.\n", status=403)


def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
