"""The provider admin: a write-only key field, the list with health columns."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from providers.models import Provider

pytestmark = pytest.mark.django_db

STORED = "prov-stored-key-5a6b7c8d"
TYPED = "prov-typed-key-1e2f3a4b"


@pytest.fixture
def admin_client(client: Client, staff: object) -> Client:
    client.force_login(staff)  # type: ignore[arg-type]
    return client


@pytest.fixture
def provider() -> Provider:
    return Provider.objects.create(
        name="openai-main",
        base_url="https://api.openai.com/v1",
        api_key=STORED,
        models=["gpt-4o-mini"],
    )


def change_form(provider: Provider, **overrides: str) -> dict[str, str]:
    return {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "api_key": "",
        "models": '["gpt-4o-mini", "gpt-4o"]',
        "is_active": "on",
    } | overrides


def post_change(admin_client: Client, provider: Provider, **overrides: str) -> None:
    url = f"/admin/providers/provider/{provider.pk}/change/"
    response = admin_client.post(url, change_form(provider, **overrides))
    assert response.status_code == 302, response.content.decode()[-2000:]


def test_a_blank_key_box_keeps_the_stored_key(admin_client: Client, provider: Provider) -> None:
    post_change(admin_client, provider)
    provider.refresh_from_db()
    assert provider.api_key == STORED
    assert provider.models == ["gpt-4o-mini", "gpt-4o"]


def test_a_typed_key_replaces_the_stored_one(admin_client: Client, provider: Provider) -> None:
    post_change(admin_client, provider, api_key=TYPED)
    provider.refresh_from_db()
    assert provider.api_key == TYPED


def test_the_remove_box_clears_the_key(admin_client: Client, provider: Provider) -> None:
    post_change(admin_client, provider, clear_api_key="on")
    provider.refresh_from_db()
    assert provider.api_key == ""


def test_the_key_input_renders_empty(admin_client: Client, provider: Provider) -> None:
    html = admin_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert 'type="password" name="api_key"' in html
    assert STORED not in html
    assert "A key is stored" in html


def test_a_provider_is_added_with_its_key_encrypted(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/providers/provider/add/",
        {
            "name": "claude",
            "kind": "",
            "base_url": "https://api.anthropic.com/v1",
            "api_key": TYPED,
            "models": '["claude-sonnet-4"]',
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    provider = Provider.objects.get(name="claude")
    assert provider.kind == "anthropic"
    assert provider.api_key == TYPED
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT api_key FROM {Provider._meta.db_table} WHERE id = %s", [provider.pk]
        )
        (column,) = cursor.fetchone()
    assert column.startswith("gAAAAA")
    assert TYPED not in column


def test_a_bad_base_url_is_refused_in_the_form(admin_client: Client, provider: Provider) -> None:
    url = f"/admin/providers/provider/{provider.pk}/change/"
    response = admin_client.post(url, change_form(provider, base_url="ftp://example.com"))
    assert response.status_code == 200  # the form again, with the error
    assert "http:// or https://" in response.content.decode()


def test_the_list_shows_status_health_and_latency(admin_client: Client, provider: Provider) -> None:
    Provider.objects.filter(pk=provider.pk).update(status="online", latency_ms=123)
    html = admin_client.get("/admin/providers/provider/?is_healthy__exact=1&q=openai").content
    text = html.decode()
    assert "openai-main" in text
    assert "online" in text
    assert "123" in text
    assert STORED not in text


def test_another_host_in_the_form_clears_the_stored_key(
    admin_client: Client, provider: Provider
) -> None:
    post_change(admin_client, provider, base_url="https://collector.example/v1")
    provider.refresh_from_db()
    assert provider.base_url == "https://collector.example/v1"
    assert provider.api_key == ""


def test_another_host_with_a_typed_key_keeps_that_key(
    admin_client: Client, provider: Provider
) -> None:
    post_change(admin_client, provider, base_url="https://collector.example/v1", api_key=TYPED)
    provider.refresh_from_db()
    assert provider.api_key == TYPED


def test_a_new_path_on_the_same_host_keeps_the_stored_key(
    admin_client: Client, provider: Provider
) -> None:
    post_change(admin_client, provider, base_url="https://api.openai.com/v2")
    provider.refresh_from_db()
    assert provider.api_key == STORED
