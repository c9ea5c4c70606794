from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from providers.models import Provider

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


@pytest.fixture(autouse=True)
def _metrics_token(settings):  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:  # type: ignore[no-untyped-def]
    """/metrics parsed by prometheus-client's own parser: sample name → labels → value."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_http_requests_and_latency_move_by_route_pattern(client, api) -> None:  # type: ignore[no-untyped-def]
    before = scrape(client)
    api.get("/api/providers/12345")
    api.get("/api/providers/67890")
    after = scrape(client)

    route = "/api/providers/<int:provider_id>"
    counted = "switchboard_http_requests_total"
    assert value(after, counted, method="GET", route=route, status="404") == (
        value(before, counted, method="GET", route=route, status="404") + 2
    )
    # The raw paths never become labels.
    assert not any("12345" in str(labels) for labels in after[counted])
    latency = "switchboard_http_request_duration_seconds_count"
    assert value(after, latency, method="GET", route=route) == (
        value(before, latency, method="GET", route=route) + 2
    )


def test_gateway_counters_move_when_the_gateway_reports(client) -> None:  # type: ignore[no-untyped-def]
    before = scrape(client)
    metrics.record_attempt("openai-main", "gpt-4o-mini", "http_503", 0.8)
    metrics.UPSTREAM_ATTEMPTS.labels("openai-main", "gpt-4o-mini", "ok").inc()
    metrics.GATEWAY_OVERHEAD.observe(0.002)
    metrics.record_usage("openai-main", "gpt-4o-mini", 12, 30, 0.0125)
    after = scrape(client)

    attempts = "switchboard_upstream_attempts_total"
    for outcome in ("http_503", "ok"):
        labels = {"provider": "openai-main", "model": "gpt-4o-mini", "outcome": outcome}
        assert value(after, attempts, **labels) == value(before, attempts, **labels) + 1
    overhead = "switchboard_gateway_overhead_seconds_count"
    assert value(after, overhead) == value(before, overhead) + 1
    tokens = "switchboard_tokens_total"
    prompt = {"provider": "openai-main", "model": "gpt-4o-mini", "kind": "prompt"}
    assert value(after, tokens, **prompt) == value(before, tokens, **prompt) + 12
    cost = "switchboard_cost_usd_total"
    priced = {"provider": "openai-main", "model": "gpt-4o-mini"}
    assert value(after, cost, **priced) == pytest.approx(value(before, cost, **priced) + 0.0125)
    upstream = "switchboard_upstream_latency_seconds_count"
    assert value(after, upstream, **priced) == value(before, upstream, **priced) + 1


def test_provider_health_is_a_gauge_read_at_scrape_time(client) -> None:  # type: ignore[no-untyped-def]
    Provider.objects.create(name="up", base_url="http://127.0.0.1:1/v1", status="online")
    Provider.objects.create(
        name="down", base_url="http://127.0.0.1:2/v1", is_healthy=False, status="timeout"
    )
    samples = scrape(client)
    gauge = "switchboard_provider_healthy"
    assert value(samples, gauge, provider="up", status="online") == 1.0
    assert value(samples, gauge, provider="down", status="timeout") == 0.0


def test_anonymous_scrapes_are_401(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"switchboard_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_the_metrics_token_an_admin_key_or_a_monitoring_login_may_scrape(  # type: ignore[no-untyped-def]
    client, admin_key, chat_key, as_staff, as_alice, alice, settings
) -> None:
    from django.contrib.auth.models import Permission

    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {admin_key}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {chat_key}").status_code == 401
    assert as_staff.get("/metrics").status_code == 200  # a superuser
    assert as_alice.get("/metrics").status_code == 403
    alice.user_permissions.add(Permission.objects.get(codename="view_monitoring"))
    assert as_alice.get("/metrics").status_code == 200
    settings.METRICS_TOKEN = ""  # unset: no token opens it, not even an empty one
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


CHILD = """
import sys
from config import metrics
metrics.UPSTREAM_ATTEMPTS.labels("p", "m", "ok").inc(int(sys.argv[1]))
"""


def test_multiprocess_mode_adds_up_every_workers_counts(client, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for count in ("2", "3"):
        subprocess.run(
            [sys.executable, "-c", CHILD, count],
            cwd=Path(settings.BASE_DIR),
            env=env,
            check=True,
            timeout=60,
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    samples = scrape(client)
    attempts = "switchboard_upstream_attempts_total"
    assert value(samples, attempts, provider="p", model="m", outcome="ok") == 5.0
