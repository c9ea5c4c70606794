"""Attempts, retries, failover, cooldown and cancellation on /v1 (DESIGN.md "Attempts,
retries, failover"), against real fake upstreams."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from django.utils import timezone

from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route, RouteNode


@pytest.fixture
def key(live_gateway: str) -> str:
    return ApiKey.issue("tests", scopes=["chat"])[1]


@pytest.fixture
def http(live_gateway: str, key: str) -> httpx.Client:
    with httpx.Client(
        base_url=live_gateway, headers={"Authorization": f"Bearer {key}"}, timeout=15
    ) as client:
        yield client


@pytest.fixture
def sdk(live_gateway: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway + "/v1", api_key=key, max_retries=0, timeout=15)


def failover_route(*base_urls: str, kind: str = "openai") -> list[Provider]:
    route = Route.objects.create(name="fo", mode="auto")
    providers = []
    for index, base_url in enumerate(base_urls):
        provider = Provider.objects.create(
            name=f"p{index}", base_url=base_url, kind=kind, api_key=f"sk-key-{index}", models=["m"]
        )
        RouteNode.objects.create(
            route=route, provider=provider, models=["m"], strategy="failover", priority=index
        )
        providers.append(provider)
    return providers


def chat(http: httpx.Client, **extra) -> httpx.Response:  # type: ignore[no-untyped-def]
    body = {"model": "fo", "messages": [{"role": "user", "content": "hi"}]} | extra
    return http.post("/v1/chat/completions", json=body)


def test_it_fails_over_on_503(http, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(503).reply(text="second time lucky")

    response = chat(http)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "second time lucky"
    assert response.headers["x-switchboard-attempts"] == "2"
    assert response.headers["x-switchboard-provider"] == "p1"
    assert [r["headers"]["authorization"] for r in fake_openai.requests] == [
        "Bearer sk-key-0",
        "Bearer sk-key-1",
    ]
    [log] = usage_logs()
    assert (log.status, log.attempts, log.provider) == ("ok", 2, "p1")
    assert Provider.objects.get(name="p0").consecutive_failures == 1


def test_it_skips_a_provider_that_refuses_connections(http, fake_openai, closed_port) -> None:  # type: ignore[no-untyped-def]
    failover_route(f"http://127.0.0.1:{closed_port}/v1", fake_openai.base_url)
    response = chat(http)
    assert response.status_code == 200
    assert response.headers["x-switchboard-attempts"] == "2"
    assert len(fake_openai.requests) == 1


def test_an_upstream_400_is_returned_not_retried(http, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(400, message="max_tokens is too large for this model")

    response = chat(http)

    assert response.status_code == 400
    error = response.json()["error"]
    assert "max_tokens is too large" in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert len(fake_openai.requests) == 1
    [log] = usage_logs()
    assert (log.status, log.attempts) == ("error", 1)
    assert log.error_code


def test_429_with_retry_after_cools_the_provider_down(http, fake_openai) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(429, headers={"Retry-After": "30"})

    response = chat(http)

    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "p1"
    cooled = Provider.objects.get(name="p0")
    assert cooled.cooldown_until is not None
    remaining = (cooled.cooldown_until - timezone.now()).total_seconds()
    assert 20 < remaining <= 31
    # While it cools down the next request goes straight to p1.
    fake_openai.reset()
    time.sleep(1.1)  # the routing snapshot re-reads its version at most once a second
    assert chat(http).headers["x-switchboard-attempts"] == "1"
    assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-key-1"


def test_a_bad_provider_key_moves_on_and_never_blames_the_client(http, fake_openai) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(401).fail(401)

    response = chat(http)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_auth_failed"
    assert len(fake_openai.requests) == 2
    statuses = set(Provider.objects.values_list("status", flat=True))
    assert statuses == {"auth_error"}


def test_all_attempts_failing_gives_a_5xx(http, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(500).fail(502)
    response = chat(http)
    assert response.status_code in (502, 503)
    assert response.json()["error"]["code"]
    assert [log.attempts for log in usage_logs()] == [2]


def test_stream_fails_over_before_the_first_byte(sdk, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.fail(503).stream(chunks=["all ", "good"])

    raw = sdk.chat.completions.with_raw_response.create(
        model="fo", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(raw.parse())

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "all good"
    assert raw.headers["x-switchboard-attempts"] == "2"
    [log] = usage_logs()
    assert (log.stream, log.status, log.attempts) == (True, "ok", 2)


def test_a_stream_cut_mid_way_ends_with_an_error_event(http, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url, fake_openai.base_url)
    fake_openai.stream(chunks=["one ", "two ", "three ", "four"], cut_after=2)

    started = time.monotonic()
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "fo",
            "stream": True,
            "messages": [{"role": "user", "content": "count"}],
        },
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert "data: [DONE]" not in lines
    last = json.loads(lines[-1][len("data: ") :])
    assert last["error"]["code"]
    assert elapsed < 5  # closes promptly, no hanging until a timeout
    assert len(fake_openai.requests) == 1  # no failover once bytes reached the client
    [log] = usage_logs()
    assert log.status == "error" and log.stream
    assert log.completion_tokens > 0  # the tokens seen before the cut


def test_a_client_disconnect_cancels_the_upstream(http, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    failover_route(fake_openai.base_url)
    fake_openai.stream(chunks=[f"tok{i} " for i in range(50)], delay_between=0.2)

    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "fo",
            "stream": True,
            "messages": [{"role": "user", "content": "long"}],
        },
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and "tok1" in line:
                break  # leave mid-stream

    assert fake_openai.wait_for_disconnect(timeout=5)
    [log] = usage_logs()
    assert log.status == "cancelled"
    assert log.stream
