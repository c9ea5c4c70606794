"""GET /v1/models/{id} through the openai SDK, and CORS for /v1 (CORS_ALLOWED_ORIGINS):
preflights answered, headers on responses, none by default, never credentials."""

from __future__ import annotations

import httpx
import openai
import pytest

from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route

ORIGIN = "https://app.example.com"


@pytest.fixture
def key(live_gateway: str) -> str:
    Provider.objects.create(
        name="compat", kind="openai_compatible", base_url="http://127.0.0.1:9/v1",
        api_key="sk-x", models=["gpt-test"],
    )  # fmt: skip
    Route.objects.create(name="smart", mode="auto")
    return ApiKey.issue("browser", scopes=["chat"])[1]


def test_a_model_is_retrieved_by_id(live_gateway, key) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=f"{live_gateway}/v1", api_key=key, max_retries=0)

    assert client.models.retrieve("smart").id == "smart"
    provided = client.models.retrieve("compat/gpt-test")
    assert (provided.id, provided.owned_by) == ("compat/gpt-test", "compat")
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope")
    assert missing.value.body["code"] == "model_not_found"


def test_retrieving_a_model_needs_a_key(live_gateway, key) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(f"{live_gateway}/v1/models/smart").status_code == 401


def preflight(url: str) -> httpx.Response:
    return httpx.options(
        f"{url}/v1/chat/completions",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cors_by_default(live_gateway, key) -> None:  # type: ignore[no-untyped-def]
    answer = preflight(live_gateway)
    assert "access-control-allow-origin" not in answer.headers
    listed = httpx.get(
        f"{live_gateway}/v1/models", headers={"Origin": ORIGIN, "Authorization": f"Bearer {key}"}
    )
    assert listed.status_code == 200
    assert "access-control-allow-origin" not in listed.headers


def test_an_allowed_origin_gets_its_preflight_and_headers(live_gateway, key, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]

    answer = preflight(live_gateway)

    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
    assert "access-control-allow-credentials" not in answer.headers
    listed = httpx.get(
        f"{live_gateway}/v1/models", headers={"Origin": ORIGIN, "Authorization": f"Bearer {key}"}
    )
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in listed.headers["access-control-expose-headers"]
    # Errors carry the headers too, so the page can read them.
    refused = httpx.get(f"{live_gateway}/v1/models", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_another_origin_gets_no_cors_headers(live_gateway, key, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]

    answer = httpx.options(
        f"{live_gateway}/v1/models",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert "access-control-allow-origin" not in answer.headers
