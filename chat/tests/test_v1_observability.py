"""What a /v1 call leaves behind for operators: metrics, spans and log lines."""

from __future__ import annotations

import logging

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from config import tracing
from providers.models import Provider
from routing.models import Route, RouteNode

UPSTREAM_KEY = "sk-upstream-OBSERVED-7777"


@pytest.fixture
def route(live_gateway: str, fake_openai) -> Route:  # type: ignore[no-untyped-def]
    route = Route.objects.create(name="fo", mode="auto")
    for index in range(2):
        provider = Provider.objects.create(
            name=f"p{index}",
            base_url=fake_openai.base_url,
            kind="openai",
            api_key=UPSTREAM_KEY,
            models=["m"],
        )
        RouteNode.objects.create(
            route=route, provider=provider, models=["m"], strategy="failover", priority=index
        )
    return route


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from django.conf import settings

    token = {"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
    text = httpx.get(base + "/metrics", headers=token).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def call(base: str, key: str) -> httpx.Response:
    return httpx.post(
        base + "/v1/chat/completions",
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "fo", "messages": [{"role": "user", "content": "hi"}]},
    )


def test_metrics_move_after_a_v1_call(
    live_gateway, route, chat_key, fake_openai, usage_logs, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = "scrape-token"
    before = samples(live_gateway)
    fake_openai.fail(503).reply(text="ok", usage=(11, 4))
    assert call(live_gateway, chat_key).status_code == 200
    usage_logs()
    after = samples(live_gateway)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("switchboard_upstream_attempts_total", provider="p1", model="m", outcome="ok") == 1
    assert (
        moved(
            "switchboard_upstream_attempts_total",
            provider="p0",
            model="m",
            outcome="upstream_error",
        )
        == 1
    )
    assert moved("switchboard_tokens_total", provider="p1", model="m", kind="prompt") == 11
    assert moved("switchboard_tokens_total", provider="p1", model="m", kind="completion") == 4
    assert moved("switchboard_gateway_overhead_seconds_count") == 1


def test_each_attempt_is_a_span(live_gateway, route, chat_key, fake_openai) -> None:  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        fake_openai.fail(500).reply(text="ok")
        assert call(live_gateway, chat_key).status_code == 200
    finally:
        tracing.disable()

    spans = [s for s in exporter.get_finished_spans() if s.name == "gateway.attempt"]
    assert [
        (
            s.attributes["switchboard.provider"],
            s.attributes["switchboard.attempt"],
            s.attributes["switchboard.outcome"],
        )
        for s in spans
    ] == [("p0", 1, "upstream_error"), ("p1", 2, "ok")]


def test_attempts_are_logged_without_keys(
    live_gateway, route, chat_key, fake_openai, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="switchboard.gateway")
    fake_openai.fail(401).reply(text="ok")
    assert call(live_gateway, chat_key).status_code == 200

    attempts = [r for r in caplog.records if r.name == "switchboard.gateway"]
    assert [(r.provider, r.outcome) for r in attempts] == [
        ("p0", "upstream_auth_failed"),
        ("p1", "ok"),
    ]
    assert all(isinstance(r.latency_ms, float) for r in attempts)
    text = caplog.text
    assert UPSTREAM_KEY not in text and chat_key not in text
