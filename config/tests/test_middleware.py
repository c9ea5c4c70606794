from __future__ import annotations

import logging

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory

from config.middleware import RequestObservabilityMiddleware
from console import stats

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_stats() -> None:
    """Requests of earlier tests may still sit in this process's buffer (shared cache)."""
    from django.core.cache import cache

    stats.buffer.flush()
    cache.clear()


def test_a_request_id_is_generated_and_returned(client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/ping")["x-request-id"]
    second = client.get("/ping")["x-request-id"]
    assert len(first) == 32 and first != second


def test_the_clients_request_id_is_echoed(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ping", HTTP_X_REQUEST_ID="trace-42.abc")
    assert response["x-request-id"] == "trace-42.abc"


def test_a_request_id_that_could_forge_log_lines_is_replaced(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ping", HTTP_X_REQUEST_ID="x\n{evil}")
    assert response["x-request-id"] != "x\n{evil}"
    assert len(response["x-request-id"]) == 32


def test_every_line_logged_during_a_request_carries_its_id(client, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        client.get("/api/providers", HTTP_X_REQUEST_ID="req-1")  # 401: no credentials
    access = [r for r in caplog.records if r.name == "switchboard.access"]
    assert len(access) == 1
    line = access[0]
    assert line.request_id == "req-1"
    assert (line.method, line.path, line.status) == ("GET", "/api/providers", 401)
    assert line.route == "/api/providers" and line.duration_ms >= 0


def test_errors_inside_a_view_keep_the_request_id_in_the_access_line(client, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        client.get("/no-such-page", HTTP_X_REQUEST_ID="req-404")
    line = next(r for r in caplog.records if r.name == "switchboard.access")
    assert (line.status, line.route, line.request_id) == (404, "<unmatched>", "req-404")


def test_stats_count_requests_errors_statuses_and_endpoints(api) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert api.get("/api/providers").status_code == 200
    assert api.get("/api/providers/999").status_code == 404
    assert Client().get("/api/providers").status_code == 401  # no credentials

    body = api.get("/api/admin/stats").json()
    # The stats request itself is counted once its response closes, after this body.
    assert body["requests"] == 5
    assert body["errors"] == 2
    assert body["error_rate"] == 0.4
    assert body["status_codes"] == {"200": 3, "401": 1, "404": 1}
    assert body["avg_duration_ms"] > 0
    assert body["uptime_seconds"] >= 0
    endpoints = {(e["method"], e["route"]): e for e in body["endpoints"]}
    listed = endpoints[("GET", "/api/providers")]
    assert (listed["requests"], listed["errors"]) == (4, 1)
    one = endpoints[("GET", "/api/providers/<int:provider_id>")]
    assert (one["requests"], one["errors"], one["error_rate"]) == (1, 1, 1.0)
    recent = body["recent"]
    assert [r["status"] for r in recent[:2]] == [401, 404]
    assert recent[1]["path"] == "/api/providers/999"
    assert {"request_id", "method", "duration_ms", "at"} <= set(recent[0])


def test_stats_need_an_admin(client, chat_key) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/admin/stats").status_code == 401
    response = client.get("/api/admin/stats", HTTP_AUTHORIZATION=f"Bearer {chat_key}")
    assert response.status_code == 403


def test_the_recent_list_keeps_only_the_newest_requests(client) -> None:  # type: ignore[no-untyped-def]
    for number in range(stats.RECENT_SLOTS + 5):
        client.get("/ping", HTTP_X_REQUEST_ID=f"r{number}")
    recent = stats.summary()["recent"]
    assert len(recent) == stats.RECENT_SLOTS
    assert recent[0]["request_id"] == f"r{stats.RECENT_SLOTS + 4}"


async def test_it_works_in_async_mode() -> None:
    client = AsyncClient()
    response = await client.get("/ping", headers={"x-request-id": "async-1"})
    assert response.status_code == 200
    assert response["x-request-id"] == "async-1"
    summary = await _summary()
    assert summary["recent"][0]["request_id"] == "async-1"


async def _summary() -> dict:  # type: ignore[type-arg]
    from asgiref.sync import sync_to_async

    return await sync_to_async(stats.summary)()


async def test_it_needs_no_other_middleware_around_an_async_view() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    middleware = RequestObservabilityMiddleware(view)
    assert iscoroutinefunction(middleware)
    request = RequestFactory().get("/v1/models", HTTP_X_REQUEST_ID="bare-1")
    response = await middleware(request)
    assert response["x-request-id"] == "bare-1"
    assert request.request_id == "bare-1"  # type: ignore[attr-defined]


def test_it_runs_synchronously_around_a_sync_view() -> None:
    middleware = RequestObservabilityMiddleware(lambda request: HttpResponse("ok"))
    assert not iscoroutinefunction(middleware)
    response = middleware(RequestFactory().get("/ping"))
    assert len(response["x-request-id"]) == 32


def test_a_stream_is_counted_when_its_body_has_been_sent(caplog) -> None:  # type: ignore[no-untyped-def]
    def view(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(iter([b"a", b"b"]))

    middleware = RequestObservabilityMiddleware(view)
    with caplog.at_level(logging.INFO):
        response = middleware(RequestFactory().get("/v1/stream"))
        assert b"".join(response.streaming_content) == b"ab"
        assert not [r for r in caplog.records if r.name == "switchboard.access"]
        response.close()
        response.close()  # servers may close twice; counted once
    assert len([r for r in caplog.records if r.name == "switchboard.access"]) == 1


def test_a_buffer_adds_its_requests_to_the_shared_counters_when_flushed() -> None:
    first, second = stats.StatsBuffer(), stats.StatsBuffer()  # two worker processes
    for number, buffered in enumerate((first, second, second)):
        entry = {"at": f"2026-01-01T00:00:0{number}", "request_id": f"b{number}", "status": 200}
        buffered.add("GET /v1/models", 200, 1500, entry)
    assert stats.summary()["requests"] == 0  # nothing flushed yet
    first.flush()
    second.flush()
    summary = stats.summary()
    assert summary["requests"] == 3 and summary["avg_duration_ms"] == 1.5
    assert summary["endpoints"][0]["route"] == "/v1/models"
    assert [r["request_id"] for r in summary["recent"]] == ["b2", "b1", "b0"]
