from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from providers import catalog
from providers.models import ModelInfo, Provider
from providers.tests.fake_upstream import FakeUpstream, closed_port_url

pytestmark = pytest.mark.django_db

KEY = "sk-catalog-SECRET-5555444433332222"


def make(base_url: str, name: str, kind: str = "openai_compatible", **extra: object) -> Provider:
    return Provider.objects.create(name=name, base_url=base_url, api_key=KEY, kind=kind, **extra)


@pytest.fixture
def openrouter(upstream: FakeUpstream) -> Provider:
    """An OpenRouter-format provider serving the recorded /models payload."""
    return make(upstream.url("openrouter"), "openrouter", kind="openrouter")


def info(model_id: str) -> ModelInfo:
    return ModelInfo.objects.get(model_id=model_id)


def sync(api) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = api.post("/api/models/sync")
    assert response.status_code == 200, response.content
    return response.json()


# --- sync from the recorded OpenRouter payload ----------------------------------------


def test_sync_reads_prices_per_token_from_the_recorded_payload(api, openrouter) -> None:
    report = sync(api)
    assert report["providers"] == 1
    assert report["created"] == 7
    assert report["errors"] == []
    mini = info("openai/gpt-4o-mini")
    assert mini.prompt_price == Decimal("0.00000015")
    assert mini.completion_price == Decimal("0.0000006")
    assert mini.name == "OpenAI: GPT-4o-mini"
    assert mini.context_length == 128000
    assert mini.provider == openrouter


def test_sync_reads_cache_prices_and_a_direct_provider_borrows_them(api, openrouter) -> None:
    sync(api)
    sonnet = info("anthropic/claude-3.5-sonnet")
    assert (sonnet.cache_read_price, sonnet.cache_write_price) == (
        Decimal("0.0000003"),
        Decimal("0.00000375"),
    )
    assert info("openai/gpt-4o-mini").cache_read_price is None  # none listed: unknown
    direct = make("http://127.0.0.1:9/v1", "claude", kind="anthropic")
    price = catalog.prices_for(direct.pk, "claude-3.5-sonnet")
    assert price is not None
    assert (price.cache_read, price.cache_write) == (Decimal("0.0000003"), Decimal("0.00000375"))
    listed = api.get("/api/models", {"search": "claude-3.5"}).json()["items"][0]
    assert listed["cache_write_price"] == 0.00000375


def test_cache_prices_can_be_set_and_cleared_by_hand(api, openrouter) -> None:
    sync(api)
    row = info("openai/gpt-4o-mini")
    response = api.patch(
        f"/api/models/{row.pk}",
        json.dumps({"cache_read_price": "0.000000075"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    row.refresh_from_db()
    assert row.cache_read_price == Decimal("0.000000075")
    api.patch(
        f"/api/models/{row.pk}",
        json.dumps({"cache_read_price": None}),
        content_type="application/json",
    )
    row.refresh_from_db()
    assert row.cache_read_price is None


def test_sync_marks_vision_from_input_modalities(api, openrouter) -> None:
    sync(api)
    assert info("anthropic/claude-3.5-sonnet").supports_vision is True
    assert info("openai/gpt-4o-mini").supports_vision is True
    assert info("meta-llama/llama-3.1-8b-instruct").supports_vision is False
    assert info("deepseek/deepseek-r1:free").supports_vision is False


def test_sync_marks_free_models_when_both_prices_are_zero(api, openrouter) -> None:
    sync(api)
    free = set(ModelInfo.objects.filter(is_free=True).values_list("model_id", flat=True))
    assert free == {"deepseek/deepseek-r1:free", "google/gemini-2.0-flash-exp:free"}


def test_sync_marks_reasoning_models(api, openrouter) -> None:
    sync(api)
    reasoning = set(ModelInfo.objects.filter(is_reasoning=True).values_list("model_id", flat=True))
    assert reasoning == {"deepseek/deepseek-r1:free", "openai/o3-mini"}


def test_a_variable_price_is_stored_as_unknown_not_negative(api, openrouter) -> None:
    sync(api)
    auto = info("openrouter/auto")
    assert (auto.prompt_price, auto.completion_price, auto.is_free) == (None, None, False)


def test_a_resync_updates_rows_instead_of_duplicating_them(api, openrouter) -> None:
    sync(api)
    report = sync(api)
    assert (report["created"], report["updated"]) == (0, 7)
    assert ModelInfo.objects.count() == 7


def test_pricing_is_read_from_any_provider_that_returns_it(api, upstream) -> None:
    upstream.behaviour.payloads["proxy"] = {
        "data": [{"id": "house-model", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]
    }
    make(upstream.url("payload/proxy"), "proxy")
    sync(api)
    assert info("house-model").prompt_price == Decimal("0.000001")


def test_id_only_providers_keep_prices_set_by_hand(api, upstream) -> None:
    provider = make(upstream.url("ok"), "openai-main", kind="openai", models=["gpt-4.1"])
    sync(api)
    ids = set(ModelInfo.objects.filter(provider=provider).values_list("model_id", flat=True))
    assert ids == {"gpt-4o-mini", "gpt-4o", "gpt-4.1"}  # listed ones plus the configured one
    row = info("gpt-4o")
    assert (row.prompt_price, row.completion_price) == (None, None)

    response = api.patch(
        f"/api/models/{row.pk}",
        json.dumps({"prompt_price": "0.0000025", "completion_price": 0.00001}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    sync(api)
    row.refresh_from_db()
    assert (row.prompt_price, row.completion_price) == (Decimal("0.0000025"), Decimal("0.00001"))


def test_sync_understands_gemini_and_anthropic_lists(api, upstream) -> None:
    upstream.behaviour.payloads["gemini"] = {
        "models": [
            {
                "name": "models/gemini-2.0-flash",
                "displayName": "Gemini 2.0 Flash",
                "inputTokenLimit": 1048576,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ]
    }
    upstream.behaviour.payloads["anthropic"] = {
        "data": [{"id": "claude-sonnet-4-20250514", "display_name": "Claude Sonnet 4"}]
    }
    make(upstream.url("payload/gemini"), "gemini", kind="gemini")
    make(upstream.url("payload/anthropic"), "anthropic", kind="anthropic")
    sync(api)
    flash = info("gemini-2.0-flash")
    assert (flash.name, flash.context_length) == ("Gemini 2.0 Flash", 1048576)
    assert not ModelInfo.objects.filter(model_id="text-embedding-004").exists()
    assert info("claude-sonnet-4-20250514").name == "Claude Sonnet 4"


def test_a_failing_provider_is_reported_without_its_key(api, upstream, openrouter) -> None:
    make(upstream.url("unauthorized"), "locked")
    make(closed_port_url(), "gone")
    make(upstream.url("notjson"), "html")
    report = sync(api)
    assert report["providers"] == 1
    failed = {error["provider"] for error in report["errors"]}
    assert failed == {"locked", "gone", "html"}
    assert KEY not in json.dumps(report)


def test_inactive_providers_are_not_synced(api, upstream) -> None:
    make(upstream.url("openrouter"), "off", is_active=False)
    assert sync(api)["providers"] == 0
    assert upstream.seen == []


# --- listing and filtering -----------------------------------------------------------


@pytest.fixture
def synced(api, upstream, openrouter) -> None:
    make(upstream.url("ok"), "local")
    sync(api)


def listing(api, **params: object) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = api.get("/api/models", params)
    assert response.status_code == 200, response.content
    return response.json()


def ids(page: dict) -> set[str]:  # type: ignore[type-arg]
    return {item["model_id"] for item in page["items"]}


def test_the_list_is_paginated_with_a_count(api, synced) -> None:
    page = listing(api, limit=3, offset=0)
    assert page["count"] == 9
    assert len(page["items"]) == 3
    rest = listing(api, limit=500, offset=3)
    assert len(rest["items"]) == 6
    assert ids(page).isdisjoint(ids(rest))


def test_list_items_carry_prices_and_flags(api, synced) -> None:
    [item] = listing(api, search="gpt-4o-mini", provider="openrouter")["items"]
    assert item["provider"] == "openrouter"
    assert item["prompt_price"] == pytest.approx(0.00000015)
    assert item["completion_price"] == pytest.approx(0.0000006)
    assert item["supports_vision"] is True
    assert item["is_free"] is False
    assert item["context_length"] == 128000


def test_filters_search_provider_free_vision_reasoning(api, synced) -> None:
    assert ids(listing(api, search="llama")) == {"meta-llama/llama-3.1-8b-instruct"}
    assert ids(listing(api, search="Claude 3.5")) == {"anthropic/claude-3.5-sonnet"}
    assert ids(listing(api, provider="local")) == {"gpt-4o-mini", "gpt-4o"}
    assert ids(listing(api, free="true")) == {
        "deepseek/deepseek-r1:free",
        "google/gemini-2.0-flash-exp:free",
    }
    assert ids(listing(api, vision="true", provider="openrouter")) == {
        "openai/gpt-4o-mini",
        "anthropic/claude-3.5-sonnet",
        "google/gemini-2.0-flash-exp:free",
        "openrouter/auto",
    }
    assert ids(listing(api, reasoning="true")) == {"deepseek/deepseek-r1:free", "openai/o3-mini"}
    assert ids(listing(api, free="true", vision="true")) == {"google/gemini-2.0-flash-exp:free"}
    assert listing(api, provider="nobody")["count"] == 0


def test_a_limit_over_500_is_refused_naming_it(api) -> None:
    response = api.get("/api/models", {"limit": 501})
    assert response.status_code == 422
    assert "limit" in response.json()["detail"]


def test_reading_the_catalog_needs_view_modelinfo(alice, synced) -> None:
    from django.contrib.auth.models import Permission

    client = Client()  # not the `api` client, which carries the admin key
    client.force_login(alice)
    refused = client.get("/api/models")
    assert refused.status_code == 403
    assert "providers.view_modelinfo" in refused.json()["detail"]
    alice.user_permissions.add(Permission.objects.get(codename="view_modelinfo"))
    assert client.get("/api/models").status_code == 200
    assert client.get("/api/chat/models").status_code == 200  # the console's picker


def test_only_admins_may_sync_or_price(alice, synced) -> None:
    client = Client()
    client.force_login(alice)
    assert client.post("/api/models/sync").status_code in (401, 403)
    row = info("openai/o3-mini")
    response = client.patch(
        f"/api/models/{row.pk}", json.dumps({"prompt_price": 0}), content_type="application/json"
    )
    assert response.status_code in (401, 403)


def test_anonymous_users_may_not_read_the_catalog(client) -> None:
    assert client.get("/api/models").status_code == 401


# --- pricing by hand -------------------------------------------------------------------


def test_setting_both_prices_to_zero_makes_a_model_free(api, synced) -> None:
    row = info("gpt-4o")
    response = api.patch(
        f"/api/models/{row.pk}",
        json.dumps({"prompt_price": 0, "completion_price": "0"}),
        content_type="application/json",
    )
    assert response.json()["is_free"] is True
    assert ids(listing(api, free="true", provider="local")) == {"gpt-4o"}


def test_a_negative_price_is_refused_naming_the_field(api, synced) -> None:
    row = info("gpt-4o")
    response = api.patch(
        f"/api/models/{row.pk}",
        json.dumps({"prompt_price": -1}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "prompt_price" in response.json()["detail"]


def test_pricing_an_unknown_model_is_404(api) -> None:
    response = api.patch(
        "/api/models/999999", json.dumps({"prompt_price": 1}), content_type="application/json"
    )
    assert response.status_code == 404


def test_the_admin_lists_models_with_editable_prices(staff, synced) -> None:
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/providers/modelinfo/").content.decode()
    assert "openai/o3-mini" in page
    assert 'name="form-0-prompt_price"' in page


# --- price_for, for cost computation --------------------------------------------------


def test_price_for_reads_the_providers_own_price(openrouter, api) -> None:
    sync(api)
    assert catalog.price_for(openrouter.pk, "anthropic/claude-3.5-sonnet") == (
        Decimal("0.000003"),
        Decimal("0.000015"),
    )


def test_price_for_is_none_when_unknown(openrouter, api) -> None:
    sync(api)
    assert catalog.price_for(openrouter.pk, "openrouter/auto") is None
    assert catalog.price_for(openrouter.pk, "not-listed") is None


def test_a_first_party_provider_borrows_openrouters_price(api, upstream, openrouter) -> None:
    direct = make(upstream.url("ok"), "openai-direct", kind="openai")
    local = make(upstream.url("ok"), "ollama")
    sync(api)
    assert catalog.price_for(direct.pk, "gpt-4o-mini") == (
        Decimal("0.00000015"),
        Decimal("0.0000006"),
    )
    assert catalog.price_for(local.pk, "gpt-4o-mini") is None  # self-hosted never borrows


def test_a_hand_set_price_beats_a_borrowed_one(api, upstream, openrouter) -> None:
    direct = make(upstream.url("ok"), "openai-direct", kind="openai")
    sync(api)
    ModelInfo.objects.filter(provider=direct, model_id="gpt-4o-mini").update(
        prompt_price=Decimal("0.1"), completion_price=Decimal("0.2")
    )
    assert catalog.price_for(direct.pk, "gpt-4o-mini") == (Decimal("0.1"), Decimal("0.2"))


# --- parsing edge cases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.000003", Decimal("0.000003")),
        (0.0000006, Decimal("0.0000006")),
        ("0", Decimal("0")),
        ("-1", None),
        ("abc", None),
        (None, None),
        ("NaN", None),
        ("1e30", None),
        (True, None),
    ],
)
def test_parse_price(raw: object, expected: Decimal | None) -> None:
    assert catalog.parse_price(raw) == expected


def test_a_payload_without_a_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="no model list"):
        catalog.parse_models({"object": "error"})


# --- seeding OpenRouter --------------------------------------------------------------------


def test_openrouter_is_seeded_once_when_its_key_is_set(settings) -> None:
    settings.OPENROUTER_API_KEY = "sk-or-v1-SEEDED-key-0000"
    first = catalog.seed_openrouter()
    second = catalog.seed_openrouter()
    assert first is not None and second is not None
    assert first.pk == second.pk
    assert Provider.objects.filter(name="openrouter").count() == 1
    assert (first.kind, first.base_url) == ("openrouter", "https://openrouter.ai/api/v1")
    assert Provider.objects.get().api_key == "sk-or-v1-SEEDED-key-0000"


def test_nothing_is_seeded_without_the_key(settings) -> None:
    settings.OPENROUTER_API_KEY = ""
    assert catalog.seed_openrouter() is None
    assert not Provider.objects.exists()


def test_seeding_leaves_an_edited_openrouter_alone(settings) -> None:
    Provider.objects.create(name="openrouter", base_url="https://proxy.example/v1", api_key="x")
    settings.OPENROUTER_API_KEY = "sk-or-v1-other"
    catalog.seed_openrouter()
    assert Provider.objects.get().base_url == "https://proxy.example/v1"
