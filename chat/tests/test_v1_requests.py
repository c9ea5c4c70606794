"""/v1 refusals: keys, scopes, limits and bad input, always in OpenAI's error shape."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route, RouteNode
from usage.models import UsageLog

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def route(live_gateway: str, fake_openai) -> Route:  # type: ignore[no-untyped-def]
    provider = Provider.objects.create(
        name="oa",
        base_url=fake_openai.base_url,
        kind="openai",
        api_key="sk-upstream",
        models=["gpt-4o-mini"],
    )
    route = Route.objects.create(name="smart", mode="auto")
    RouteNode.objects.create(route=route, provider=provider, models=["gpt-4o-mini"])
    return route


def post(
    base: str, body: object = None, key: str | None = None, raw: bytes | None = None, **headers: str
) -> httpx.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    content = raw if raw is not None else httpx.Request("POST", "/", json=body).content
    headers.setdefault("content-type", "application/json")
    return httpx.post(base + "/v1/chat/completions", content=content, headers=headers, timeout=15)


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code:
        assert error["code"] == code
    if param:
        assert error["param"] == param
    return error


def test_no_key_is_401(live_gateway, route) -> None:  # type: ignore[no-untyped-def]
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES})
    assert_openai_error(response, 401, "invalid_api_key")


def test_a_wrong_key_is_401(live_gateway, route) -> None:  # type: ignore[no-untyped-def]
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES}, key="sk-sb-nope")
    assert_openai_error(response, 401, "invalid_api_key")


def test_a_revoked_key_is_401(live_gateway, route) -> None:  # type: ignore[no-untyped-def]
    key, raw = ApiKey.issue("gone")
    key.is_active = False
    key.save()
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES}, key=raw)
    assert_openai_error(response, 401)


def test_a_key_without_chat_scope_is_403(live_gateway, route) -> None:  # type: ignore[no-untyped-def]
    raw = ApiKey.issue("ops-only", scopes=["admin"])[1]
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES}, key=raw)
    assert_openai_error(response, 403)


def test_no_key_needed_when_not_required(live_gateway, route, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REQUIRE_API_KEY = False
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "smart"}, "messages"),
        ({"model": "smart", "messages": []}, "messages"),
        ({"model": "smart", "messages": "hello"}, "messages"),
        ({"model": "smart", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "smart", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": 42, "messages": MESSAGES}, "model"),
        ({"model": "smart", "messages": MESSAGES, "temperature": "hot"}, "temperature"),
        ({"model": "smart", "messages": MESSAGES, "max_tokens": -1}, "max_tokens"),
        ({"model": "smart", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "smart", "messages": MESSAGES, "tools": "all"}, "tools"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(live_gateway, route, chat_key, body, param) -> None:  # type: ignore[no-untyped-def]
    assert_openai_error(post(live_gateway, body, key=chat_key), 400, param=param)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_unparseable_bodies_are_400(live_gateway, route, chat_key, raw) -> None:  # type: ignore[no-untyped-def]
    assert_openai_error(post(live_gateway, raw=raw, key=chat_key), 400)


def test_a_huge_body_is_413(live_gateway, route, chat_key, settings) -> None:  # type: ignore[no-untyped-def]
    settings.V1_MAX_BODY_BYTES = 1024 * 1024
    big = "x" * (2 * 1024 * 1024)
    response = post(
        live_gateway,
        {"model": "smart", "messages": [{"role": "user", "content": big}]},
        key=chat_key,
    )
    assert_openai_error(response, 413)


def test_an_unknown_model_is_404(live_gateway, route, chat_key, usage_logs) -> None:  # type: ignore[no-untyped-def]
    response = post(live_gateway, {"model": "nope", "messages": MESSAGES}, key=chat_key)
    assert_openai_error(response, 404, "model_not_found", "model")
    [log] = usage_logs()
    assert (log.status, log.error_code, log.requested_model) == ("error", "model_not_found", "nope")


def test_no_healthy_provider_is_503(live_gateway, route, chat_key, usage_logs) -> None:  # type: ignore[no-untyped-def]
    Provider.objects.update(is_healthy=False)
    Provider.objects.get().save()  # a save refreshes the routing snapshot
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES}, key=chat_key)
    assert_openai_error(response, 503, "no_healthy_provider")
    assert [log.error_code for log in usage_logs()] == ["no_healthy_provider"]


def test_rpm_limit_answers_429_with_retry_after(live_gateway, route, usage_logs) -> None:  # type: ignore[no-untyped-def]
    raw = ApiKey.issue("slow", rpm_limit=2)[1]
    body = {"model": "smart", "messages": MESSAGES}
    codes = [post(live_gateway, body, key=raw).status_code for _ in range(2)]
    refused = post(live_gateway, body, key=raw)
    assert codes == [200, 200]
    assert_openai_error(refused, 429, "rate_limit_exceeded")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert [log.status for log in usage_logs(3)] == ["ok", "ok", "error"]


def test_budget_exceeded_answers_429(live_gateway, route, usage_logs) -> None:  # type: ignore[no-untyped-def]
    key, raw = ApiKey.issue("capped", budget_usd=Decimal("0.01"))
    UsageLog.objects.create(request_id="earlier", api_key=key, cost_usd=Decimal("0.02"))
    response = post(live_gateway, {"model": "smart", "messages": MESSAGES}, key=raw)
    error = assert_openai_error(response, 429, "budget_exceeded")
    assert "capped" in error["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_request_id_is_echoed(live_gateway, route, chat_key) -> None:  # type: ignore[no-untyped-def]
    response = post(
        live_gateway,
        {"model": "smart", "messages": MESSAGES},
        key=chat_key,
        **{"x-request-id": "trace-123"},
    )
    assert response.headers["x-request-id"] == "trace-123"


def test_unknown_v1_paths_are_openai_shaped_404(live_gateway, chat_key) -> None:  # type: ignore[no-untyped-def]
    response = httpx.get(
        live_gateway + "/v1/embeddingz", headers={"Authorization": f"Bearer {chat_key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_a_key_revoked_in_the_admin_stops_working(live_gateway, route, staff, client) -> None:  # type: ignore[no-untyped-def]
    key, raw = ApiKey.issue("soon-gone")
    body = {"model": "smart", "messages": MESSAGES}
    assert post(live_gateway, body, key=raw).status_code == 200
    client.force_login(staff)
    client.post("/admin/chat/apikey/", {"action": "revoke", "_selected_action": [key.id]})
    assert ApiKey.objects.get(pk=key.pk).is_active is False
    assert_openai_error(post(live_gateway, body, key=raw), 401)
