"""The /v1 key is checked from the headers before the body is read, and key guessing is
throttled per client address (DESIGN.md "Security")."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from chat import key_gate
from chat.key_gate import FailureThrottle
from chat.models import ApiKey
from config.tests.asgi_wire import Wire, http_scope

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture(autouse=True)
def fresh_throttle(monkeypatch) -> FailureThrottle:  # type: ignore[no-untyped-def]
    throttle = FailureThrottle()
    monkeypatch.setattr(key_gate, "throttle", throttle)
    return throttle


def gateway_app():  # type: ignore[no-untyped-def]
    from config.asgi import gateway_asgi

    return gateway_asgi


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


def raw_exchange(base_url: str, head: bytes, first_body: bytes) -> bytes:
    """Send the request head and the start of a body, then read the answer. A server that
    waits for the rest of the body never answers (the socket times out)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(head + first_body)
        reply = b""
        while b"\r\n\r\n" not in reply and (data := conn.recv(65536)):
            reply += data
        return reply


@pytest.mark.parametrize("auth", [b"", b"Authorization: Bearer sk-sb-wrong-key-000000\r\n"])
def test_an_unauthenticated_50_mb_declared_body_is_refused_before_it_is_sent(
    live_gateway, auth
) -> None:  # type: ignore[no-untyped-def]
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth
        + b"Content-Type: application/json\r\nContent-Length: " + str(FIFTY_MB).encode()
        + b"\r\n\r\n"
    )  # fmt: skip

    reply = raw_exchange(live_gateway, head, b"{" + b" " * 65535)  # 64 KB of 50 MB

    assert reply.startswith(b"HTTP/1.1 401")


def test_an_unauthenticated_chunked_body_is_refused_before_it_is_sent(live_gateway) -> None:  # type: ignore[no-untyped-def]
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer sk-sb-wrong-key-000000\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"  # one 64 KB chunk, more to come

    assert raw_exchange(live_gateway, head, chunk).startswith(b"HTTP/1.1 401")


@pytest.mark.django_db
async def test_the_gate_reads_none_of_the_body_of_a_wrong_key() -> None:
    wire = Wire(FIFTY_MB)
    scope = http_scope("/v1/chat/completions", bearer("sk-sb-not-a-key-1234567890"))

    await gateway_app()(scope, wire.receive, wire.send)

    assert wire.status == 401
    assert wire.delivered == 0


@pytest.fixture
def good(transactional_db) -> str:  # type: ignore[no-untyped-def]
    return ApiKey.issue("t", scopes=["chat"])[1]


async def test_a_valid_key_over_the_body_limit_is_413_in_openai_shape(settings, good) -> None:  # type: ignore[no-untyped-def]
    settings.V1_MAX_BODY_BYTES = 1024 * 1024
    key = good
    wire = Wire(FIFTY_MB)

    await gateway_app()(http_scope("/v1/chat/completions", bearer(key)), wire.receive, wire.send)

    assert wire.status == 413
    assert b"request_too_large" in wire.body
    assert wire.delivered <= 1024 * 1024 + 65536


async def test_twenty_wrong_keys_in_a_minute_throttle_the_address(good) -> None:  # type: ignore[no-untyped-def]
    statuses = []
    for number in range(key_gate.KEY_FAILURES_ALLOWED + 1):
        wire = Wire()
        scope = http_scope("/v1/models", bearer(f"sk-sb-guess-{number:08d}"), method="GET")
        await gateway_app()(scope, wire.receive, wire.send)
        statuses.append(wire.status)

    assert statuses == [401] * key_gate.KEY_FAILURES_ALLOWED + [429]
    # The right key from that address waits too (otherwise guessing would go on)...
    wire = Wire()
    await gateway_app()(
        http_scope("/v1/models", bearer(good), method="GET"), wire.receive, wire.send
    )
    assert wire.status == 429
    assert 0 < int(wire.headers["retry-after"]) <= 60
    assert b"too_many_key_failures" in wire.body
    # ...while another address is not affected.
    wire = Wire()
    scope = http_scope("/v1/models", bearer(good), client="10.0.0.9", method="GET")
    await gateway_app()(scope, wire.receive, wire.send)
    assert wire.status == 200


def test_the_window_passes() -> None:
    throttle = FailureThrottle(allowed=2, window=60)
    throttle.failed("a", 0)
    throttle.failed("a", 1)
    assert throttle.retry_after("a", 2) == pytest.approx(58)
    assert throttle.retry_after("a", 60) is None
    throttle.failed("a", 61)
    assert throttle.retry_after("a", 62) is None


def test_a_flood_of_addresses_stays_bounded() -> None:
    throttle = FailureThrottle(allowed=1, window=60, max_addresses=100)
    for number in range(1000):
        throttle.failed(f"10.0.{number // 256}.{number % 256}", 0)
    assert len(throttle._windows) <= 100


def test_anthropic_dialect_refusals_are_in_its_shape(live_gateway) -> None:  # type: ignore[no-untyped-def]
    import httpx

    response = httpx.post(
        live_gateway + "/v1/messages", headers={"x-api-key": "sk-ant-wrong-000000"}, json={}
    )
    assert response.status_code == 401
    assert response.json()["type"] == "error"
