from __future__ import annotations

import json

import pytest

from providers.models import Provider

pytestmark = pytest.mark.django_db

SECRET = "sk-test-PLAINTEXT-provider-key-1234"


def create(api, **overrides):  # type: ignore[no-untyped-def]
    body = {
        "name": "openai-main",
        "base_url": "https://api.openai.com/v1",
        "api_key": SECRET,
        "models": ["gpt-4o-mini"],
        "is_active": True,
    } | overrides
    return api.post("/api/providers", json.dumps(body), content_type="application/json")


def test_create_returns_201_without_the_key(api) -> None:
    response = create(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "openai"
    assert body["api_key_set"] is True
    assert body["api_key_hint"].endswith("1234")
    assert SECRET not in response.content.decode()
    assert "api_key" not in body


def test_list_get_patch_delete(api) -> None:
    provider_id = create(api).json()["id"]
    listed = api.get("/api/providers").json()
    assert [p["name"] for p in listed] == ["openai-main"]
    assert api.get(f"/api/providers/{provider_id}").json()["models"] == ["gpt-4o-mini"]

    patched = api.patch(
        f"/api/providers/{provider_id}",
        json.dumps({"models": ["gpt-4o", "gpt-4o-mini"], "is_active": False}),
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert patched.json()["models"] == ["gpt-4o", "gpt-4o-mini"]
    assert patched.json()["is_active"] is False
    assert Provider.objects.get().api_key == SECRET  # untouched by a patch without it

    assert api.delete(f"/api/providers/{provider_id}").status_code == 204
    assert api.get(f"/api/providers/{provider_id}").status_code == 404


def test_patch_replaces_the_key_when_given(api) -> None:
    provider_id = create(api).json()["id"]
    api.patch(
        f"/api/providers/{provider_id}",
        json.dumps({"api_key": "sk-new-key-9999"}),
        content_type="application/json",
    )
    assert Provider.objects.get().api_key == "sk-new-key-9999"


@pytest.mark.parametrize(
    ("base_url", "name", "kind"),
    [
        ("https://api.anthropic.com/v1", "claude", "anthropic"),
        ("https://generativelanguage.googleapis.com/v1beta", "google", "gemini"),
        ("https://openrouter.ai/api/v1", "or", "openrouter"),
        ("http://127.0.0.1:11434/v1", "ollama", "openai_compatible"),
    ],
)
def test_kind_is_detected_from_the_base_url(api, base_url, name, kind) -> None:  # type: ignore[no-untyped-def]
    assert create(api, name=name, base_url=base_url).json()["kind"] == kind


def test_explicit_kind_wins(api) -> None:
    body = create(api, base_url="http://10.0.0.5/v1", kind="anthropic").json()
    assert body["kind"] == "anthropic"


def test_duplicate_name_is_a_4xx_naming_the_field(api) -> None:
    create(api)
    response = create(api)
    assert response.status_code == 400
    assert "name" in response.json()["detail"]
    assert Provider.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"models": "gpt-4o"}, "models"),
        ({"models": [1, 2]}, "models"),
        ({"models": [""]}, "models"),
        ({"name": ""}, "name"),
        ({"is_active": "maybe"}, "is_active"),
        ({"kind": "bedrock"}, "kind"),
    ],
)
def test_bad_payloads_are_4xx_naming_the_field(api, overrides, field) -> None:  # type: ignore[no-untyped-def]
    response = create(api, **overrides)
    assert 400 <= response.status_code < 500, response.content
    assert field in response.json()["detail"]
    assert Provider.objects.count() == 0


def test_malformed_json_is_4xx(api) -> None:
    response = api.post("/api/providers", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.json()


def test_missing_name_is_named(api) -> None:
    response = api.post(
        "/api/providers", json.dumps({"base_url": "https://x.io"}), content_type="application/json"
    )
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


def test_unknown_id_is_404_json(api) -> None:
    response = api.get("/api/providers/999")
    assert response.status_code == 404
    assert response.json()["detail"]


# --- a base_url on another host never receives the stored key ---------------------------


def test_moving_base_url_to_another_host_without_a_key_clears_it(api, upstream) -> None:  # type: ignore[no-untyped-def]
    """The collector is a real server on 127.0.0.1: "test" sends it nothing secret."""
    provider_id = create(api, base_url="https://api.openai.com/v1").json()["id"]
    moved = api.patch(
        f"/api/providers/{provider_id}",
        json.dumps({"base_url": upstream.url("ok")}),
        content_type="application/json",
    )
    assert moved.status_code == 200 and moved.json()["api_key_set"] is False
    assert Provider.objects.get().api_key == ""
    assert api.post(f"/api/providers/{provider_id}/test").status_code == 200
    assert upstream.seen, "the probe reached the collector"
    for request in upstream.seen:
        assert SECRET not in str(request.headers)
        assert "authorization" not in request.headers


def test_moving_base_url_with_a_new_key_keeps_that_key(api, upstream) -> None:  # type: ignore[no-untyped-def]
    provider_id = create(api).json()["id"]
    body = {"base_url": upstream.url("ok"), "api_key": "sk-for-the-new-host"}
    api.patch(f"/api/providers/{provider_id}", json.dumps(body), content_type="application/json")
    assert Provider.objects.get().api_key == "sk-for-the-new-host"


@pytest.mark.parametrize(
    "same_origin",
    ["https://api.openai.com/v2", "https://API.openai.com:443/v1/", "https://api.openai.com"],
)
def test_a_path_change_on_the_same_origin_keeps_the_key(api, same_origin) -> None:  # type: ignore[no-untyped-def]
    provider_id = create(api).json()["id"]
    body = json.dumps({"base_url": same_origin})
    api.patch(f"/api/providers/{provider_id}", body, content_type="application/json")
    assert Provider.objects.get().api_key == SECRET


@pytest.mark.parametrize(
    "other_origin",
    ["http://api.openai.com/v1", "https://api.openai.com:8443/v1", "https://evil.example/v1"],
)
def test_another_scheme_port_or_host_clears_the_key(api, other_origin) -> None:  # type: ignore[no-untyped-def]
    provider_id = create(api).json()["id"]
    body = json.dumps({"base_url": other_origin})
    api.patch(f"/api/providers/{provider_id}", body, content_type="application/json")
    assert Provider.objects.get().api_key == ""
