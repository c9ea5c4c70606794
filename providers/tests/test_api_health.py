from __future__ import annotations

import json

import pytest

from providers.models import Provider
from providers.tests.fake_upstream import FakeUpstream, closed_port_url

pytestmark = pytest.mark.django_db

KEY = "sk-api-health-SECRET-0987654321"


def make(base_url: str, name: str = "p", **extra: object) -> Provider:
    return Provider.objects.create(
        name=name, base_url=base_url, api_key=KEY, kind="openai", **extra
    )


def post(api, path: str, body: object = None):  # type: ignore[no-untyped-def]
    data = "" if body is None else json.dumps(body)
    return api.post(path, data, content_type="application/json")


def test_testing_a_provider_probes_it_and_saves_the_result(api, upstream, fast_health) -> None:
    provider = make(upstream.url("ok"))
    response = post(api, f"/api/providers/{provider.pk}/test")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"status", "status_code", "latency_ms", "detail"}
    assert (body["status"], body["status_code"]) == ("online", 200)
    provider.refresh_from_db()
    assert provider.status == "online"
    assert provider.last_tested_at is not None


def test_testing_a_failing_provider_answers_200_with_the_failure(
    api, upstream: FakeUpstream, fast_health
) -> None:
    provider = make(upstream.url("unauthorized"))
    response = post(api, f"/api/providers/{provider.pk}/test")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["status_code"] == 401
    assert KEY not in response.content.decode()
    provider.refresh_from_db()
    assert provider.consecutive_failures == 1


def test_testing_an_unknown_provider_is_404(api) -> None:
    assert post(api, "/api/providers/424242/test").status_code == 404


def test_test_direct_probes_without_saving_anything(api, upstream, fast_health) -> None:
    body = {"base_url": upstream.url("ok"), "api_key": KEY, "models": ["gpt-4o-mini"]}
    response = post(api, "/api/providers/test-direct", body)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "online"
    assert upstream.seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert not Provider.objects.exists()
    assert KEY not in response.content.decode()


def test_test_direct_honours_the_kind(api, upstream, fast_health) -> None:
    body = {"base_url": upstream.url("ok"), "api_key": KEY, "models": [], "kind": "anthropic"}
    assert post(api, "/api/providers/test-direct", body).json()["status"] == "online"
    assert upstream.seen[0].headers["x-api-key"] == KEY


def test_test_direct_reports_an_unreachable_server(api, fast_health) -> None:
    body = {"base_url": closed_port_url(), "api_key": KEY, "models": []}
    response = post(api, "/api/providers/test-direct", body)
    assert response.json()["status"] == "unreachable"


@pytest.mark.parametrize("base_url", ["ftp://example.com/v1", "file:///etc/passwd", "nohost"])
def test_test_direct_rejects_a_non_http_url_naming_the_field(api, base_url: str) -> None:
    response = post(api, "/api/providers/test-direct", {"base_url": base_url, "api_key": "x"})
    assert response.status_code == 422
    assert "base_url" in response.json()["detail"]


def test_test_direct_without_a_body_is_a_clear_4xx(api) -> None:
    response = post(api, "/api/providers/test-direct")
    assert 400 <= response.status_code < 500


def test_a_chat_key_cannot_test_providers(client, chat_key) -> None:
    response = client.post(
        "/api/providers/test-direct",
        json.dumps({"base_url": "http://127.0.0.1:9/v1"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {chat_key}",
    )
    assert response.status_code == 403


def test_the_manual_override_marks_unhealthy_until_the_next_probe(
    api, upstream, fast_health
) -> None:
    provider = make(upstream.url("ok"), consecutive_failures=2)
    response = api.patch(
        f"/api/providers/{provider.pk}/health",
        json.dumps({"is_healthy": False}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_healthy"] is False
    assert response.json()["consecutive_failures"] == 0
    provider.refresh_from_db()
    assert provider.is_healthy is False

    post(api, f"/api/providers/{provider.pk}/test")  # the next probe decides again
    provider.refresh_from_db()
    assert provider.is_healthy is True


def test_the_manual_override_to_healthy_resets_failures_and_cooldown(api, fast_health) -> None:
    provider = make("http://127.0.0.1:9/v1", is_healthy=False, consecutive_failures=7)
    Provider.objects.filter(pk=provider.pk).update(cooldown_until="2999-01-01T00:00:00Z")
    response = api.patch(
        f"/api/providers/{provider.pk}/health",
        json.dumps({"is_healthy": True}),
        content_type="application/json",
    )
    assert response.json()["is_healthy"] is True
    provider.refresh_from_db()
    assert (provider.consecutive_failures, provider.cooldown_until) == (0, None)


def test_a_bad_override_body_names_the_field(api) -> None:
    provider = make("http://127.0.0.1:9/v1")
    response = api.patch(
        f"/api/providers/{provider.pk}/health",
        json.dumps({"is_healthy": "maybe"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "is_healthy" in response.json()["detail"]


def test_overriding_an_unknown_provider_is_404(api) -> None:
    response = api.patch(
        "/api/providers/424242/health",
        json.dumps({"is_healthy": True}),
        content_type="application/json",
    )
    assert response.status_code == 404


def test_the_admin_action_tests_the_connection_and_shows_the_result(
    client, staff, upstream, fast_health
) -> None:
    good = make(upstream.url("ok"), name="good")
    bad = make(upstream.url("broken"), name="bad")
    client.force_login(staff)
    response = client.post(
        "/admin/providers/provider/",
        {"action": "test_connection", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Good: online" in page  # the admin capitalizes messages
    assert "Bad: degraded" in page
    assert KEY not in page
    good.refresh_from_db()
    assert good.last_tested_at is not None
