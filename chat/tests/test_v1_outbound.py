"""Hostile upstreams: redirects are not followed, huge bodies and events are refused,
and connections go only where PROVIDER_URL_POLICY allows (DESIGN.md "Security")."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from chat.adapters.sse import MAX_EVENT_BYTES
from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route, RouteNode

KINDS = ["openai", "anthropic", "gemini"]


class Collector(ThreadingHTTPServer):
    """Counts every request that reaches it, whatever the method or path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CollectorHandler)
        self.hits: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class CollectorHandler(BaseHTTPRequestHandler):
    server: Collector

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _hit(self) -> None:
        self.server.hits.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _hit  # noqa: N815  (http.server's naming)


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def http(live_gateway: str) -> Iterator[httpx.Client]:
    key = ApiKey.issue("tests", scopes=["chat"])[1]
    with httpx.Client(
        base_url=live_gateway, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def failover(first: Any, kind: str, second_url: str) -> None:
    """Route "fo": the server under test first, then a healthy OpenAI-kind fallback."""
    route = Route.objects.create(name="fo", mode="auto")
    for priority, (name, url, node_kind) in enumerate(
        [("first", first.base_url, kind), ("second", second_url, "openai")]
    ):
        provider = Provider.objects.create(
            name=name, kind=node_kind, base_url=url, api_key=f"sk-secret-{name}", models=["m"]
        )
        RouteNode.objects.create(
            route=route, provider=provider, models=["m"], strategy="failover", priority=priority
        )


def ask(http: httpx.Client, stream: bool = False) -> httpx.Response:
    body = {"model": "fo", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return http.post("/v1/chat/completions", json=body)


@pytest.fixture
def fallback() -> Iterator[Any]:
    from chat.tests.upstreams import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_is_not_followed_and_the_next_provider_answers(
    request, http, collector, fallback, usage_logs, kind, stream
) -> None:  # type: ignore[no-untyped-def]
    upstream = request.getfixturevalue(f"fake_{kind}")
    upstream.fail(307, "", headers={"Location": collector.url + "/steal"})
    failover(upstream, kind, fallback.base_url)

    response = ask(http, stream)

    assert response.status_code == 200, response.text
    assert response.headers["x-switchboard-provider"] == "second"
    assert collector.hits == []  # neither the key nor the prompt went there
    [log] = usage_logs()
    assert (log.status, log.attempts) == ("ok", 2)


def test_a_redirect_with_nowhere_else_to_go_is_a_502(http, fake_anthropic, collector) -> None:  # type: ignore[no-untyped-def]
    fake_anthropic.fail(302, "", headers={"Location": collector.url})
    Provider.objects.create(
        name="only",
        kind="anthropic",
        base_url=fake_anthropic.base_url,
        api_key="sk-x",
        models=["m"],
    )
    response = http.post(
        "/v1/chat/completions",
        json={"model": "only/m", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_redirect"
    assert collector.hits == []


# --- oversized upstream answers ----------------------------------------------------------


def test_an_oversized_stream_event_before_the_first_token_fails_over(
    http, fake_openai, fallback, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    fake_openai.stream([b"data: " + b"x" * (MAX_EVENT_BYTES + 10) + b"\n\n"])
    failover(fake_openai, "openai", fallback.base_url)

    response = ask(http, stream=True)

    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "second"
    assert "[DONE]" in response.text
    [log] = usage_logs()
    assert (log.status, log.attempts) == ("ok", 2)


def test_an_oversized_stream_event_after_the_first_token_is_an_error_event(
    http, fake_openai, fallback, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    fake_openai.stream(["Hello", b"data: " + b"x" * (MAX_EVENT_BYTES + 10)], delay_between=0.2)
    failover(fake_openai, "openai", fallback.base_url)

    response = ask(http, stream=True)

    assert response.status_code == 200
    assert "Hello" in response.text
    assert "upstream_event_too_large" in response.text and "[DONE]" not in response.text
    [log] = usage_logs()
    assert (log.status, log.error_code) == ("error", "upstream_event_too_large")


def test_a_non_streamed_body_over_the_cap_fails_over(
    http, fake_openai, fallback, usage_logs, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from chat import outbound

    monkeypatch.setattr(outbound, "MAX_UPSTREAM_BODY_BYTES", 64 * 1024)
    fake_openai.reply("x" * (128 * 1024))
    failover(fake_openai, "openai", fallback.base_url)

    response = ask(http)

    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "second"
    [log] = usage_logs()
    assert (log.status, log.attempts) == ("ok", 2)


# --- PROVIDER_URL_POLICY at connect time -------------------------------------------------


@pytest.fixture
def rebinding(monkeypatch) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Names that resolve to the addresses given: DNS answers the test controls."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "fe80::1"])
def test_a_name_resolving_to_a_metadata_address_is_refused_at_connect(
    http, rebinding, address
) -> None:  # type: ignore[no-untyped-def]
    # Saved while it resolved somewhere harmless; now it answers with a metadata address.
    rebinding["models.rebind.test"] = [address]
    Provider.objects.create(
        name="rebound", kind="openai", base_url="http://models.rebind.test/v1", models=["m"]
    )

    response = http.post(
        "/v1/chat/completions",
        json={"model": "rebound/m", "messages": [{"role": "user", "content": "x"}]},
    )

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_address_refused"
    assert "never allowed" in error["message"]


def test_one_refused_address_among_good_ones_refuses_the_name(
    http, fake_openai, rebinding, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_URL_POLICY = "public"
    settings.PROVIDER_URL_ALLOW = ["127.0.0.1"]  # the fake upstream itself is allowed...
    rebinding["mixed.rebind.test"] = ["127.0.0.1", "10.0.0.7"]  # ...a private address is not
    Provider.objects.bulk_create(  # bulk_create: skips the save-time check on purpose
        [
            Provider(
                name="mixed",
                kind="openai",
                base_url=f"http://mixed.rebind.test:{fake_openai.port}/v1",
                models=["m"],
            )
        ]
    )

    response = http.post(
        "/v1/chat/completions",
        json={"model": "mixed/m", "messages": [{"role": "user", "content": "x"}]},
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_address_refused"
    assert fake_openai.requests == []


def test_an_ip_literal_saved_before_the_policy_changed_is_refused(
    http, fake_openai, settings
) -> None:  # type: ignore[no-untyped-def]
    Provider.objects.create(
        name="local", kind="openai", base_url=fake_openai.base_url, models=["m"]
    )
    settings.PROVIDER_URL_POLICY = "public"

    response = http.post(
        "/v1/chat/completions",
        json={"model": "local/m", "messages": [{"role": "user", "content": "x"}]},
    )

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_address_refused"
    assert fake_openai.requests == []
