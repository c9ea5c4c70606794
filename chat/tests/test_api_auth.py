"""Who may use /api/: a staff session (with CSRF) or a Bearer key with the admin scope.
Everyone else gets a JSON 401 (who are you?) or 403 (not allowed)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chat.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/providers"
NEW_PROVIDER = json.dumps({"name": "ollama", "base_url": "http://127.0.0.1:11434/v1"})


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def assert_json_refusal(response: object, status: int) -> None:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("application/json")  # type: ignore[index]
    assert response.json()["detail"]  # type: ignore[attr-defined]


def test_no_key_is_401(client: Client) -> None:
    assert_json_refusal(client.get(URL), 401)


def test_a_wrong_key_is_401(client: Client, admin_key: str) -> None:
    assert_json_refusal(client.get(URL, **bearer(admin_key + "x")), 401)
    assert_json_refusal(client.get(URL, **bearer("sk-sb-not-a-key")), 401)
    assert_json_refusal(client.get(URL, HTTP_AUTHORIZATION=f"Basic {admin_key}"), 401)


def test_a_chat_only_key_is_403(client: Client, chat_key: str) -> None:
    response = client.get(URL, **bearer(chat_key))
    assert_json_refusal(response, 403)
    assert "admin" in response.json()["detail"]


def test_a_revoked_key_is_401(client: Client, admin_key: str) -> None:
    ApiKey.objects.update(is_active=False)
    assert_json_refusal(client.get(URL, **bearer(admin_key)), 401)


def test_an_expired_key_is_401(client: Client, admin_key: str) -> None:
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_json_refusal(client.get(URL, **bearer(admin_key)), 401)


def test_a_key_expiring_later_works(client: Client, admin_key: str) -> None:
    ApiKey.objects.update(expires_at=timezone.now() + timedelta(days=1))
    assert client.get(URL, **bearer(admin_key)).status_code == 200


def test_an_admin_key_works(client: Client, admin_key: str) -> None:
    assert client.get(URL, **bearer(admin_key)).status_code == 200
    created = client.post(URL, NEW_PROVIDER, content_type="application/json", **bearer(admin_key))
    assert created.status_code == 201


def test_an_admin_key_needs_no_csrf_token(admin_key: str) -> None:
    strict = Client(enforce_csrf_checks=True)
    created = strict.post(URL, NEW_PROVIDER, content_type="application/json", **bearer(admin_key))
    assert created.status_code == 201, created.content


def test_a_non_staff_user_is_403(client: Client, alice: object) -> None:
    client.force_login(alice)  # type: ignore[arg-type]
    assert_json_refusal(client.get(URL), 403)


def test_a_non_staff_user_with_a_chat_key_is_still_refused(
    client: Client, alice: object, chat_key: str
) -> None:
    client.force_login(alice)  # type: ignore[arg-type]
    assert client.get(URL, **bearer(chat_key)).status_code == 403


def test_a_staff_session_works(client: Client, staff: object) -> None:
    client.force_login(staff)  # type: ignore[arg-type]
    assert client.get(URL).status_code == 200


def test_a_staff_post_without_the_csrf_token_is_403(staff: object) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)  # type: ignore[arg-type]
    assert_json_refusal(strict.post(URL, NEW_PROVIDER, content_type="application/json"), 403)
    assert strict.get(URL).json() == []  # nothing was created


def test_a_staff_post_with_the_csrf_token_works(staff: object) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)  # type: ignore[arg-type]
    strict.get("/admin/")  # sets the csrftoken cookie
    token = strict.cookies["csrftoken"].value
    created = strict.post(
        URL, NEW_PROVIDER, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert created.status_code == 201, created.content
