"""/api/keys: operators provision, change, rotate and revoke keys; users manage their own.

What /v1 does with a key is checked against the real ASGI app (live_gateway): a key made
through the API works at once, a change or a deletion shows within 2 s, a rotated key's
old secret works until its grace period ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from chat import keys
from chat.models import ApiKey
from chat.tests.test_v1_requests import MESSAGES, post, route  # noqa: F401  (fixture)
from usage.models import UsageLog

JSON = "application/json"


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    call = getattr(client, method.lower())
    if body is None:
        return call(path)
    return call(path, json.dumps(body), content_type=JSON)


def v1_status(base: str, raw: str) -> int:
    return post(base, {"model": "smart", "messages": MESSAGES}, key=raw).status_code


def within(seconds: float, check: Callable[[], bool]) -> bool:
    """Whether `check` holds at some point in the next `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# --- operators ---------------------------------------------------------------------------


@pytest.mark.usefixtures("route")
def test_a_key_created_through_the_api_works_on_v1_at_once(live_gateway, api) -> None:  # type: ignore[no-untyped-def]
    response = send(api, "POST", "/api/keys", {"name": "ci", "rpm_limit": 100})
    assert response.status_code == 201, response.content
    created = response.json()
    raw = created["key"]
    assert raw.startswith("sk-sb-") and created["prefix"] == raw[:10]
    assert v1_status(live_gateway, raw) == 200
    # Never again: not in the list, not in the detail, not anywhere in their bodies.
    for path in ("/api/keys", f"/api/keys/{created['id']}"):
        body = send(api, "GET", path).content.decode()
        assert raw not in body and '"key"' not in body
    stored = ApiKey.objects.get(pk=created["id"])
    assert raw not in (stored.key_hash, stored.prefix)


@pytest.mark.usefixtures("route")
def test_patch_and_delete_take_effect_on_v1_within_two_seconds(live_gateway, api) -> None:  # type: ignore[no-untyped-def]
    created = send(api, "POST", "/api/keys", {"name": "svc"}).json()
    raw, path = created["key"], f"/api/keys/{created['id']}"
    assert v1_status(live_gateway, raw) == 200

    assert send(api, "PATCH", path, {"is_active": False}).json()["is_active"] is False
    assert within(2, lambda: v1_status(live_gateway, raw) == 401)

    send(api, "PATCH", path, {"is_active": True, "rpm_limit": 1})
    assert within(2, lambda: v1_status(live_gateway, raw) == 200)
    assert v1_status(live_gateway, raw) == 429  # the new rpm limit applies too

    send(api, "PATCH", path, {"rpm_limit": None, "expires_at": "2000-01-01T00:00:00Z"})
    assert within(2, lambda: v1_status(live_gateway, raw) == 401)
    send(api, "PATCH", path, {"expires_at": None})
    assert within(2, lambda: v1_status(live_gateway, raw) == 200)

    assert send(api, "DELETE", path).status_code == 204
    assert within(2, lambda: v1_status(live_gateway, raw) == 401)
    assert send(api, "GET", path).status_code == 404


@pytest.mark.usefixtures("route")
def test_rotation_accepts_both_secrets_until_the_grace_ends(live_gateway, api) -> None:  # type: ignore[no-untyped-def]
    created = send(api, "POST", "/api/keys", {"name": "rotating"}).json()
    old, path = created["key"], f"/api/keys/{created['id']}/rotate"
    rotated = send(api, "POST", path, {"grace_seconds": 3600})
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["key"]
    assert new != old and rotated.json()["id"] == created["id"]
    assert rotated.json()["previous_valid_until"] is not None
    assert v1_status(live_gateway, old) == 200
    assert v1_status(live_gateway, new) == 200
    # The hour passes (the clock moves in test_the_old_secret_ends_by_the_clock).
    ApiKey.objects.filter(pk=created["id"]).update(
        previous_valid_until=timezone.now() - timedelta(seconds=1)
    )
    assert within(2, lambda: v1_status(live_gateway, old) == 401)
    assert v1_status(live_gateway, new) == 200


@pytest.mark.usefixtures("route")
def test_rotation_without_grace_ends_the_old_secret_at_once(live_gateway, api) -> None:  # type: ignore[no-untyped-def]
    created = send(api, "POST", "/api/keys", {"name": "leaked"}).json()
    new = send(api, "POST", f"/api/keys/{created['id']}/rotate", {}).json()["key"]
    assert within(2, lambda: v1_status(live_gateway, created["key"]) == 401)
    assert v1_status(live_gateway, new) == 200


@pytest.mark.django_db
def test_the_old_secret_ends_by_the_clock() -> None:
    key, old = ApiKey.issue("k")
    new = key.rotate(grace_seconds=60)
    lookup = async_to_sync(keys.lookup)
    assert lookup(old) is not None and lookup(new) is not None
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert lookup(old) is None  # no rebuild needed: the table knows when it ends
        assert lookup(new) is not None


@pytest.mark.django_db
def test_an_admin_keys_old_secret_works_on_api_during_the_grace(api, admin_key) -> None:  # type: ignore[no-untyped-def]
    key = ApiKey.objects.get(name="ops")
    new = send(api, "POST", f"/api/keys/{key.id}/rotate", {"grace_seconds": 60}).json()["key"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {admin_key}").get("/api/keys").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Bearer {new}").get("/api/keys").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        old_client = Client(HTTP_AUTHORIZATION=f"Bearer {admin_key}")
        assert old_client.get("/api/keys").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "k", "scopes": ["root"]}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "budget_usd": -1}, "budget_usd"),
        ({"name": "k", "rpm_limit": 0}, "rpm_limit"),
        ({"name": "k", "expires_at": "soon"}, "expires_at"),
        ({"name": "k", "owner_id": 999999}, "owner_id"),
    ],
)
def test_bad_input_names_the_field(api, body, field) -> None:  # type: ignore[no-untyped-def]
    response = send(api, "POST", "/api/keys", body)
    assert response.status_code in (400, 422), response.content
    assert response.json()["detail"].startswith(field)


@pytest.mark.django_db
def test_patch_refuses_null_for_fields_that_need_a_value(api) -> None:  # type: ignore[no-untyped-def]
    created = send(api, "POST", "/api/keys", {"name": "k"}).json()
    response = send(api, "PATCH", f"/api/keys/{created['id']}", {"name": None})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("name")
    response = send(api, "POST", f"/api/keys/{created['id']}/rotate", {"grace_seconds": -1})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("grace_seconds")


@pytest.mark.django_db
def test_an_operator_gives_a_key_to_a_user_and_sees_its_usage(api, alice) -> None:  # type: ignore[no-untyped-def]
    created = send(api, "POST", "/api/keys", {"name": "alice-ci", "owner_id": alice.id})
    assert created.status_code == 201
    assert created.json()["owner"] == "alice"
    UsageLog.objects.create(request_id="r", api_key_id=created.json()["id"], cost_usd="0.25")
    listed = send(api, "GET", "/api/keys").json()
    [entry] = [k for k in listed if k["id"] == created.json()["id"]]
    assert float(entry["spent_usd"]) == 0.25 and entry["requests"] == 1


# --- self-service ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_manages_only_their_own_keys(as_alice, as_bob, alice, bob) -> None:  # type: ignore[no-untyped-def]
    mine = send(as_alice, "POST", "/api/keys", {"name": "laptop"})
    assert mine.status_code == 201, mine.content
    assert mine.json()["owner_id"] == alice.id and mine.json()["scopes"] == ["chat"]
    ApiKey.issue("operators-own")
    bobs = send(as_bob, "POST", "/api/keys", {"name": "bob's"}).json()

    assert [k["name"] for k in send(as_alice, "GET", "/api/keys").json()] == ["laptop"]
    for method, body in (("GET", None), ("PATCH", {"name": "mine now"}), ("DELETE", None)):
        assert send(as_alice, method, f"/api/keys/{bobs['id']}", body).status_code == 404
    assert send(as_alice, "POST", f"/api/keys/{bobs['id']}/rotate", {}).status_code == 404
    assert ApiKey.objects.get(pk=bobs["id"]).name == "bob's"

    path = f"/api/keys/{mine.json()['id']}"
    assert send(as_alice, "PATCH", path, {"name": "desktop"}).json()["name"] == "desktop"
    assert send(as_alice, "POST", path + "/rotate", {"grace_seconds": 10}).status_code == 200
    assert send(as_alice, "DELETE", path).status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"name": "k", "scopes": ["admin"]},
        {"name": "k", "scopes": ["chat", "admin"]},
    ],
)
def test_a_user_cannot_give_their_key_the_admin_scope(as_alice, body) -> None:  # type: ignore[no-untyped-def]
    response = send(as_alice, "POST", "/api/keys", body)
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]
    created = send(as_alice, "POST", "/api/keys", {"name": "k"}).json()
    response = send(as_alice, "PATCH", f"/api/keys/{created['id']}", {"scopes": ["admin"]})
    assert response.status_code == 403
    assert ApiKey.objects.get(pk=created["id"]).scopes == ["chat"]


@pytest.mark.django_db
def test_a_user_cannot_make_keys_for_someone_else(as_alice, alice, bob) -> None:  # type: ignore[no-untyped-def]
    response = send(as_alice, "POST", "/api/keys", {"name": "k", "owner_id": bob.id})
    assert response.status_code == 403
    created = send(as_alice, "POST", "/api/keys", {"name": "k", "owner_id": alice.id})
    assert created.status_code == 201


@pytest.mark.django_db
def test_a_user_holds_at_most_max_keys_per_user(as_alice, alice, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MAX_KEYS_PER_USER = 2
    first = send(as_alice, "POST", "/api/keys", {"name": "one"}).json()
    send(as_alice, "POST", "/api/keys", {"name": "two"})
    refused = send(as_alice, "POST", "/api/keys", {"name": "three"})
    assert refused.status_code == 400
    assert "at most 2" in refused.json()["detail"]
    # Revoking one makes room; reactivating it then would pass the cap.
    send(as_alice, "PATCH", f"/api/keys/{first['id']}", {"is_active": False})
    assert send(as_alice, "POST", "/api/keys", {"name": "three"}).status_code == 201
    again = send(as_alice, "PATCH", f"/api/keys/{first['id']}", {"is_active": True})
    assert again.status_code == 400
    assert ApiKey.objects.filter(owner=alice, is_active=True).count() == 2


@pytest.mark.usefixtures("route")
def test_a_users_own_key_is_refused_on_api(live_gateway, as_alice) -> None:  # type: ignore[no-untyped-def]
    raw = send(as_alice, "POST", "/api/keys", {"name": "cli"}).json()["key"]
    assert v1_status(live_gateway, raw) == 200
    for path in ("/api/keys", "/api/providers", "/api/users/me/quota", "/api/usage"):
        response = httpx.get(live_gateway + path, headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code in (401, 403), (path, response.status_code)
    response = httpx.post(
        live_gateway + "/api/keys",
        json={"name": "escalate", "scopes": ["admin"]},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 403
    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
def test_view_permission_alone_sees_every_key_but_creates_only_its_own(  # type: ignore[no-untyped-def]
    django_user_model, alice
) -> None:
    auditor = django_user_model.objects.create_user("auditor", password="pw", is_staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client = Client()
    client.force_login(auditor)
    ApiKey.issue("someone-elses", owner=alice)
    assert [k["name"] for k in send(client, "GET", "/api/keys").json()] == ["someone-elses"]
    created = send(client, "POST", "/api/keys", {"name": "auditor's", "scopes": ["admin"]})
    assert created.status_code == 403  # no add_apikey: self-service rules
    created = send(client, "POST", "/api/keys", {"name": "auditor's"}).json()
    assert created["owner_id"] == auditor.id


@pytest.mark.django_db
def test_anonymous_callers_get_401(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/keys").status_code == 401
    assert send(client, "POST", "/api/keys", {"name": "k"}).status_code == 401
