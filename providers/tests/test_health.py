from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from providers import health
from providers.models import Provider
from providers.signals import provider_state_changed
from providers.tests.fake_upstream import FakeUpstream, closed_port_url

pytestmark = pytest.mark.django_db

KEY = "sk-health-SECRET-abcdef123456"


def make(base_url: str, name: str = "p", kind: str = "openai", **extra: object) -> Provider:
    return Provider.objects.create(name=name, base_url=base_url, api_key=KEY, kind=kind, **extra)


def probe(provider: Provider) -> health.ProbeResult:
    [(_, result)] = health.probe_providers([provider])
    return result


# --- each answer has its status ------------------------------------------------------


def test_a_200_answer_is_online_with_latency(upstream: FakeUpstream, fast_health) -> None:
    provider = make(upstream.url("ok"))
    result = probe(provider)
    assert result.status == "online"
    assert result.status_code == 200
    assert result.latency_ms is not None and result.latency_ms >= 0
    provider.refresh_from_db()
    assert (provider.status, provider.is_healthy, provider.consecutive_failures) == (
        "online",
        True,
        0,
    )
    assert provider.last_tested_at is not None
    assert provider.latency_ms == result.latency_ms


def test_a_401_is_degraded_and_the_key_it_echoes_is_hidden(upstream, fast_health) -> None:
    result = probe(make(upstream.url("unauthorized")))
    assert result.status == "degraded"
    assert result.status_code == 401
    assert "Incorrect API key" in result.detail
    assert KEY not in result.detail


def test_a_500_is_degraded(upstream, fast_health) -> None:
    result = probe(make(upstream.url("broken")))
    assert (result.status, result.status_code) == ("degraded", 500)
    assert "upstream exploded" in result.detail


def test_a_slow_server_times_out_within_the_bound(upstream, fast_health) -> None:
    started = time.perf_counter()
    result = probe(make(upstream.url("slow")))
    assert result.status == "timeout"
    assert result.status_code is None
    assert time.perf_counter() - started < 3  # bounded by the 0.3 s timeout, not the 5 s sleep


def test_a_closed_port_is_unreachable(fast_health) -> None:
    provider = make(closed_port_url())
    result = probe(provider)
    assert result.status == "unreachable"
    provider.refresh_from_db()
    assert provider.status == "unreachable"
    assert provider.consecutive_failures == 1


def test_an_invalid_answer_address_is_an_error_not_a_crash(fast_health) -> None:
    result = probe(make("http://exa mple.invalid/v1"))
    assert result.status in ("error", "unreachable")


# --- each kind authenticates its own way ---------------------------------------------


def test_openai_style_probes_send_the_key_as_bearer(upstream, fast_health) -> None:
    probe(make(upstream.url("ok")))
    [seen] = upstream.seen
    assert seen.path == "/ok/v1/models"
    assert seen.headers["authorization"] == f"Bearer {KEY}"


def test_anthropic_probes_send_x_api_key_and_the_version(upstream, fast_health) -> None:
    probe(make(upstream.url("ok"), kind="anthropic"))
    [seen] = upstream.seen
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers


def test_gemini_probes_send_x_goog_api_key(upstream, fast_health) -> None:
    probe(make(upstream.url("ok"), kind="gemini"))
    [seen] = upstream.seen
    assert seen.headers["x-goog-api-key"] == KEY
    assert "authorization" not in seen.headers


def test_openrouter_probes_add_referer_and_title(upstream, fast_health) -> None:
    probe(make(upstream.url("ok"), kind="openrouter"))
    [seen] = upstream.seen
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["http-referer"]
    assert seen.headers["x-title"] == "Switchboard"


def test_a_provider_without_a_key_sends_no_auth_header(upstream, fast_health) -> None:
    provider = Provider.objects.create(name="ollama", base_url=upstream.url("ok"))
    assert probe(provider).status == "online"
    assert "authorization" not in upstream.seen[0].headers


# --- redirects ----------------------------------------------------------------------


def test_a_redirect_on_the_same_host_is_followed_once(upstream, fast_health) -> None:
    result = probe(make(upstream.url("redirect-same")))
    assert result.status == "online"
    assert [s.path for s in upstream.seen] == ["/redirect-same/v1/models", "/ok/v1/models"]


def test_a_redirect_to_another_host_is_not_followed(upstream, fast_health) -> None:
    result = probe(make(upstream.url("redirect-away")))
    assert result.status == "error"
    assert "not followed" in result.detail
    assert [s.path for s in upstream.seen] == ["/redirect-away/v1/models"]


# --- threshold, recovery ------------------------------------------------------------


def test_failures_below_the_threshold_keep_the_provider_healthy(upstream, fast_health) -> None:
    provider = make(upstream.url("broken"))
    probe(provider)
    probe(provider)
    provider.refresh_from_db()
    assert provider.consecutive_failures == 2
    assert provider.is_healthy is True
    assert provider.status == "degraded"


def test_the_threshold_opens_the_circuit(upstream, fast_health) -> None:
    provider = make(upstream.url("broken"))
    for _ in range(3):
        probe(provider)
    provider.refresh_from_db()
    assert provider.consecutive_failures == 3
    assert provider.is_healthy is False


def test_one_success_resets_failures_and_heals(upstream, fast_health) -> None:
    provider = make(upstream.url("broken"), consecutive_failures=5, is_healthy=False)
    Provider.objects.filter(pk=provider.pk).update(base_url=upstream.url("ok"))
    provider.refresh_from_db()
    assert probe(provider).status == "online"
    provider.refresh_from_db()
    assert (provider.is_healthy, provider.consecutive_failures) == (True, 0)


def test_check_all_probes_active_providers_only(upstream, fast_health) -> None:
    make(upstream.url("ok"), name="on")
    make(upstream.url("broken"), name="off", is_active=False)
    assert health.check_all() == {"probed": 1, "online": 1, "failing": 0}
    assert Provider.objects.get(name="off").last_tested_at is None


# --- secrets ------------------------------------------------------------------------


def test_the_key_never_appears_in_results_or_logs(upstream, fast_health, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    providers = [
        make(upstream.url("unauthorized"), name="a"),
        make(upstream.url("broken"), name="b"),
        make(upstream.url("slow"), name="c"),
        make(closed_port_url(), name="d"),
        make(upstream.url("ok"), name="e"),
    ]
    for _ in range(3):  # through the threshold, so the circuit-open lines are logged too
        outcomes = health.probe_providers(providers)
    assert any(s.headers.get("authorization") == f"Bearer {KEY}" for s in upstream.seen)
    for _, result in outcomes:
        assert KEY not in repr(result.as_dict())
    assert caplog.records, "health changes are logged"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.__dict__)


def test_health_changes_are_logged_on_switchboard_health(upstream, fast_health, caplog) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.health")
    probe(make(upstream.url("broken"), name="flaky"))
    [record] = [r for r in caplog.records if r.name == "switchboard.health"]
    assert "flaky" in record.getMessage()
    assert "degraded" in record.getMessage()


# --- concurrency --------------------------------------------------------------------


def test_twenty_providers_take_about_the_time_of_the_slowest(upstream, fast_health) -> None:
    fast_health.HEALTH_CHECK_TIMEOUT_SECONDS = 5
    upstream.behaviour.delay_seconds = 0.5
    for index in range(20):
        make(upstream.url("delay"), name=f"p{index:02}")
    started = time.perf_counter()
    summary = health.check_all()
    elapsed = time.perf_counter() - started
    assert summary == {"probed": 20, "online": 20, "failing": 0}
    assert elapsed < 2.5, f"20 probes of 0.5 s took {elapsed:.2f} s: not concurrent"


# --- announcing ---------------------------------------------------------------------


def test_a_probe_sends_provider_state_changed(upstream, fast_health) -> None:
    received: list[int] = []

    def listener(sender: type, provider_id: int, **kwargs: object) -> None:
        received.append(provider_id)

    provider_state_changed.connect(listener)
    try:
        provider = make(upstream.url("ok"))
        probe(provider)
    finally:
        provider_state_changed.disconnect(listener)
    assert received == [provider.pk]


def test_probe_results_are_pushed_to_the_console_group(upstream, fast_health) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(health.HEALTH_GROUP, channel)
    provider = make(upstream.url("ok"), name="live")
    probe(provider)
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "provider.health"
    pushed = message["provider"]
    assert pushed["id"] == provider.pk
    assert pushed["name"] == "live"
    assert pushed["status"] == "online"
    assert pushed["is_healthy"] is True
    assert isinstance(pushed["latency_ms"], int)
    assert pushed["last_tested_at"]
    async_to_sync(layer.group_discard)(health.HEALTH_GROUP, channel)


def test_an_update_run_from_async_code_still_reaches_the_console_group() -> None:
    layer = get_channel_layer()
    provider = make("http://127.0.0.1:9/v1", name="marked")

    async def listen_then_update() -> dict[str, Any]:
        channel = await layer.new_channel()
        await layer.group_add(health.HEALTH_GROUP, channel)
        try:
            await health.run_update(health.mark_failure, provider.pk, "upstream_error")
            return await asyncio.wait_for(layer.receive(channel), 5)
        finally:
            await layer.group_discard(health.HEALTH_GROUP, channel)

    message = async_to_sync(listen_then_update)()

    assert message["provider"]["name"] == "marked"


def test_an_update_that_outlives_its_event_loop_does_not_wait_for_that_loop() -> None:
    """A background update (gateway._spawn) whose loop stops before the update ends, as a
    request's loop does under Django's sync test client and a worker's at shutdown: its
    push used to go back to that loop through async_to_sync and wait there forever."""
    provider = Provider(pk=1, name="p")
    started, go_on, pushed = threading.Event(), threading.Event(), threading.Event()

    def update() -> None:
        started.set()
        go_on.wait(5)
        health.push(provider)
        pushed.set()

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(health.run_update(update))
        loop.run_until_complete(loop.run_in_executor(None, started.wait, 5))
        # The loop no longer runs (and is not closed): nothing it is handed gets done.
        go_on.set()
        assert pushed.wait(5), "the update's push waited for a loop that does not run"
        loop.run_until_complete(task)  # the push is sent once the loop runs again
    finally:
        go_on.set()
        loop.close()


# --- passive health from real traffic -----------------------------------------------


def test_mark_failure_counts_and_opens_the_circuit_at_the_threshold(fast_health) -> None:
    provider = make("http://127.0.0.1:9/v1")
    health.mark_failure(provider.pk, "upstream_error")
    health.mark_failure(provider.pk, "upstream_error")
    provider.refresh_from_db()
    assert (provider.consecutive_failures, provider.is_healthy) == (2, True)
    assert provider.status == "upstream_error"
    health.mark_failure(provider.pk)
    provider.refresh_from_db()
    assert (provider.consecutive_failures, provider.is_healthy) == (3, False)


def test_mark_success_closes_the_circuit(fast_health) -> None:
    provider = make("http://127.0.0.1:9/v1", is_healthy=False, consecutive_failures=4)
    health.mark_success(provider.pk, latency_ms=42)
    provider.refresh_from_db()
    assert (provider.is_healthy, provider.consecutive_failures, provider.status) == (
        True,
        0,
        "online",
    )
    assert provider.latency_ms == 42


def test_mark_success_on_a_healthy_provider_announces_nothing(fast_health) -> None:
    provider = make("http://127.0.0.1:9/v1", status="online")
    received: list[int] = []

    def listener(sender: type, provider_id: int, **kwargs: object) -> None:
        received.append(provider_id)

    provider_state_changed.connect(listener)
    try:
        health.mark_success(provider.pk, latency_ms=7)
    finally:
        provider_state_changed.disconnect(listener)
    assert received == []
    provider.refresh_from_db()
    assert provider.latency_ms == 7


def test_start_cooldown_sets_the_deadline_and_never_shortens_it(fast_health) -> None:
    provider = make("http://127.0.0.1:9/v1")
    health.start_cooldown(provider.pk, 60)
    provider.refresh_from_db()
    first = provider.cooldown_until
    assert first is not None and first > timezone.now() + timedelta(seconds=50)
    assert provider.status == "rate_limited"
    assert provider.is_cooling_down
    health.start_cooldown(provider.pk, 5, "auth_error")
    provider.refresh_from_db()
    assert provider.cooldown_until == first
    health.start_cooldown(provider.pk, 600, "auth_error")
    provider.refresh_from_db()
    assert provider.cooldown_until > first
    assert provider.status == "auth_error"


def test_passive_calls_for_a_deleted_provider_do_nothing(fast_health) -> None:
    health.mark_failure(999_999)
    health.mark_success(999_999, 1)
    health.start_cooldown(999_999, 10)
    assert not Provider.objects.exists()


def test_a_provider_deleted_while_probed_is_skipped(upstream, fast_health) -> None:
    provider = make(upstream.url("ok"))
    result = health.ProbeResult("online", 200, 5, "HTTP 200")
    Provider.objects.filter(pk=provider.pk).delete()
    assert health.record_probe(provider, result) is provider
