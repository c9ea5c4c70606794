"""Who may do what on /api and in the admin: Django model permissions, not `is_staff`.

A staff account without permissions gets 403 (naming the permission) on providers, routes,
the catalog, backups and restores; a superuser and an admin key get everything; each HTTP
method needs its own action (GET view, POST add, PATCH change, DELETE delete).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from console.models import Profile
from providers.models import ModelInfo, Provider
from routing.models import Route
from usage.models import UsageLog

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture
def clerk(django_user_model):  # type: ignore[no-untyped-def]
    """A staff account with no permissions at all."""
    return django_user_model.objects.create_user("clerk", password="clerk-password", is_staff=True)


@pytest.fixture
def as_clerk(clerk) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(clerk)
    return client


@pytest.fixture
def openai(db) -> Provider:  # type: ignore[no-untyped-def]
    return Provider.objects.create(
        name="openai-main", base_url="http://127.0.0.1:9/v1", api_key="sk-stored-key-1234"
    )


def grant(user: Any, *codenames: str) -> None:
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )


def refused(response: Any, permission: str) -> bool:
    assert response.status_code == 403, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    return permission in response.json()["detail"]


# --- a staff account with no permissions ------------------------------------------------


def test_is_staff_alone_opens_no_operator_endpoint(as_clerk: Client, openai: Provider) -> None:
    new = json.dumps({"name": "mine", "base_url": "http://127.0.0.1:9/v1"})
    assert refused(as_clerk.get("/api/providers"), "providers.view_provider")
    assert refused(as_clerk.post("/api/providers", new, JSON), "providers.add_provider")
    assert refused(
        as_clerk.patch(f"/api/providers/{openai.pk}", '{"base_url": "http://x/v1"}', JSON),
        "providers.change_provider",
    )
    assert refused(as_clerk.post(f"/api/providers/{openai.pk}/test"), "change_provider")
    assert refused(as_clerk.get("/api/model-routes"), "routing.view_route")
    assert refused(as_clerk.get("/api/models"), "providers.view_modelinfo")
    assert refused(as_clerk.post("/api/models/sync"), "providers.change_modelinfo")
    assert refused(as_clerk.get("/api/admin/stats"), "console.view_monitoring")
    assert refused(as_clerk.get("/api/admin/logs"), "console.view_monitoring")
    assert Provider.objects.count() == 1


def test_is_staff_alone_gets_no_backup_and_no_restore(as_clerk: Client, settings) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert refused(as_clerk.get("/api/admin/backup"), "console.manage_backups")
    assert refused(as_clerk.get("/api/admin/backups"), "console.manage_backups")
    upload = SimpleUploadedFile("evil.db", b"SQLite format 3\x00")
    assert refused(as_clerk.post("/api/admin/restore", {"file": upload}), "manage_backups")
    assert refused(as_clerk.post("/api/admin/providers/restore"), "console.manage_backups")
    assert as_clerk.get("/admin/backups/").status_code == 403
    assert as_clerk.post("/admin/backups/create/").status_code == 403
    assert as_clerk.post("/admin/backups/restore-providers/").status_code == 403
    folder = settings.DATA_DIR / "backups"
    assert not folder.exists() or not any(folder.iterdir())  # nothing written, nothing swapped


def test_is_staff_alone_opens_no_admin_model_page(as_clerk: Client, openai: Provider) -> None:
    assert as_clerk.get("/admin/").status_code == 200  # the index, with nothing on it
    for page in (
        "/admin/providers/provider/",
        f"/admin/providers/provider/{openai.pk}/change/",
        "/admin/chat/apikey/",
        "/admin/chat/apikey/add/",
        "/admin/routing/route/",
        "/admin/auth/user/",
    ):
        assert as_clerk.get(page).status_code == 403, page
    assert b"/admin/backups/" not in as_clerk.get("/admin/").content


def test_the_console_pages_follow_permissions_too(as_clerk: Client, clerk) -> None:  # type: ignore[no-untyped-def]
    assert as_clerk.get("/status/").status_code == 302  # to the login page
    grant(clerk, "providers.view_provider")
    assert as_clerk.get("/status/").status_code == 200


# --- each method its own action -------------------------------------------------------


def test_view_permission_reads_but_does_not_write(
    as_clerk: Client, clerk: Any, openai: Provider
) -> None:
    grant(clerk, "providers.view_provider")
    assert as_clerk.get("/api/providers").status_code == 200
    assert as_clerk.get(f"/api/providers/{openai.pk}").status_code == 200
    assert "sk-stored" not in as_clerk.get("/api/providers").content.decode()
    body = json.dumps({"name": "x", "base_url": "http://127.0.0.1:9/v1"})
    assert refused(as_clerk.post("/api/providers", body, JSON), "providers.add_provider")
    patch = as_clerk.patch(f"/api/providers/{openai.pk}", '{"is_active": false}', JSON)
    assert refused(patch, "providers.change_provider")
    health = as_clerk.patch(f"/api/providers/{openai.pk}/health", '{"is_healthy": false}', JSON)
    assert refused(health, "providers.change_provider")
    assert refused(as_clerk.delete(f"/api/providers/{openai.pk}"), "providers.delete_provider")
    grant(clerk, "providers.delete_provider")
    assert as_clerk.delete(f"/api/providers/{openai.pk}").status_code == 204


def test_change_permission_covers_patch_test_and_health(
    as_clerk: Client, clerk: Any, openai: Provider
) -> None:
    grant(clerk, "providers.change_provider")
    assert (
        as_clerk.patch(f"/api/providers/{openai.pk}", '{"is_active": false}', JSON).json()[
            "is_active"
        ]
        is False
    )
    health = as_clerk.patch(f"/api/providers/{openai.pk}/health", '{"is_healthy": false}', JSON)
    assert health.status_code == 200
    assert as_clerk.post(f"/api/providers/{openai.pk}/test").status_code == 200
    direct = json.dumps({"base_url": "http://127.0.0.1:9/v1", "api_key": "k", "models": []})
    assert as_clerk.post("/api/providers/test-direct", direct, JSON).status_code == 200
    assert refused(as_clerk.get("/api/providers"), "providers.view_provider")


def test_routes_need_route_and_node_permissions(as_clerk: Client, clerk: Any) -> None:
    route = json.dumps({"name": "fast", "mode": "auto", "nodes": []})
    grant(clerk, "routing.view_route", "routing.view_routenode")
    assert as_clerk.get("/api/model-routes").status_code == 200
    assert refused(as_clerk.post("/api/model-routes", route, JSON), "routing.add_route")
    grant(clerk, "routing.add_route")
    assert refused(as_clerk.post("/api/model-routes", route, JSON), "routing.add_routenode")
    grant(clerk, "routing.add_routenode")
    assert as_clerk.post("/api/model-routes", route, JSON).status_code == 201
    assert Route.objects.filter(name="fast").exists()


def test_the_catalog_needs_modelinfo_permissions(as_clerk: Client, clerk: Any) -> None:
    grant(clerk, "providers.view_modelinfo")
    assert as_clerk.get("/api/models").status_code == 200
    assert refused(as_clerk.post("/api/models/sync"), "providers.change_modelinfo")
    grant(clerk, "providers.change_modelinfo")
    assert as_clerk.post("/api/models/sync").status_code == 200


def test_manage_backups_opens_backups_and_restores(as_clerk: Client, clerk: Any) -> None:
    grant(clerk, "console.manage_backups")
    assert as_clerk.get("/api/admin/backups").status_code == 200
    assert as_clerk.get("/admin/backups/").status_code == 200
    assert b"/admin/backups/" in as_clerk.get("/admin/").content
    bad = as_clerk.post("/api/admin/providers/restore")  # no config_backup.json yet
    assert bad.status_code == 400 and "Restore refused" in bad.json()["detail"]
    assert refused(as_clerk.get("/api/admin/stats"), "console.view_monitoring")


@pytest.mark.django_db(transaction=True)
def test_manage_backups_downloads_a_fresh_backup(as_clerk: Client, clerk: Any) -> None:
    grant(clerk, "console.manage_backups")
    response = as_clerk.get("/api/admin/backup")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


def test_view_monitoring_opens_stats_and_logs(as_clerk: Client, clerk: Any) -> None:
    grant(clerk, "console.view_monitoring")
    assert as_clerk.get("/api/admin/stats").status_code == 200
    assert as_clerk.get("/api/admin/logs").status_code == 200


# --- operators --------------------------------------------------------------------------


def test_a_superuser_gets_everything(as_staff: Client, openai: Provider) -> None:
    assert as_staff.get("/api/providers").status_code == 200
    assert as_staff.post(f"/api/providers/{openai.pk}/test").status_code == 200
    assert as_staff.get("/api/admin/backups").status_code == 200
    assert as_staff.get("/api/admin/stats").status_code == 200
    assert as_staff.get("/admin/backups/").status_code == 200
    assert as_staff.get("/admin/providers/provider/").status_code == 200


def test_an_admin_key_is_an_operator_key(api: Client, openai: Provider) -> None:
    assert api.get("/api/providers").status_code == 200
    assert api.get("/api/admin/backups").status_code == 200
    assert api.get("/api/admin/logs").status_code == 200
    assert api.post("/api/models/sync").status_code == 200


def test_a_staff_account_loses_nothing_it_owns(as_clerk: Client, clerk: Any) -> None:
    """`is_staff` alone still has its own console data."""
    created = as_clerk.post("/api/sessions", json.dumps({"title": "mine"}), JSON)
    assert created.status_code == 201
    assert as_clerk.get("/api/sessions").json()["count"] == 1


# --- usage: everyone's with usage.view_usagelog, otherwise one's own ----------------------


def test_usage_shows_everyone_only_with_view_usagelog(
    as_clerk: Client, clerk: Any, alice: Any
) -> None:
    for user, request_id in ((alice, "alices"), (clerk, "clerks")):
        UsageLog.objects.create(request_id=request_id, source="console", user=user, status="ok")
    own = as_clerk.get("/api/usage").json()
    assert [row["request_id"] for row in own["items"]] == ["clerks"]
    assert as_clerk.get("/api/usage/summary").status_code == 200
    grant(clerk, "usage.view_usagelog")
    everyone = as_clerk.get("/api/usage").json()
    assert {row["request_id"] for row in everyone["items"]} == {"alices", "clerks"}


# --- shared profiles: console.<action>_profile --------------------------------------------


def test_shared_profiles_need_profile_permissions(as_clerk: Client, clerk: Any) -> None:
    shared = Profile.objects.create(name="house style")
    own = as_clerk.post("/api/profiles", json.dumps({"name": "mine"}), JSON)
    assert own.status_code == 201 and own.json()["shared"] is False
    body = json.dumps({"name": "for all", "shared": True})
    assert refused(as_clerk.post("/api/profiles", body, JSON), "console.add_profile")
    patch = as_clerk.patch(f"/api/profiles/{shared.pk}", '{"name": "mine now"}', JSON)
    assert refused(patch, "console.change_profile")
    assert refused(as_clerk.delete(f"/api/profiles/{shared.pk}"), "console.delete_profile")
    grant(clerk, "console.add_profile", "console.change_profile")
    assert as_clerk.post("/api/profiles", body, JSON).status_code == 201
    assert as_clerk.patch(f"/api/profiles/{shared.pk}", '{"name": "v2"}', JSON).status_code == 200
    assert refused(as_clerk.delete(f"/api/profiles/{shared.pk}"), "console.delete_profile")


def test_a_revoked_permission_takes_effect_on_the_next_request(
    as_clerk: Client, clerk: Any
) -> None:
    grant(clerk, "providers.view_modelinfo")
    ModelInfo.objects.all().delete()
    assert as_clerk.get("/api/models").status_code == 200
    clerk.user_permissions.clear()
    assert as_clerk.get("/api/models").status_code == 403


def test_admin_actions_need_change_permission(
    as_clerk: Client, clerk: Any, openai: Provider
) -> None:
    from chat.models import ApiKey

    ApiKey.issue("app")  # the admin offers actions only on a non-empty list
    grant(clerk, "providers.view_provider", "chat.view_apikey")
    providers = as_clerk.get("/admin/providers/provider/")
    assert providers.status_code == 200 and b"test_connection" not in providers.content
    assert b'value="revoke"' not in as_clerk.get("/admin/chat/apikey/").content
    grant(clerk, "providers.change_provider", "chat.change_apikey")
    assert b"test_connection" in as_clerk.get("/admin/providers/provider/").content
    assert b'value="revoke"' in as_clerk.get("/admin/chat/apikey/").content
